// The one packet-mark bit dockgate sets on what its filter chains accept (see src/plan/marks.ts).
// A branded number, so that a mark value or mask read from someone else's rule can never be
// passed where dockgate's own bit is meant.
import type { Result } from './result.js';

export type MarkBit = number & { readonly __markBit: unique symbol };

/** Bit 24: the default of `foreign_chains_mark` (why this one: src/plan/marks.ts). */
export const DEFAULT_MARK_BIT = 0x01000000 as MarkBit;

/** All 32 bits: the mask of a test or write that names no mask. */
export const FULL_MASK = 0xffffffff;

/** `0x01000000`: how the config, the README and the logs spell a bit. */
export const hexMark = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** Short hex, as iptables-save and `ip rule` print marks. */
export const shortHex = (n: number): string => `0x${n.toString(16)}`;

export const MARK_BIT_EXPECTED = `exactly one bit of the 32-bit packet mark, such as ${hexMark(DEFAULT_MARK_BIT)}`;

/**
 * `foreign_chains_mark` as written: a YAML integer (`0x01000000` is one) or a string of hex
 * (`"0x01000000"`) or decimal digits. More than one bit would make dockgate's accept match
 * packets another tool marked with only some of them.
 */
export function parseMarkBit(v: unknown): Result<MarkBit> {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^0x[0-9a-f]{1,16}$/i.test(v)) n = Number.parseInt(v.slice(2), 16);
  else if (typeof v === 'string' && /^[0-9]{1,20}$/.test(v)) n = Number(v);
  const shown = typeof v === 'string' ? JSON.stringify(v) : String(v);
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) return { ok: false, error: `expected ${MARK_BIT_EXPECTED}, got ${shown}` };
  const hex = shortHex(n);
  if (n === 0) return { ok: false, error: `${hex} has no bit set: expected ${MARK_BIT_EXPECTED}` };
  if (n > FULL_MASK) return { ok: false, error: `${hex} is wider than the 32-bit packet mark: expected ${MARK_BIT_EXPECTED}` };
  // n & (n - 1) clears the lowest set bit; what stays is every other one. (>>> 0: bit 31 is negative in JS bitwise.)
  if (((n & (n - 1)) >>> 0) !== 0) return { ok: false, error: `${hex} has more than one bit set: expected ${MARK_BIT_EXPECTED}` };
  return { ok: true, value: n as MarkBit };
}

/**
 * Does a test or write of the packet (or connection) mark with this mask and value concern the
 * bit? A partial mask does when it covers the bit; a whole-mark one (`fwmark 0xca6c`, `--set-mark
 * 1337`, no mask given) only when its value has the bit: it compares or replaces a whole value,
 * which no choice of bit keeps out of, so it is not a user of this one.
 */
export function concernsBit(mask: number, value: number, bit: MarkBit): boolean {
  const m = mask >>> 0;
  if (m === FULL_MASK) return ((value >>> 0) & bit) !== 0;
  return (m & bit) !== 0;
}
