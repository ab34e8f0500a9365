// Keeps the kernel equal to the latest plan. Remembers what it last wrote so a change can be
// written as a small diff; forgets it whenever a write fails, so the next write starts from what
// the kernel really holds.
import type { RuleSet, Table } from '../model/types.js';
import { TABLES } from '../plan/chains.js';
import { type DriftReport, compare, emptyTables } from '../plan/kernel-state.js';
import { renderDiff, renderFlush, renderFull } from '../plan/restore.js';
import type { Iptables } from './iptables.js';

export interface SyncResult {
  kind: 'full' | 'diff' | 'none';
  tables: Table[];
  durationMs: number;
  /** What the full sync found wrong before writing (empty for diffs). */
  drift?: DriftReport;
  /** How long reading the kernel (iptables-save) took: what paces the drift check. */
  readMs?: number;
}

export class Dataplane {
  #applied: RuleSet | undefined;
  #restores = 0;

  constructor(readonly iptables: Iptables) {}

  /** How many iptables-restore runs this dataplane has made. */
  get restores(): number {
    return this.#restores;
  }

  get applied(): RuleSet | undefined {
    return this.#applied;
  }

  /** Forget what was written: the next sync reads the kernel and rewrites what differs. */
  invalidate(): void {
    this.#applied = undefined;
  }

  async sync(plan: RuleSet): Promise<SyncResult> {
    const started = performance.now();
    if (this.#applied === undefined) return this.#full(plan, started);
    const texts = renderDiff(this.#applied, plan);
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
    return this.#full(plan, performance.now());
  }

  async check(plan: RuleSet): Promise<DriftReport> {
    return compare(plan, await this.iptables.save());
  }

  /**
   * Removes every dockgate chain and jump. On the nft backend, tables left with nothing in them
   * (dockgate created them) are deleted too, so iptables-save reads as before dockgate ran.
   */
  async flush(): Promise<Table[]> {
    const texts = renderFlush(await this.iptables.save());
    await this.#write(texts);
    this.#applied = undefined;
    if (texts.size > 0 && (await this.iptables.backend()) === 'nf_tables') {
      for (const table of emptyTables(await this.iptables.save())) {
        if (TABLES.includes(table)) await this.iptables.dropTable(table);
      }
    }
    return [...texts.keys()];
  }

  /**
   * Drift is measured against what we last wrote, not against the new plan: a container that
   * started since then is a change, not a repair. The write covers both.
   */
  async #full(plan: RuleSet, started: number): Promise<SyncResult> {
    const readStarted = performance.now();
    const state = await this.iptables.save();
    const readMs = performance.now() - readStarted;
    const drift = compare(this.#applied ?? plan, state);
    if (this.#applied && drift.clean) {
      // Nothing drifted: what changed since the last write is an ordinary diff, not a rewrite.
      const texts = renderDiff(this.#applied, plan);
      if (texts.size > 0) await this.#write(texts);
      this.#applied = plan;
      return { kind: texts.size > 0 ? 'diff' : 'none', tables: [...texts.keys()], durationMs: performance.now() - started, drift, readMs };
    }
    const needed = this.#applied ? compare(plan, state) : drift;
    if (needed.clean) {
      this.#applied = plan;
      return { kind: 'none', tables: [], durationMs: performance.now() - started, drift, readMs };
    }
    const dirty = TABLES.filter(
      (t) => needed.chains.some((c) => c.table === t) || needed.jumps.some((j) => j.table === t) || needed.strays.some((j) => j.table === t),
    );
    await this.#write(renderFull(plan, state, dirty));
    this.#applied = plan;
    return { kind: 'full', tables: dirty, durationMs: performance.now() - started, drift, readMs };
  }

  async #write(texts: ReadonlyMap<Table, string>): Promise<void> {
    this.#restores++;
    try {
      await this.iptables.restore(texts);
    } catch (err) {
      this.#applied = undefined;
      throw err;
    }
  }
}
