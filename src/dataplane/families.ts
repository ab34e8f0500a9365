// Both address families behind one dataplane: the plan's IPv4 rules go through iptables, its
// IPv6 rules through ip6tables, each with its own memory of what it wrote, through the same
// command queue. A host without IPv6 has only the first.
import type { Family, RuleSet, Table } from '../model/types.js';
import type { DriftReport } from '../plan/kernel-state.js';
import { familyRuleSet } from '../plan/ruleset.js';
import { access } from 'node:fs/promises';
import { type CommandQueue, failureMessage, succeeded } from './command-queue.js';
import { Dataplane, type FlushResult, type SyncResult } from './dataplane.js';
import { Iptables, type IptablesOptions } from './iptables.js';
import { probeTable } from './kernel-limits.js';
import { errorMessage } from '../util/errors.js';

/** A config's iptables section: the programs of both families. */
export type FamilyIptablesOptions = IptablesOptions & { ip6RestoreCommand: string; ip6SaveCommand: string };

/** The ip6tables programs of a config's iptables section. */
export function ip6tablesOptions(o: FamilyIptablesOptions): IptablesOptions {
  return { restoreCommand: o.ip6RestoreCommand, saveCommand: o.ip6SaveCommand, waitSeconds: o.waitSeconds };
}

/** Each family's iptables on one queue, IPv6 only when the host has it: the one place they are made. */
export function familyIptables(queue: CommandQueue, o: FamilyIptablesOptions, ipv6: boolean): { v4: Iptables; v6: Iptables | undefined } {
  return { v4: new Iptables(queue, o), v6: ipv6 ? new Iptables(queue, ip6tablesOptions(o), 6) : undefined };
}

/** familyIptables for one-shot commands, which take the host's IPv6 as it is now. */
export async function probedIptables(queue: CommandQueue, o: FamilyIptablesOptions): Promise<{ v4: Iptables; v6: Iptables | undefined }> {
  return familyIptables(queue, o, await probeIpv6(queue, ip6tablesOptions(o)));
}

/** Both families' dataplanes for a config's iptables section. */
export function makeDataplanes(queue: CommandQueue, o: FamilyIptablesOptions, ipv6: boolean): FamilyDataplanes {
  const { v4, v6 } = familyIptables(queue, o, ipv6);
  return new FamilyDataplanes(new Dataplane(v4), v6 ? new Dataplane(v6) : undefined);
}

/**
 * Whether IPv6 rules can and must be written. `absent`: the kernel has no IPv6 (a host booted with
 * ipv6.disable=1 has no /proc/sys/net/ipv6), which lasts until a reboot; `unreadable`:
 * ip6tables-save did not answer, which may pass (the xtables lock held at boot, a module still
 * loading), so the daemon asks again.
 */
export type Ipv6Probe = { kind: 'available' } | { kind: 'absent' } | { kind: 'unreadable'; reason: string };

export async function probeIpv6Support(queue: CommandQueue, options: IptablesOptions, procSys = '/proc/sys'): Promise<Ipv6Probe> {
  try {
    await access(`${procSys}/net/ipv6`);
  } catch {
    return { kind: 'absent' };
  }
  try {
    const r = await queue.run(options.saveCommand, ['-t', 'filter']);
    if (succeeded(r)) return { kind: 'available' };
    return { kind: 'unreadable', reason: failureMessage(options.saveCommand, r) };
  } catch (err) {
    return { kind: 'unreadable', reason: `${options.saveCommand}: ${errorMessage(err)}` };
  }
}

/** probeIpv6Support for one-shot commands, which take the answer as it is now. */
export async function probeIpv6(queue: CommandQueue, options: IptablesOptions, procSys = '/proc/sys'): Promise<boolean> {
  return (await probeIpv6Support(queue, options, procSys)).kind === 'available';
}

/** What the daemon needs of a dataplane (tests pass the single-family one directly). */
export interface SyncTarget {
  readonly restores: number;
  sync(plan: RuleSet): Promise<SyncResult>;
  repair(plan: RuleSet): Promise<SyncResult>;
}

function merge(results: Array<{ family: Family; result: SyncResult }>): SyncResult {
  const kinds = results.map((r) => r.result.kind);
  const kind = kinds.includes('full') ? 'full' : kinds.includes('diff') ? 'diff' : 'none';
  const tables = [...new Set(results.flatMap((r) => r.result.tables))] as Table[];
  const durationMs = results.reduce((n, r) => n + r.result.durationMs, 0);
  const reads = results.map((r) => r.result.readMs).filter((m): m is number => m !== undefined);
  const drifts = results.filter((r) => r.result.drift !== undefined);
  const out: SyncResult = { kind, tables, durationMs };
  if (reads.length > 0) out.readMs = reads.reduce((a, b) => a + b, 0);
  if (drifts.length > 0) out.drift = mergeDrift(drifts.map((r) => ({ family: r.family, drift: r.result.drift! })));
  return out;
}

/** One drift report of both families; IPv6 entries carry `family: 6`. */
export function mergeDrift(reports: ReadonlyArray<{ family: Family; drift: DriftReport }>): DriftReport {
  const tag = <T extends object>(family: Family, list: T[]): Array<T & { family?: Family }> => (family === 6 ? list.map((x) => ({ ...x, family })) : list);
  return {
    chains: reports.flatMap((r) => tag(r.family, r.drift.chains)),
    jumps: reports.flatMap((r) => tag(r.family, r.drift.jumps)),
    strays: reports.flatMap((r) => tag(r.family, r.drift.strays)),
    foreign: reports.flatMap((r) => tag(r.family, r.drift.foreign)),
    clean: reports.every((r) => r.drift.clean),
  };
}

