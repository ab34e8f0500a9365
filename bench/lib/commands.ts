// Which commands a window at rest held: dockgate logs one `command` line at debug per process it
// ran (program, verb, wall ms), and the benchmark runs it at debug. Pure: from parsed log lines.

/** A pino line's ISO `time`, ms since the epoch (as docker.ts's logTime; not imported: docker.ts imports this). */
const timeOf = (l: Record<string, unknown>): number => (typeof l.time === 'string' ? Date.parse(l.time) : Number.NaN);

/** The commands of one program and verb that ended inside a window. */
export interface CommandTally {
  program: string;
  verb: string;
  count: number;
  /** their wall time added up, ms (not CPU: dockgate cannot tell one child's CPU from another's) */
  ms: number;
  /** of `count`, how many did not end with `ok` */
  failed: number;
}

/**
 * The `command` lines whose time (the command's end) is within [from, to], ms since the epoch,
 * summed per program and verb; the costliest first (then by name, so the order is stable).
 */
export function commandsInWindow(lines: ReadonlyArray<Record<string, unknown>>, from: number, to: number): CommandTally[] {
  const byName = new Map<string, CommandTally>();
  for (const l of lines) {
    if (l.event !== 'command' || typeof l.program !== 'string' || typeof l.verb !== 'string') continue;
    const at = timeOf(l);
    if (!(at >= from && at <= to)) continue;
    const key = `${l.program} ${l.verb}`;
    let t = byName.get(key);
    if (!t) byName.set(key, (t = { program: l.program, verb: l.verb, count: 0, ms: 0, failed: 0 }));
    t.count++;
    t.ms += typeof l.ms === 'number' && Number.isFinite(l.ms) ? l.ms : 0;
    if (l.outcome !== 'ok') t.failed++;
  }
  const tallies = [...byName.values()].map((t) => ({ ...t, ms: Math.round(t.ms * 10) / 10 }));
  return tallies.sort((a, b) => b.ms - a.ms || (a.program < b.program ? -1 : a.program > b.program ? 1 : a.verb < b.verb ? -1 : a.verb > b.verb ? 1 : 0));
}

/** "iptables-save save ×2 (310 ms), ipset save ×4 (12 ms, 1 failed)", or "none". */
export function commandsText(tallies: readonly CommandTally[]): string {
  if (tallies.length === 0) return 'none';
  return tallies.map((t) => `${t.program} ${t.verb} ×${t.count} (${Math.round(t.ms)} ms${t.failed > 0 ? `, ${t.failed} failed` : ''})`).join(', ');
}
