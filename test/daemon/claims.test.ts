// The daemon's memory of granted claims (issue 18 item 5), against a scripted Docker and the
// in-memory iptables: the planner is pure, so the daemon must hand each plan's granted claims to
// the next one, and a new run of a container must be judged again.
import { afterEach, describe, expect, it } from 'vitest';
import type { ContainerFacts, Listener } from '../../src/model/types.js';
import { DNAT, OPENINGS, shardChain, shardOf } from '../../src/plan/chains.js';
import { container } from '../plan/fixtures.js';
import { FakeDocker } from '../support/fake-docker.js';
import { startTestDaemon, stopTestDaemons, testConfig, web } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

afterEach(stopTestDaemons);

describe('claims the daemon granted', () => {
  it('are kept when a host process binds their port later, and judged again when the container starts again', async () => {
    const docker = new FakeDocker();
    let listening: Listener[] = [];
    const { daemon, ipt, lines } = startTestDaemon(docker, testConfig(), { extra: { listeners: async () => listening } });
    await daemon.ready;
    const run1: ContainerFacts = {
      ...container('game', { ip: '172.17.0.30', labels: { 'dockgate.ports': '31337:80', 'dockgate.mode': 'dnat' } }),
      started: '2026-04-01T10:00:00.000000000Z',
    };
    const dnat = (): string[] => ipt.rules('nat', shardChain(DNAT, shardOf(run1.id))).filter((l) => l.includes('--dport 31337'));
    docker.start(run1);
    await until(() => dnat().length === 1, { what: 'the claim DNATed' });

    // A local user binds the port; the next plan (any event) reads the listeners again.
    listening = [{ protocol: 'tcp', ip: undefined, port: 31337 }];
    const other = web('other', '172.17.0.31', 8031);
    docker.start(other);
    await until(() => ipt.rules('filter', shardChain(OPENINGS, shardOf(other.id))).some((l) => l.includes('--dport 8031')), { what: 'the other container written' });
    const warned = await until(() => lines.find((l) => l.event === 'warning' && l.container === 'game'), { what: 'the warning' });
    expect(String(warned.reason)).toMatch(/not given the port/);
    expect(dnat()).toHaveLength(1);
    expect(lines.filter((l) => l.event === 'label-error' && l.container === 'game')).toEqual([]);
    // Logged once: the plans after it keep the claim without saying so again.
    const third = web('third', '172.17.0.32', 8032);
    docker.start(third);
    await until(() => ipt.rules('filter', shardChain(OPENINGS, shardOf(third.id))).some((l) => l.includes('--dport 8032')), { what: 'the third container written' });
    await new Promise((r) => setTimeout(r, 50));
    expect(lines.filter((l) => l.event === 'warning' && l.container === 'game')).toHaveLength(1);
    expect(dnat()).toHaveLength(1);

    // Stopped and started again (in one coalesced plan or two): a new run, judged as any start is.
    docker.stop(run1.id);
    docker.start({ ...run1, started: '2026-04-01T11:00:00.000000000Z' });
    const refused = await until(() => lines.find((l) => l.event === 'label-error' && l.container === 'game'), { what: 'the claim refused at the new start' });
    expect(refused).toMatchObject({ closes: 'entry' });
    expect(String(refused.reason)).toMatch(/a host process listens on \*:31337\/tcp/);
    await until(() => dnat().length === 0, { what: 'its DNAT removed' });
  });
});