/**
 * The real iptables programs behind a sync target, which the writers that share its command
 * queue (the footprint's marks and nft rules, the bridge table) use; undefined for a target that
 * is no real dataplane (the in-memory one of the daemon tests), so they write nothing there.
 */
export interface KernelAccess {
  v4: Iptables;
  v6?: Iptables;
}

export function kernelOf(target: SyncTarget | undefined): KernelAccess | undefined {
  const v4 = target instanceof FamilyDataplanes ? target.v4.iptables : target instanceof Dataplane ? target.iptables : undefined;
  if (!(v4 instanceof Iptables)) return undefined;
  const v6 = target instanceof FamilyDataplanes ? target.v6?.iptables : undefined;
  return v6 instanceof Iptables ? { v4, v6 } : { v4 };
}

/**
 * The families whose kernel refused the raw table, as the target's dataplanes last found
 * (Dataplane.rawMissing). None for targets that are not real dataplanes.
 */
export function rawMissingOf(target: SyncTarget | undefined): Family[] {
  if (target instanceof FamilyDataplanes) return [...(target.v4.rawMissing ? [4 as const] : []), ...(target.v6?.rawMissing ? [6 as const] : [])];
  if (target instanceof Dataplane) return target.rawMissing ? [target.iptables.family] : [];
  return [];
}

/**
 * The families whose kernel has no raw table, asked of the save commands (one-shot commands,
 * which write nothing and so cannot learn it from a refusal). A probe that cannot tell counts as
 * raw present: the plan then shows raw as the daemon first tries it.
 */
export async function probeRawMissing(dataplanes: FamilyDataplanes): Promise<Family[]> {
  const out: Family[] = [];
  for (const dp of [dataplanes.v4, dataplanes.v6]) {
    if (dp && (await probeTable(dp.iptables.queue, dp.iptables.options.saveCommand, 'raw')).kind === 'missing') out.push(dp.iptables.family);
  }
  return out;
}

/**
 * Hands what `previous` knows of the kernel to `next`, family by family (Dataplane.inherit).
 * True when every family of `next` got it, so that its first write is an ordinary one; a family
 * that did not (new programs, IPv6 just arrived) reads its kernel and rewrites what differs.
 */
export function handOver(previous: SyncTarget, next: SyncTarget): boolean {
  const families = (t: SyncTarget): { v4: Dataplane; v6: Dataplane | undefined } | undefined =>
    t instanceof FamilyDataplanes ? { v4: t.v4, v6: t.v6 } : t instanceof Dataplane ? { v4: t, v6: undefined } : undefined;
  const [from, to] = [families(previous), families(next)];
  if (!from || !to) return false;
  const v4 = to.v4.inherit(from.v4);
  const v6 = to.v6 === undefined || (from.v6 !== undefined && to.v6.inherit(from.v6));
  return v4 && v6;
}

export class FamilyDataplanes implements SyncTarget {
  constructor(
    readonly v4: Dataplane,
    /** Undefined on a host booted without IPv6. */
    readonly v6: Dataplane | undefined,
  ) {}

  get restores(): number {
    return this.v4.restores + (this.v6?.restores ?? 0);
  }

  #each(plan: RuleSet): Array<{ family: Family; dataplane: Dataplane; rules: RuleSet }> {
    const out: Array<{ family: Family; dataplane: Dataplane; rules: RuleSet }> = [{ family: 4, dataplane: this.v4, rules: familyRuleSet(plan, 4)! }];
    const v6 = familyRuleSet(plan, 6);
    if (this.v6 && v6) out.push({ family: 6, dataplane: this.v6, rules: v6 });
    return out;
  }

  /**
   * IPv4 first, then IPv6. A failure of either fails the sync (the daemon retries it); the
   * family that succeeded keeps what it wrote, the one that failed rereads the kernel next time.
   */
  async sync(plan: RuleSet): Promise<SyncResult> {
    const results: Array<{ family: Family; result: SyncResult }> = [];
    for (const { family, dataplane, rules } of this.#each(plan)) results.push({ family, result: await dataplane.sync(rules) });
    return merge(results);
  }

  async repair(plan: RuleSet): Promise<SyncResult> {
    const results: Array<{ family: Family; result: SyncResult }> = [];
    for (const { family, dataplane, rules } of this.#each(plan)) results.push({ family, result: await dataplane.repair(rules) });
    return merge(results);
  }

  async check(plan: RuleSet): Promise<Array<{ family: Family; drift: DriftReport }>> {
    const out: Array<{ family: Family; drift: DriftReport }> = [];
    for (const { family, dataplane, rules } of this.#each(plan)) out.push({ family, drift: await dataplane.check(rules) });
    return out;
  }

  async flushReport(options: { userChain?: boolean } = {}): Promise<Array<{ family: Family; result: FlushResult }>> {
    const out: Array<{ family: Family; result: FlushResult }> = [{ family: 4, result: await this.v4.flushReport(options) }];
    if (this.v6) out.push({ family: 6, result: await this.v6.flushReport(options) });
    return out;
  }
}
