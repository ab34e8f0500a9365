// What dockgate names but leaves alone (kernel-state.ts finds it): its shape, and how it is told
// in logs, status and doctor.
import type { Family } from '../model/types.js';

interface ForeignCommon {
  table: string;
  /** The chain holding the rule; for a whole chain, that chain. */
  chain: string;
  /** The dockgate chain it jumps to (or the chain itself). */
  target: string;
}

/** A rule dockgate did not write that jumps into a dockgate chain. */
export interface ForeignJump extends ForeignCommon {
  kind: 'rule';
  /** The rule line as iptables-save prints it after `-A CHAIN`. */
  line: string;
  why: 'admin-jump' | 'unmanaged-table';
}

/** A whole chain of dockgate's name in a table dockgate does not manage. */
export interface ForeignChain extends ForeignCommon {
  kind: 'chain';
  why: 'unmanaged-table';
}

/**
 * Something dockgate did not write and leaves alone, but names: an admin's own rule jumping into
 * a dockgate chain, or a chain of dockgate's name (or a jump to one) in a table dockgate does not manage.
 */
export type ForeignRule = ForeignJump | ForeignChain;

/** One line for logs and status. */
export function describeForeign(f: ForeignRule): string {
  if (f.kind === 'chain') return `${f.table} ${f.chain}: a dockgate chain in the ${f.table} table, which dockgate does not manage; left alone`;
  if (f.why === 'unmanaged-table') return `${f.table} ${f.chain}: ${f.line} (in the ${f.table} table, which dockgate does not manage); left alone`;
  return `${f.table} ${f.chain}: ${f.line} (not written by dockgate); left alone, and ${f.target} is kept while it jumps there`;
}

/** A foreign rule as `status --json` and the drift-reported log write it. */
export interface ForeignJson {
  table: string;
  chain: string;
  /** `""` for a whole chain, as these outputs always wrote it. */
  line: string;
  target: string;
  why: ForeignRule['why'];
  family?: Family;
}

export function foreignJson(f: ForeignRule & { family?: Family }): ForeignJson {
  const family = f.family === undefined ? {} : { family: f.family };
  return { table: f.table, chain: f.chain, line: f.kind === 'rule' ? f.line : '', target: f.target, why: f.why, ...family };
}
