// The benchmark's targets check (bench/report.ts): what is a target, how a figure is judged, and
// when a figure is marked unreliable. Pure: built from made-up measurements.
import { describe, expect, it } from 'vitest';
import type { DataplaneSize } from '../../bench/dataplane.js';
import type { EventResult } from '../../bench/events.js';
import type { IdleWindow } from '../../bench/lib/docker.js';
import type { Machine } from '../../bench/lib/machine.js';
import { summarize } from '../../bench/lib/stats.js';
import { type Results, evaluate } from '../../bench/report.js';

const s = (v: number) => summarize([v]);
const machine = { cpus: 2 } as Machine;

function size(n: number, o: { start: number; stop: number; startFloor: number; stopFloor: number }): DataplaneSize {
  return {
    n, chains: 1, rules: 1, fullRestoreBytes: 1, planBuildMs: s(1), renderDiffMs: s(1), fullSync: s(500), fullSyncRestoreProcess: s(400),
    start: s(o.start), stop: s(o.stop), startRestoreProcess: s(1), stopRestoreProcess: s(1), startFloor: s(o.startFloor), stopFloor: s(o.stopFloor),
    startTransactions: [{ tables: ['filter'], lines: 4 }], stopTransactions: [{ tables: ['filter', 'nat'], lines: 7 }],
    driftCheck: s(1), driftCheckSaveProcess: s(1), verified: true,
  };
}

const window = (seconds: number, cpu: number, child: number, loadEnd = 0.2): IdleWindow => ({
  seconds, rssMiB: 70, peakRssMiB: 80, cpuPercent: cpu, childCpuPercent: child, cpuTotalMs: 1, childCpuTotalMs: 1, load: { start: 3, end: loadEnd },
});

function events(many: IdleWindow): EventResult {
  const rest = { containers: 200, startWallMs: 1, lastStartToLastRuleMs: 1, settleSeconds: 20, logEvents: {} };
  return {
    sequential: { n: 50, kernel: s(15), applied: s(30), dockerRun: s(300) },
    drift: [],
    burst: { n: 50, concurrency: 10, lastStartToLastRuleMs: 90, wallMs: 1, spreadMs: 1, perContainer: s(1), restoreTransactions: 40, syncLines: 40, restoreProcesses: 40 },
    resources: { withContainers: { ...window(30, 0.1, 0.1), ...rest }, withMany: { ...many, ...rest, containers: 1000 } },
  } as unknown as EventResult;
}

function results(over: Partial<Omit<Results, 'targets'>>): Omit<Results, 'targets'> {
  return { kind: 'full', command: 'npm run bench', machine, fullCheckMs: 90_000, load: {}, elapsedMs: {}, errors: {}, ...over };
}

describe('bench targets', () => {
  it('judges one change at 5,000 against the same transaction by hand: the worst ratio of start and stop', () => {
    const pass = evaluate(results({ dataplane: [size(5000, { start: 20, stop: 36, startFloor: 16, stopFloor: 30 })] }));
    const t = pass.find((x) => x.what.startsWith("one container's change with 5,000"))!;
    expect(t.target).toBe('≤ 1.3×');
    expect(t.measured).toMatch(/^1\.25×: start 20\.0 ms ÷ 16\.0 ms = 1\.25×/);
    expect(t.pass).toBe(true);
    const miss = evaluate(results({ dataplane: [size(5000, { start: 20, stop: 36, startFloor: 16, stopFloor: 20 })] }));
    expect(miss.find((x) => x.what.startsWith("one container's change with 5,000"))!.pass).toBe(false);
  });

  it('has no target on the number of restores in a burst', () => {
    const t = evaluate(results({ events: events(window(180, 0.1, 0.2)) }));
    expect(t.some((x) => x.what.includes('burst') && x.what.includes('restore'))).toBe(false);
    expect(t.some((x) => x.what.includes('last start event → last rule'))).toBe(true);
  });

  it('counts CPU at rest only over whole full-check periods', () => {
    const long = evaluate(results({ events: events(window(180, 0.2, 0.2)) })).find((x) => x.what.startsWith('CPU at rest with 1000'))!;
    expect(long.measured).toContain('2.0 periods of full_check_ms 90 s');
    expect(long.pass).toBe(true);
    const over = evaluate(results({ events: events(window(180, 0.2, 0.4)) })).find((x) => x.what.startsWith('CPU at rest with 1000'))!;
    expect(over.pass).toBe(false);
    const short = evaluate(results({ events: events(window(30, 0.1, 0.1)) })).find((x) => x.what.startsWith('CPU at rest with 1000'))!;
    expect(short.pass).toBeUndefined();
  });

  it('marks a figure unreliable when the load was above half the cores: a part by its ends, a window at rest by its end', () => {
    const t = evaluate(
      results({
        dataplane: [size(5000, { start: 20, stop: 36, startFloor: 16, stopFloor: 30 })],
        events: events(window(180, 0.2, 0.2, 0.5)),
        load: { dataplane: { start: 0.4, end: 1.6 }, events: { start: 0.5, end: 4 } },
      }),
    );
    expect(t.find((x) => x.what.startsWith("one container's change"))!.unreliable).toBe('1-minute load 1.6 > 1');
    expect(t.find((x) => x.what.startsWith('start event → rules in the kernel, p50'))!.unreliable).toBeDefined();
    expect(t.find((x) => x.what.startsWith('CPU at rest with 1000'))!.unreliable).toBeUndefined();
  });

  it('a name refresh passes only as one write, none when nothing changed, and the kernel holding the answers', () => {
    const nameRefresh = { names: 10, addressesPerRefresh: 60, writesPerRefresh: [1, 1], writesPerUnchangedRefresh: [0, 0], answersToKernel: s(31), write: s(9), verified: true };
    const find = (t: ReturnType<typeof evaluate>) => t.find((x) => x.what.startsWith('a refresh of 10 DNS names'))!;
    expect(find(evaluate(results({ nameRefresh }))).pass).toBe(true);
    expect(find(evaluate(results({ nameRefresh: { ...nameRefresh, writesPerRefresh: [1, 2] } }))).pass).toBe(false);
    expect(find(evaluate(results({ nameRefresh: { ...nameRefresh, writesPerUnchangedRefresh: [0, 1] } }))).pass).toBe(false);
    expect(find(evaluate(results({ nameRefresh: { ...nameRefresh, verified: false } }))).pass).toBe(false);
  });
});
