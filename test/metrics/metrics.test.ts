// The metric updates, from fake inputs: what the daemon reports through DaemonMetrics and what a
// scrape then shows. No Docker, no kernel.
import { describe, expect, it } from 'vitest';
import { RestoreError } from '../../src/dataplane/iptables.js';
import type { DockerEvent } from '../../src/docker/source.js';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { ANY_HOST, ANY_SOURCE } from '../../src/model/format.js';
import type { ContainerPlan, Family, Mode, Opening, RuleSet } from '../../src/model/types.js';
import type { DriftReport } from '../../src/plan/kernel-state.js';
import { sample } from './prom-text.js';

const ms = (t: number): bigint => BigInt(t) * 1_000_000n;
const ev = (containerId: string | undefined, at: number, type: DockerEvent['type'] = 'container'): DockerEvent => ({ type, action: 'start', containerId, timeNano: ms(at) });

function opening(mode: Mode, family: Family): Opening {
  return { family, protocol: 'tcp', hostIp: ANY_HOST, hostPort: 80, containerIp: family === 4 ? '172.17.0.2' : 'fd00::2', containerPort: 80, mode, sources: ANY_SOURCE };
}

function plan(containers: Array<Partial<ContainerPlan>>): RuleSet {
  return {
    chains: [],
    jumps: [],
    containers: containers.map((c, i) => ({ id: `c${i}`, name: `c${i}`, mode: 'proxy', egress: true, openings: [], errors: [], warnings: [], imageLabels: [], ...c })),
  };
}

function setup() {
  const clock = { now: 10_000 };
  const queue = { pending: 0 };
  const m = new DockgateMetrics({ now: () => clock.now, queue, processMetrics: false });
  const scrape = () => m.registry.metrics();
  return { m, clock, queue, scrape };
}

const LATENCY = 'dockgate_event_to_rules_seconds';
const dataplane = { restores: 0 };

describe('dockgate_event_to_rules_seconds', () => {
  it("measures from the event's own timeNano to the commit of the plan that held its facts", async () => {
    const { m, clock, scrape } = setup();
    m.eventSeen(ev('a', 9_950));
    clock.now = 10_020;
    m.planned({ containers: [], networks: false });
    clock.now = 10_030;
    m.committed(plan([]), dataplane);
    const text = await scrape();
    expect(sample(text, `${LATENCY}_count`)).toBe(1);
    expect(sample(text, `${LATENCY}_sum`)).toBeCloseTo(0.08, 6);
    expect(sample(text, `${LATENCY}_bucket`, 'le="0.05"')).toBe(0);
    expect(sample(text, `${LATENCY}_bucket`, 'le="0.1"')).toBe(1);
  });

  it('a burst coalesced into one write is one observation per event, and only once', async () => {
    const { m, clock, scrape } = setup();
    m.eventSeen(ev('a', 9_990));
    m.eventSeen(ev('b', 9_995));
    m.eventSeen(ev('a', 9_999));
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), dataplane);
    // A later drift check writes again with nothing new: nothing more is observed.
    clock.now = 20_000;
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), dataplane);
    expect(sample(await scrape(), `${LATENCY}_count`)).toBe(3);
    expect(m.waiting).toBe(0);
  });

  it('waits for a plan that holds the facts: a container still being inspected, or dirty again, is not committed yet', async () => {
    const { m, clock, scrape } = setup();
    m.eventSeen(ev('slow', 9_000));
    m.eventSeen(ev('quick', 9_500));
    m.planned({ containers: ['slow'], networks: false });
    m.committed(plan([]), dataplane);
    let text = await scrape();
    expect(sample(text, `${LATENCY}_count`)).toBe(1);
    expect(sample(text, `${LATENCY}_sum`)).toBeCloseTo(0.5, 6);
    clock.now = 12_000;
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), dataplane);
    text = await scrape();
    expect(sample(text, `${LATENCY}_count`)).toBe(2);
    // 0.5 s for quick, 3 s for slow: measured from its own event, not from the first commit.
    expect(sample(text, `${LATENCY}_sum`)).toBeCloseTo(3.5, 6);
  });

  it('network events without a container wait while the network list is behind', async () => {
    const { m, scrape } = setup();
    m.eventSeen(ev(undefined, 9_900, 'network'));
    m.planned({ containers: [], networks: true });
    m.committed(plan([]), dataplane);
    expect(sample(await scrape(), `${LATENCY}_count`)).toBe(0);
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), dataplane);
    expect(sample(await scrape(), `${LATENCY}_count`)).toBe(1);
  });

  it('a failed write observes nothing; the retry that commits observes each event once', async () => {
    const { m, clock, scrape } = setup();
    m.eventSeen(ev('a', 9_000));
    m.planned({ containers: [], networks: false });
    m.failed(new RestoreError('iptables-restore failed (exit 1): x', { kind: 'exited', code: 1, stdout: '', stderr: 'x', durationMs: 0 }, 'x', []), { restores: 1 });
    expect(sample(await scrape(), `${LATENCY}_count`)).toBe(0);
    clock.now = 11_000;
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), { restores: 2 });
    const text = await scrape();
    expect(sample(text, `${LATENCY}_count`)).toBe(1);
    expect(sample(text, `${LATENCY}_sum`)).toBeCloseTo(2, 6);
  });

  it('an event without timeNano counts from when dockgate saw it; a clock ahead of ours counts as 0', async () => {
    const { m, clock, scrape } = setup();
    m.eventSeen({ type: 'container', action: 'die', containerId: 'a' });
    m.eventSeen(ev('b', 10_500));
    clock.now = 10_100;
    m.planned({ containers: [], networks: false });
    m.committed(plan([]), dataplane);
    const text = await scrape();
    expect(sample(text, `${LATENCY}_count`)).toBe(2);
    expect(sample(text, `${LATENCY}_sum`)).toBeCloseTo(0.1, 6);
  });
});

