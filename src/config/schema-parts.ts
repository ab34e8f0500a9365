// The building blocks of the config schema: strict sections, integer ranges, patterns. Each carries
// its own "expected ..." wording, so every error names what the key wants and what it got.
import { z } from 'zod';

/** A value as an admin would recognise it in an error message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') {
    const cut = v.length > 60 ? `${v.slice(0, 60)}...` : v;
    return JSON.stringify(cut);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (v instanceof Date) return `a date (${v.toISOString()}; quote it to make it a string)`;
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

type IssueLike = { input?: unknown };
export const expecting = (what: string) => (iss: IssueLike) => `expected ${what}, got ${describeValue(iss.input)}`;
export const quoted = (values: readonly string[]) =>
  values.length === 2
    ? `"${values[0]}" or "${values[1]}"`
    : `one of ${values.map((v) => `"${v}"`).join(', ')}`;

/** A strict mapping whose unknown-key error lists the keys it knows. `name` is its dotted path. */
export function section<S extends z.ZodRawShape>(name: string, shape: S) {
  const known = Object.keys(shape).join(', ');
  const where = name === '' ? 'at the top level' : `under ${name}`;
  return z
    .object(shape, {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `unknown key (known keys ${where}: ${known})`
          : `expected a mapping of ${name || 'settings'}, got ${describeValue(iss.input)}`,
    })
    .strict();
}

/** A section left empty in YAML (`sync:` with every sub-key commented out) means all its defaults. */
export const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);

export const intRange = (min: number, max: number) =>
  z.number({ error: expecting(`an integer from ${min} to ${max}`) }).int().min(min).max(max);

export const withPattern = (re: RegExp, what: string) => z.string({ error: expecting(what) }).regex(re);
