// Keeps the kernel equal to the latest plan. Remembers what it last wrote so a change can be
// written as a small diff; forgets it whenever a write fails, so the next write starts from what
// the kernel really holds.
//
// A write spans tables: iptables-restore commits raw, nat and filter one after another, each
// atomically, so a failure in filter leaves raw and nat already changed. Forgetting what was
// written makes the next sync read the kernel and rewrite whatever table differs from the plan.
import type { RuleSet, Table } from '../model/types.js';
import { TABLES, USER } from '../plan/chains.js';
import { type DriftReport, type ForeignRule, IncompatibleTableError, type KernelState, compare, emptyTables, foreignRules, isManagedChain, pinnedChains } from '../plan/kernel-state.js';
import { renderDiff, renderFlush, renderFull } from '../plan/restore.js';
import { RestoreError, type Iptables } from './iptables.js';
import { probeTable, refusedTable } from './kernel-limits.js';

export interface SyncResult {
  kind: 'full' | 'diff' | 'none';
  tables: Table[];
  durationMs: number;
  /**
   * What the full sync found wrong before writing (absent for diffs, and after a failed write of
   * our own: finishing that is no one else's drift). Its `foreign` holds only the rules not
   * reported before, and `clean` is false while there is any, so that each is reported once.
   */
  drift?: DriftReport;
  /** How long reading the kernel (iptables-save) took: what paces the drift check. */
  readMs?: number;
}

export interface FlushResult {
  tables: Table[];
  /**
   * What flush left in place: admin rules jumping into dockgate chains (each such chain is kept,
   * emptied) and dockgate names in tables dockgate does not manage.
   */
  left: ForeignRule[];
}

const foreignKey = (f: ForeignRule): string => (f.kind === 'chain' ? `${f.table}\n${f.chain}` : `${f.table}\n${f.chain}\n${f.line}`);

/** The kernel refused the raw table: raised by a write, caught by the sync that made it. */
class RawRefused extends Error {}

/** The plan without what it has in raw, for a kernel that has no raw table. */
function withoutRaw(plan: RuleSet): RuleSet {
  return { ...plan, chains: plan.chains.filter((c) => c.table !== 'raw'), jumps: plan.jumps.filter((j) => j.table !== 'raw') };
}

/**
 * Whether two dataplanes write the same thing: the same tables, with the same save and restore
 * programs (and so backend) of the same family, through the same queue (and so namespace). The
 * lock wait may differ: it changes how a write waits, not what it finds. Programs are compared
 * by name, so the same binary by another path counts as another kernel (a needless reread only).
 */
function sameKernel(a: Dataplane, b: Dataplane): boolean {
  if (a.tables.join() !== b.tables.join()) return false;
  // The daemon tests' in-memory iptables has no queue: only itself is the same kernel.
  if (a.iptables === b.iptables) return true;
  const [x, y] = [a.iptables, b.iptables];
  return x.queue !== undefined && x.queue === y.queue && x.family === y.family && x.options.saveCommand === y.options.saveCommand && x.options.restoreCommand === y.options.restoreCommand;
}

export class Dataplane {
  #applied: RuleSet | undefined;
  #restores = 0;
  /** The last write failed, possibly after committing some tables. */
  #failed = false;
  /** Foreign rules already reported, so that a rule that stays is not reported every check. */
  #reported = new Set<string>();
  /** 'table/chain' of our chains an admin rule jumped to at the last read: a diff must not delete them. */
  #pinned: ReadonlySet<string> = new Set();
  /**
   * The kernel refused the raw table (dataplane/kernel-limits.ts): raw is left out of every
   * compare and write until a full check finds it again. Set by a refused write, not by a probe
   * up front, so an ordinary host pays nothing for it.
   */
  #rawMissing = false;

  /**
   * `tables`: what this dataplane owns and writes, the plan's raw, nat and filter by default; the
   * footprint's marks have one of their own for mangle (src/dataplane/footprint.ts), so every
   * table goes through the same read, compare, render, restore and forget-on-failure.
   */
  constructor(
    readonly iptables: Iptables,
    readonly tables: readonly Table[] = TABLES,
  ) {}

