// The DNS names of egress allow-lists, kept in their ipsets while the daemon runs: the sets are
// created before a write whose rules match on them, filled from each answer as it comes (one
// small `ipset restore`, no rule rewritten), repaired on the full check like the chains, and
// destroyed once no rule matches on them.
import type { Logger } from 'pino';
import type { CommandQueue } from '../dataplane/command-queue.js';
import { IpsetError, Ipsets, type SetState } from '../dataplane/ipset.js';
import { type Lookup, NameResolver, type NameStatus, dnsLookup } from '../egress/resolver.js';
import type { EgressSet, Family, RuleSet } from '../model/types.js';
import type { EgressSnapshot } from '../metrics/metrics.js';
import { errorMessage } from '../util/errors.js';

export interface EgressSyncOptions {
  queue: CommandQueue;
  log: Logger;
  /** egress.dns_grace_s. */
  graceS: number;
  /** Tests: answers without a DNS server. */
  lookup?: Lookup;
  ipsets?: IpsetWriter;
}

/** What this needs of the kernel's sets (dataplane/ipset.ts). */
export type IpsetWriter = Pick<Ipsets, 'read' | 'ensure' | 'add' | 'addMany' | 'removeOthers'>;

/** Answers arriving within this long are written together, in one `ipset restore`. */
const BATCH_MS = 20;

/** What metrics and status read of the names. */
export interface EgressCounters {
  resolutions: number;
  failures: number;
}

export class EgressSync {
  readonly #log: Logger;
  readonly #ipsets: IpsetWriter;
  readonly #resolver: NameResolver;
  #servers: readonly string[] = [];
  #serversSet = false;
  /** The sets the last written plan matches on, by `name family`. */
  #wanted = new Map<string, EgressSet>();
  /** The sets last made sure of, and the last set list nothing else was left beside. */
  #ensured: string | undefined;
  #cleaned: string | undefined;
  /** Whether any plan of this run listed a name: sets left by an earlier run go with `dockgate flush`. */
  #active = false;
  /** The last failure logged per name, so a lasting one is one line. */
  readonly #reported = new Map<string, string>();
  readonly counters: EgressCounters = { resolutions: 0, failures: 0 };
  /** Until when (ms) the kernel keeps each `set address` dockgate wrote, and the writes waiting. */
  readonly #written = new Map<string, number>();
  readonly #pending = new Map<string, { set: string; address: string; keepS: number; name: string }>();
  /** The `set address` keys of the batch being written now: on their way, like the pending ones. */
  readonly #writing = new Set<string>();
  /** What the full check's repair read of the sets, for its removal of unused ones (one `ipset save` per check). */
  #repairRead: ReadonlyMap<string, SetState> | undefined;
  #batch: NodeJS.Timeout | undefined;
  /**
   * False once ipset turned out not to be installed: the next plan leaves the names out (each
   * allows nothing, with a warning) instead of every write failing on a missing set.
   */
  available = true;

