// What a sync says in the log beyond "rules written": drift it repaired or left alone, the
// kernel's limits as a write found them, and the host's nameservers as it read them.
import type { Logger } from 'pino';
import { rawBackMessage, rawMissingMessage } from '../dataplane/kernel-limits.js';
import { readResolvConf } from '../egress/resolv-conf.js';
import type { ResolvConfWatch } from '../egress/resolv-conf-watch.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import type { Family } from '../model/types.js';
import type { DriftReport } from '../plan/kernel-state.js';
import { foreignJson } from '../plan/foreign-rule.js';

export function logDrift(log: Logger, metrics: DaemonMetrics | undefined, drift: DriftReport, durationMs: number): void {
  metrics?.drift(drift);
  for (const c of drift.chains) {
    log.warn(
      { event: 'drift-repaired', table: c.table, chain: c.chain, problem: c.problem, missing: c.missing, unexpected: c.unexpected, durationMs: Math.round(durationMs) },
      `repaired ${c.table} ${c.chain}: ${c.problem}`,
    );
  }
  for (const j of drift.jumps) {
    log.warn(
      { event: 'drift-repaired', table: j.table, chain: j.builtin, problem: j.count === 0 ? 'jump missing' : 'jump duplicated', count: j.count },
      `repaired jump ${j.table} ${j.builtin} -> ${j.target} (found ${j.count})`,
    );
  }
  for (const s of drift.strays) {
    log.warn({ event: 'drift-repaired', table: s.table, chain: s.builtin, problem: 'stray jump', line: s.line }, `removed stray jump in ${s.table} ${s.builtin}`);
  }
  // Not repaired (dockgate deletes only what it wrote); the dataplane hands each over once.
  for (const f of drift.foreign) {
    const what = f.kind === 'chain' ? `chain ${f.chain}` : `rule "${f.line}" in ${f.chain}`;
    const why = f.why === 'admin-jump' ? `jumps into ${f.target} but was not written by dockgate` : `is in a table dockgate does not manage`;
    const { line } = foreignJson(f);
    log.warn({ event: 'drift-reported', table: f.table, chain: f.chain, problem: f.why, line, target: f.target }, `left alone: ${f.table} ${what} ${why}`);
  }
}

/** One warning per family whose kernel turned out to lack the raw table, one line when it is back. */
export function logRawMissing(log: Logger, before: readonly Family[], now: readonly Family[]): void {
  for (const family of now.filter((f) => !before.includes(f))) {
    log.warn({ event: 'kernel-limit', table: 'raw', family, missing: true }, rawMissingMessage(family));
  }
  for (const family of before.filter((f) => !now.includes(f))) {
    log.info({ event: 'kernel-limit', table: 'raw', family, missing: false }, rawBackMessage(family));
  }
}

/**
 * The host's nameservers: the watcher's last reading (it asks for a sync when they change), or,
 * where the file cannot be watched, read at each sync like the forwarding sysctls. A change
 * re-plans the resolver accepts of allow-listed containers and asks every name again.
 */
export class ResolvConfReader {
  /** Why resolv.conf could not be read, once logged, so a lasting problem is one line. */
  #problem: string | undefined;

  constructor(
    readonly log: Logger,
    readonly watch: () => ResolvConfWatch | undefined = () => undefined,
  ) {}

  async servers(path: string): Promise<string[]> {
    const w = this.watch();
    const r = w?.watching && w.path === path ? w.current : await readResolvConf(path);
    if (r.ok) {
      this.#problem = undefined;
      return r.value;
    }
    if (this.#problem !== r.error) {
      this.log.warn({ event: 'resolv-conf-unreadable', path, err: r.error }, `cannot read ${path}: ${r.error}; containers with an egress allow-list reach no resolver`);
    }
    this.#problem = r.error;
    return [];
  }
}
