// The daemon's hooks into DockgateMetrics, against a scripted Docker and the in-memory iptables:
// each metric moves when the daemon does the thing it counts. No root, no kernel; latencies on
// fake time (the daemon, the scripted Docker's event times and the metrics share one FakeClock).
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { container } from '../plan/fixtures.js';
import { FakeDocker } from '../support/fake-docker.js';
import { FakeIptables } from '../support/fake-iptables.js';
import { FakeClock } from '../support/fake-clock.js';
import { startOnFakeTime, startTestDaemon, stopTestDaemons, testConfig, web } from '../support/test-daemon.js';
import { until } from '../support/poll.js';
import { sample } from './prom-text.js';


afterEach(stopTestDaemons);

function start(docker: FakeDocker, cfg: Config, ipt = new FakeIptables()) {
  const metrics = new DockgateMetrics({ processMetrics: false });
  const { daemon } = startTestDaemon(docker, cfg, { ipt, extra: { metrics } });
  const value = async (name: string, labels = ''): Promise<number | undefined> => sample(await metrics.registry.metrics(), name, labels);
  return { daemon, ipt, metrics, value };
}

/** As start(), on fake time: the metrics read the daemon's clock. */
async function startFake(docker: FakeDocker, cfg: Config) {
  const clock = new FakeClock();
  const metrics = new DockgateMetrics({ processMetrics: false, now: () => clock.now() });
  const t = await startOnFakeTime(docker, cfg, { extra: { metrics }, clock });
  const value = async (name: string, labels = ''): Promise<number | undefined> => sample(await metrics.registry.metrics(), name, labels);
  return { ...t, value };
}

const COUNT = 'dockgate_event_to_rules_seconds_count';

describe('the daemon reports to its metrics', () => {
  it('a container start: one latency observation, its opening, the containers and restores', async () => {
    const docker = new FakeDocker();
    const bad = container('bad', { ip: '172.17.0.9', labels: { 'dockgate.ports': 'eighty' } });
    docker.running.set(bad.id, bad);
    const { ipt, value, runUntil } = await startFake(docker, testConfig());
    expect(await value('dockgate_containers')).toBe(1);
    expect(await value('dockgate_label_errors')).toBe(1);
    expect(await value(COUNT)).toBe(0);
    const restores = (await value('dockgate_restores_total', 'family="4"'))!;
    expect(restores).toBeGreaterThanOrEqual(1);

    docker.start(web('web', '172.17.0.2', 8000));
    const took = await runUntil('the start is committed', () => ipt.restores > restores, 1000);
    expect(await value(COUNT)).toBe(1);
    expect(await value('dockgate_openings', 'mode="proxy",family="4"')).toBe(1);
    expect(await value('dockgate_containers')).toBe(2);
    expect(await value('dockgate_restores_total', 'family="4"')).toBeGreaterThan(restores);
    // Measured from Docker's timestamp: the debounce, not the 250 ms a cycle waits for slow inspects.
    expect(await value('dockgate_event_to_rules_seconds_sum')).toBe(took / 1000);
    expect(took).toBeLessThan(250);
  });

  it('a failed write is counted, and the event is observed once, by the retry that commits it', async () => {
    const docker = new FakeDocker();
    const { daemon, ipt, value } = start(docker, testConfig());
    await daemon.ready;
    ipt.failures = 1;
    docker.start(web('web', '172.17.0.2', 8000));
    await until(async () => (await value('dockgate_restore_failures_total', 'family="4"')) === 1, { what: 'the failure is counted' });
    await until(async () => (await value(COUNT)) === 1, { what: 'the retry commits' });
    await new Promise((r) => setTimeout(r, 100));
    expect(await value(COUNT)).toBe(1);
  });

  it('a container whose inspect has not answered is not observed with the others', async () => {
    const docker = new FakeDocker();
    const { ipt, value, run, runUntil } = await startFake(docker, testConfig());
    const slow = web('slow', '172.17.0.3', 8001);
    docker.held.set(slow.id, () => undefined);
    docker.start(slow);
    docker.start(web('quick', '172.17.0.4', 8002));
    const restores = ipt.restores;
    await runUntil('quick is committed', () => ipt.restores > restores, 1000);
    expect(await value(COUNT)).toBe(1);
    // Past the cycle's 250 ms wait for inspects: the plan went out without slow.
    await run(400);
    expect(await value(COUNT)).toBe(1);
    expect(await value('dockgate_openings', 'mode="proxy",family="4"')).toBe(1);
    docker.held.get(slow.id)!();
    await runUntil('slow is committed', () => ipt.restores > restores + 1, 1000);
    expect(await value(COUNT)).toBe(2);
    expect(await value('dockgate_openings', 'mode="proxy",family="4"')).toBe(2);
    // slow's observation runs from its own event, so it is the larger one: the sum shows it.
    expect(await value('dockgate_event_to_rules_seconds_sum')).toBeGreaterThan(0.4);
  });

  it('a repaired jump is counted by kind', async () => {
    const docker = new FakeDocker();
    const { daemon, ipt, value } = start(docker, testConfig({ driftCheckMs: 100 }));
    await daemon.ready;
    ipt.state.get('filter')!.chains.set('INPUT', []);
    await until(async () => ((await value('dockgate_drift_repairs_total', 'kind="jump_missing"')) ?? 0) >= 1, { what: 'the repair is counted' });
    expect(await value('dockgate_drift_repairs_total', 'kind="chain_missing"')).toBe(0);
  });
});