  constructor(o: EgressSyncOptions) {
    this.#log = o.log;
    this.#ipsets = o.ipsets ?? new Ipsets(o.queue);
    this.#resolver = new NameResolver({
      graceS: o.graceS,
      lookup: o.lookup ?? dnsLookup(() => this.#servers),
      events: {
        onAnswer: (name, family, addresses) => {
          this.counters.resolutions++;
          if (this.#reported.delete(name)) this.#log.info({ event: 'egress-name-resolved', name }, `egress name ${name} resolves again`);
          const set = this.#wanted.get(`${name} ${family}`);
          if (!set) return;
          // An address the kernel still keeps for more than half its time needs no write yet: at
          // rest, a name costs a write per half of TTL + grace, not one per refresh.
          const now = Date.now();
          const due = addresses.filter((a) => (this.#written.get(`${set.set} ${a.address}`) ?? 0) - now < (a.keepS * 1000) / 2);
          for (const a of due) this.#pending.set(`${set.set} ${a.address}`, { set: set.set, address: a.address, keepS: a.keepS, name });
          if (due.length > 0) this.#batch ??= setTimeout(() => void this.#flush(), BATCH_MS);
        },
        onFailure: (name, reason) => {
          this.counters.failures++;
          if (this.#reported.get(name) === reason) return;
          this.#reported.set(name, reason);
          this.#log.warn({ event: 'egress-name-unresolved', name, reason }, `egress name ${name} does not resolve (${reason}): it allows nothing new, retrying with backoff`);
        },
      },
    });
  }

  async #flush(): Promise<void> {
    this.#batch = undefined;
    const members = [...this.#pending.values()];
    this.#pending.clear();
    const now = Date.now();
    const keys = members.map((m) => `${m.set} ${m.address}`);
    for (const k of keys) this.#writing.add(k);
    try {
      await this.#ipsets.addMany(members);
      for (const m of members) this.#written.set(`${m.set} ${m.address}`, now + m.keepS * 1000);
      this.#log.debug({ event: 'egress-name-answer', names: [...new Set(members.map((m) => m.name))], addresses: members.map((m) => m.address) }, `egress names: ${members.length} address(es) written`);
    } catch (err) {
      // Not marked written: the next answer writes them again.
      this.#log.error({ event: 'egress-set-write-failed', names: [...new Set(members.map((m) => m.name))], err: errorMessage(err) }, `cannot write egress name sets: ${errorMessage(err)}`);
    } finally {
      for (const k of keys) this.#writing.delete(k);
    }
  }

  /** The nameservers dockgate asks (resolv.conf); a change asks every name again. */
  setServers(servers: readonly string[]): void {
    if (this.#serversSet && servers.join() === this.#servers.join()) return;
    // The first list is the one the names are first asked with (setNames), not a change.
    const first = !this.#serversSet;
    this.#serversSet = true;
    this.#servers = [...servers];
    // None (resolv.conf gone): nobody to ask; the addresses kept age out as usual.
    if (!first && servers.length > 0) this.#resolver.refreshAll();
  }

  /**
   * Before the rules are written: every set they match on exists (iptables-restore refuses a rule
   * naming a missing set). On a repair, a set emptied behind dockgate's back gets back every
   * address still allowed, with the time it has left.
   */
  async beforeWrite(plan: RuleSet, repair: boolean): Promise<void> {
    const sets = plan.egressSets ?? [];
    // Until a plan lists a name, no ipset process runs at all (hosts without names, or without ipset).
    if (sets.length > 0) this.#active = true;
    if (!this.#active) return;
    const key = sets.map((s) => s.set).join();
    // A sync with the same sets costs no process. A full check reads the kernel's sets first and
    // creates only those it lacks: at rest, none, and no `ipset restore` runs.
    let have: ReadonlyMap<string, SetState> | undefined;
    try {
      const read = repair && sets.length > 0 ? await this.#ipsets.read() : undefined;
      have = read;
      const create = read !== undefined ? sets.filter((s) => read.get(s.set)?.family !== s.family) : key !== this.#ensured ? sets : [];
      if (create.length > 0) await this.#ipsets.ensure(create);
    } catch (err) {
      if (err instanceof IpsetError && err.missing) {
        this.available = false;
        this.#log.error({ event: 'egress-ipset-missing', err: errorMessage(err) }, 'egress allow-lists name DNS names but ipset is not installed (apt-get install ipset): those names allow nothing');
      }
      throw err;
    }
    this.#ensured = key;
    this.#wanted = new Map(sets.map((s) => [`${s.name} ${s.family}`, s]));
    this.#resolver.setNames(new Set(sets.map((s) => s.name)));
    this.#repairRead = have;
    if (have === undefined) return;
    await this.#repair(sets, have);
  }

  /**
   * Puts back what the kernel's sets lost. Lost is only what dockgate wrote and the kernel should
   * still hold: an answer waiting for its batch, or in the batch being written, is on its way (the
   * first fill after a reload that lists new names is all such), and is left to that write.
   */
  async #repair(sets: readonly EgressSet[], have: ReadonlyMap<string, SetState>): Promise<void> {
    const now = Date.now();
    for (const s of sets) {
      const held = have.get(s.set)?.members;
      const key = (m: { address: string }): string => `${s.set} ${m.address}`;
      const missing = this.#resolver.members(s.name, s.family).filter((m) => !held?.has(m.address));
      const lost = missing.filter((m) => (this.#written.get(key(m)) ?? 0) > now);
      if (lost.length > 0) {
        this.#log.warn({ event: 'egress-set-repaired', set: s.set, name: s.name, addresses: lost.map((m) => m.address) }, `${s.set} (${s.name}) had lost ${lost.length} address(es); put back`);
      }
      // Besides the lost, what the kernel was never given (or kept for as long as it was given).
      const put = missing.filter((m) => !this.#pending.has(key(m)) && !this.#writing.has(key(m)));
      if (put.length === 0) continue;
      await this.#ipsets.add(s.set, put);
      for (const m of put) this.#written.set(key(m), Date.now() + m.keepS * 1000);
    }
  }

  /** After the rules are written: sets no rule matches on any more are destroyed. */
  async afterWrite(plan: RuleSet, repair: boolean): Promise<void> {
    if (!this.#active) return;
    const keep = new Set((plan.egressSets ?? []).map((s) => s.set));
    const key = [...keep].join();
    // Only when the sets changed (or on the full check): no process per drift check.
    if (key === this.#cleaned && !repair) return;
    try {
      // Between the repair's read and here only dockgate wrote (the rules); a set someone made
      // meanwhile waits for the next full check.
      const read = repair ? this.#repairRead : undefined;
      this.#repairRead = undefined;
      const gone = await this.#ipsets.removeOthers(keep, read);
      for (const key of this.#written.keys()) if (!keep.has(key.split(' ')[0]!)) this.#written.delete(key);
      this.#cleaned = key;
      if (gone.length > 0) this.#log.debug({ event: 'egress-sets-removed', sets: gone }, `removed ${gone.length} unused egress set(s)`);
    } catch (err) {
      // Still referenced (a rule not yet gone) or ipset missing: the next sync tries again.
      this.#log.debug({ event: 'egress-sets-kept', err: errorMessage(err) }, `unused egress sets kept for now: ${errorMessage(err)}`);
    }
  }

  /** Each name's current addresses and problem, for status and metrics. */
  names(): NameStatus[] {
    return this.#resolver.status();
  }

  /** How many addresses each set holds now (per the resolver's memory). */
  sizes(): Array<{ set: string; name: string; family: Family; size: number }> {
    return [...this.#wanted.values()].map((s) => ({ set: s.set, name: s.name, family: s.family, size: this.#resolver.members(s.name, s.family).length }));
  }

  /** What metrics read at each scrape. */
  snapshot(): EgressSnapshot {
    return { ...this.counters, sets: this.sizes() };
  }

  stop(): void {
    clearTimeout(this.#batch);
    this.#resolver.stop();
  }
}
