// The JSON a tool prints (`nft -j`, `ip -j`), checked against the shape dockgate reads before
// anything reads it: a malformed answer is one message naming the command and the place, not a
// TypeError deep in a parser.
import type { z } from 'zod';
import type { Result } from '../model/result.js';
import { errorMessage } from './errors.js';

/** `nftables[3].chain.handle` for zod's path ['nftables', 3, 'chain', 'handle']. */
function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out === '' ? '' : '.'}${String(p)}`;
  return out || 'the top level';
}

/**
 * Parses `text` as `command` printed it and checks it against `schema`. `empty` stands in for
 * an empty answer (several tools print nothing at all for an empty list).
 */
export function readJsonOutput<S extends z.ZodType>(text: string, schema: S, command: string, empty: unknown): Result<z.output<S>> {
  let data: unknown;
  try {
    data = text.trim() === '' ? empty : JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `${command} printed something that is not JSON: ${errorMessage(err)}` };
  }
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0];
  return { ok: false, error: `${command} printed unexpected JSON at ${pathText(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}` };
}