  /**
   * Takes over what `previous` knows of the kernel: a reload makes a new dataplane (new options),
   * and when both write the same tables with the same programs through the same queue, its first
   * write is then a diff like any other, not a read and rewrite of every table. Returns whether
   * it did; one that did not knows nothing, as before.
   */
  inherit(previous: Dataplane): boolean {
    if (!sameKernel(this, previous)) return false;
    this.#applied = previous.#applied;
    this.#failed = previous.#failed;
    this.#reported = new Set(previous.#reported);
    this.#pinned = previous.#pinned;
    this.#rawMissing = previous.#rawMissing;
    return true;
  }

  /** The kernel's state of this dataplane's tables (and, for the plan's, of every other table: foreign rules). */
  async #read(): Promise<KernelState> {
    if (this.tables.every((t) => TABLES.includes(t))) return this.iptables.save();
    const state: KernelState = new Map();
    // iptables-save leaves a table out until it has been used: asked by name, it shows it.
    for (const t of this.tables) for (const [name, s] of await this.iptables.save(t)) if (name === t) state.set(name, s);
    return state;
  }

  /**
   * Whether this family's kernel has no raw table, as the last write or full check found. The
   * daemon plans with it (PlanInput.rawMissing), so the drops raw would hold stand elsewhere.
   */
  get rawMissing(): boolean {
    return this.#rawMissing;
  }

  /** How many iptables-restore runs this dataplane has made. */
  get restores(): number {
    return this.#restores;
  }

  get applied(): RuleSet | undefined {
    return this.#applied;
  }

  async sync(plan: RuleSet): Promise<SyncResult> {
    const started = performance.now();
    try {
      return await this.#sync(plan, started);
    } catch (err) {
      // Nothing was committed (raw comes first, and legacy refuses it before any COMMIT): the
      // same plan again without raw, from what the kernel holds.
      if (err instanceof RawRefused) return this.#full(plan, started);
      throw err;
    }
  }

  async #sync(wanted: RuleSet, started: number): Promise<SyncResult> {
    if (this.#applied === undefined) return this.#full(wanted, started);
    const plan = this.#fit(wanted);
    const texts = renderDiff(this.#applied, plan, this.#pinned);
    if (texts.size === 0) {
      this.#applied = plan;
      return { kind: 'none', tables: [], durationMs: performance.now() - started };
    }
    await this.#write(texts);
    this.#applied = plan;
    return { kind: 'diff', tables: [...texts.keys()], durationMs: performance.now() - started };
  }

  /** Reads the kernel, compares with the plan, rewrites only the tables that differ. */
  async repair(plan: RuleSet): Promise<SyncResult> {
    const started = performance.now();
    try {
      return await this.#full(plan, started);
    } catch (err) {
      if (err instanceof RawRefused) return this.#full(plan, started);
      throw err;
    }
  }

  #fit(plan: RuleSet): RuleSet {
    return this.#rawMissing ? withoutRaw(plan) : plan;
  }

  async check(plan: RuleSet): Promise<DriftReport> {
    return compare(plan, await this.#read(), this.tables);
  }

  /**
   * Removes every dockgate chain and jump. On the nft backend, tables left with nothing in them
   * (dockgate created them) are deleted too, so iptables-save reads as before dockgate ran.
   */
  async flush(): Promise<Table[]> {
    return (await this.flushReport()).tables;
  }

  /** flush, saying what it left in place and why. */
  async flushReport(options: { userChain?: boolean } = {}): Promise<FlushResult> {
    const state = await this.#read();
    const texts = new Map(renderFlush(state, this.tables));
    // DOCKGATE-USER holds the admin's rules (fail2ban bans): only an explicit --user-chain drops it,
    // and only once nothing jumps to it any more (dockgate's own jumps go with its chains).
    const user = state.get('filter')?.chains;
    if (options.userChain && user?.has(USER)) {
      const referenced = [...user].some(([chain, rules]) => !isManagedChain(chain) && rules.some((r) => r.endsWith(`-j ${USER}`)));
      if (!referenced) {
        const filter = texts.get('filter') ?? '*filter\nCOMMIT\n';
        texts.set('filter', filter.replace(/COMMIT\n$/, `-F ${USER}\n-X ${USER}\nCOMMIT\n`));
      }
    }
    await this.#write(texts);
    this.#applied = undefined;
    if (texts.size > 0 && (await this.iptables.backend()) === 'nf_tables') {
      for (const table of emptyTables(await this.#read())) {
        if (this.tables.includes(table)) await this.iptables.dropTable(table);
      }
    }
    return { tables: [...texts.keys()], left: foreignRules(state, this.tables) };
  }

  /**
   * Drift is measured against what we last wrote, not against the new plan: a container that
   * started since then is a change, not a repair. The write covers both.
   */
  async #full(wanted: RuleSet, started: number): Promise<SyncResult> {
    if (this.#rawMissing && (await probeTable(this.iptables.queue, this.iptables.options.saveCommand, 'raw')).kind === 'available') {
      this.#rawMissing = false;
      // The plan in hand was made without raw and its jumps are written by full writes only:
      // the next sync, with the daemon's new plan, must be a full one.
      try {
        return await this.#full(wanted, started);
      } finally {
        this.#applied = undefined;
        // What that write finds missing in raw is dockgate's own to finish, no one's drift.
        this.#failed = true;
      }
    }
    const plan = this.#fit(wanted);
    const readStarted = performance.now();
    const state = await this.#read();
    const readMs = performance.now() - readStarted;
    const resuming = this.#failed;
    let drift: DriftReport;
    try {
      drift = compare(this.#applied ?? plan, state, this.tables);
    } catch (err) {
      // A table we cannot read is one we must not write blind, by diff either.
      if (err instanceof IncompatibleTableError) this.#applied = undefined;
      throw err;
    }
    this.#pinned = pinnedChains(state, this.tables);
    const reported = this.#report(drift, resuming);
    if (this.#applied && drift.clean) {
      // Nothing drifted: what changed since the last write is an ordinary diff, not a rewrite.
      const texts = renderDiff(this.#applied, plan, this.#pinned);
      if (texts.size > 0) await this.#write(texts);
      this.#applied = plan;
      return { kind: texts.size > 0 ? 'diff' : 'none', tables: [...texts.keys()], durationMs: performance.now() - started, drift: reported, readMs };
    }
    const needed = this.#applied ? compare(plan, state, this.tables) : drift;
    if (needed.clean) {
      this.#applied = plan;
      this.#failed = false;
      return { kind: 'none', tables: [], durationMs: performance.now() - started, drift: reported, readMs };
    }
    const dirty = this.tables.filter(
      (t) => needed.chains.some((c) => c.table === t) || needed.jumps.some((j) => j.table === t) || needed.strays.some((j) => j.table === t),
    );
    await this.#write(renderFull(plan, state, dirty));
    this.#applied = plan;
    return { kind: 'full', tables: dirty, durationMs: performance.now() - started, drift: reported, readMs };
  }

  /**
   * The drift report callers see: foreign rules only the first time they are seen. Not
   * remembered while nothing of ours is known to be in place (start-up, after a failure), when
   * callers do not report drift; the first check after that reports them.
   */
  #report(drift: DriftReport, resuming: boolean): DriftReport | undefined {
    const fresh = drift.foreign.filter((f) => !this.#reported.has(foreignKey(f)));
    if (this.#applied !== undefined) this.#reported = new Set(drift.foreign.map(foreignKey));
    if (resuming) return undefined;
    return { ...drift, foreign: fresh, clean: drift.clean && fresh.length === 0 };
  }

  async #write(texts: ReadonlyMap<Table, string>): Promise<void> {
    this.#restores++;
    try {
      await this.iptables.restore(texts);
      this.#failed = false;
    } catch (err) {
      this.#applied = undefined;
      this.#failed = true;
      if (err instanceof RestoreError && !this.#rawMissing && texts.has('raw') && refusedTable([...texts.values()].join(''), err.stderr) === 'raw') {
        this.#rawMissing = true;
        throw new RawRefused(err.message);
      }
      throw err;
    }
  }
}
