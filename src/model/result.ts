// The one shape of "a value, or why not" across dockgate: parsers of labels, addresses, routes,
// config values and state files all answer with it, so a caller tests `ok` and reads `value` or
// `error` the same way everywhere.

export type Result<T, E = string> = { ok: true; value: T } | { ok: false; error: E };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

export const fail = <E = string>(error: E): { ok: false; error: E } => ({ ok: false, error });