describe('restores and their failures', () => {
  it('counts restores by family from the dataplane, across a reload that makes a new one', async () => {
    const { m, scrape } = setup();
    const both = { restores: 3, v4: { restores: 2 }, v6: { restores: 1 } };
    m.committed(plan([]), both);
    both.v4.restores = 3;
    m.committed(plan([]), both);
    // SIGHUP: a fresh dataplane whose own count starts again at 0; the counter never goes down.
    m.committed(plan([]), { restores: 1, v4: { restores: 1 }, v6: undefined });
    const text = await scrape();
    expect(sample(text, 'dockgate_restores_total', 'family="4"')).toBe(4);
    expect(sample(text, 'dockgate_restores_total', 'family="6"')).toBe(1);
  });

  it('a failure is put on the family that was written last (IPv4 goes first and stops the write)', async () => {
    const { m, scrape } = setup();
    const both = { restores: 0, v4: { restores: 0 }, v6: { restores: 0 } };
    const err = new RestoreError('ip6tables-restore failed (exit 1): x', { kind: 'exited', code: 1, stdout: '', stderr: 'x', durationMs: 0 }, 'x', []);
    both.v4.restores = 1;
    both.v6.restores = 1;
    m.failed(err, both);
    both.v4.restores = 2;
    m.failed(err, both);
    // Not a restore failure (Docker away, a save that failed): restores counted, no failure.
    both.v4.restores = 3;
    m.failed(new Error('iptables-save failed'), both);
    const text = await scrape();
    expect(sample(text, 'dockgate_restore_failures_total', 'family="6"')).toBe(1);
    expect(sample(text, 'dockgate_restore_failures_total', 'family="4"')).toBe(1);
    expect(sample(text, 'dockgate_restores_total', 'family="4"')).toBe(3);
  });

  it('a single-family dataplane counts under its own family', async () => {
    const { m, scrape } = setup();
    m.committed(plan([]), { restores: 2, iptables: { family: 6 } });
    expect(sample(await scrape(), 'dockgate_restores_total', 'family="6"')).toBe(2);
  });
});

describe('dockgate_drift_repairs_total', () => {
  it('counts each repaired entry by kind, every kind present from the start', async () => {
    const { m, scrape } = setup();
    expect(sample(await scrape(), 'dockgate_drift_repairs_total', 'kind="jump_missing"')).toBe(0);
    const report: DriftReport = {
      chains: [
        { table: 'filter', chain: 'DOCKGATE-INPUT', problem: 'missing', missing: [], unexpected: [] },
        { table: 'nat', chain: 'DOCKGATE-PREROUTING', problem: 'changed', missing: [], unexpected: [] },
        { table: 'filter', chain: 'DOCKGATE-CI-0123456789ab', problem: 'extra', missing: [], unexpected: [] },
      ],
      jumps: [
        { table: 'filter', builtin: 'INPUT', target: 'DOCKGATE-INPUT', count: 0 },
        { table: 'filter', builtin: 'FORWARD', target: 'DOCKGATE-FORWARD', count: 2 },
      ],
      strays: [{ table: 'nat', builtin: 'OUTPUT', line: '-j DOCKGATE-OLD' }],
      foreign: [],
      clean: false,
    };
    m.drift(report);
    m.driftRepaired('footprint_missing');
    const text = await scrape();
    for (const kind of ['chain_missing', 'chain_changed', 'chain_extra', 'jump_missing', 'jump_duplicated', 'stray_jump', 'footprint_missing']) {
      expect(sample(text, 'dockgate_drift_repairs_total', `kind="${kind}"`), kind).toBe(1);
    }
  });
});

describe('gauges of the committed plan', () => {
  it('containers, label errors and openings by mode and family', async () => {
    const { m, scrape } = setup();
    m.committed(
      plan([
        { openings: [opening('proxy', 4), opening('proxy', 6)] },
        { mode: 'dnat', openings: [opening('dnat', 4), opening('dnat', 4)] },
        { errors: [{ label: 'dockgate.ports', value: 'x', reason: 'bad' }] },
        {},
      ]),
      dataplane,
    );
    let text = await scrape();
    expect(sample(text, 'dockgate_containers')).toBe(4);
    expect(sample(text, 'dockgate_label_errors')).toBe(1);
    expect(sample(text, 'dockgate_openings', 'mode="proxy",family="4"')).toBe(1);
    expect(sample(text, 'dockgate_openings', 'mode="proxy",family="6"')).toBe(1);
    expect(sample(text, 'dockgate_openings', 'mode="dnat",family="4"')).toBe(2);
    expect(sample(text, 'dockgate_openings', 'mode="dnat",family="6"')).toBe(0);
    // The containers stopped: every gauge follows the plan down, none keeps a stale value.
    m.committed(plan([]), dataplane);
    text = await scrape();
    expect(sample(text, 'dockgate_containers')).toBe(0);
    expect(sample(text, 'dockgate_label_errors')).toBe(0);
    expect(sample(text, 'dockgate_openings', 'mode="dnat",family="4"')).toBe(0);
  });

  it('queue length is read at each scrape', async () => {
    const { queue, scrape } = setup();
    expect(sample(await scrape(), 'dockgate_queue_length')).toBe(0);
    queue.pending = 3;
    expect(sample(await scrape(), 'dockgate_queue_length')).toBe(3);
  });

  it('the default process metrics are there unless turned off', async () => {
    const text = await new DockgateMetrics().registry.metrics();
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    expect(sample(text, 'dockgate_queue_length')).toBe(0);
  });
});
