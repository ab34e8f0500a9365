// Swarm needs Docker's own iptables rules, which dockgate replaces: the daemon refuses to start on
// a swarm node, and says so loudly (while keeping the rules it enforces) if the node joins later.
// Against the scripted Docker and the in-memory iptables, as the other daemon tests.
import { afterEach, describe, expect, it } from 'vitest';
import { SwarmNodeError } from '../../src/docker/info.js';
import { FakeDocker } from '../support/fake-docker.js';
import { FakeIptables } from '../support/fake-iptables.js';
import { startOnFakeTime, startTestDaemon, stopTestDaemons, testConfig, web } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

afterEach(stopTestDaemons);

/** Every rule in dockgate's chains, in every table. */
const dockgateLines = (ipt: FakeIptables): string[] =>
  ipt
    .text()
    .split('\n')
    .filter((l) => l.startsWith('-A DOCKGATE') || l.includes('-j DOCKGATE'));

describe('on a swarm node', () => {
  for (const state of ['active', 'pending', 'locked']) {
    it(`refuses before writing anything (Swarm.LocalNodeState ${state})`, async () => {
      const docker = new FakeDocker();
      docker.swarm = state;
      const c = web('web', '172.17.0.2', 8000);
      docker.running.set(c.id, c);
      const { daemon, ipt, lines } = startTestDaemon(docker, testConfig());
      const err = await daemon.ready.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(SwarmNodeError);
      expect((err as Error).message).toMatch(new RegExp(`swarm \\(Swarm\\.LocalNodeState ${state}\\)`));
      expect((err as Error).message).toContain('docker swarm leave');
      expect(lines.find((l) => l.event === 'swarm')).toMatchObject({ level: 50, state, refused: true });
      // nothing written: neither chains nor the container's opening
      expect(dockgateLines(ipt)).toEqual([]);
      expect(daemon.plan).toBeUndefined();
    });
  }

  it('inactive or error (a failed join): runs as usual', async () => {
    for (const state of ['inactive', 'error', '']) {
      const docker = new FakeDocker();
      docker.swarm = state;
      const { daemon, lines } = startTestDaemon(docker, testConfig());
      await daemon.ready;
      expect(docker.swarmChecks).toBeGreaterThanOrEqual(1);
      expect(lines.find((l) => l.event === 'swarm')).toBeUndefined();
    }
  });

  it('Docker cannot answer /info: not taken for a swarm, the rules are written', async () => {
    const docker = new FakeDocker();
    docker.infoFails = true;
    const { daemon } = startTestDaemon(docker, testConfig());
    await daemon.ready;
    expect(daemon.plan).toBeDefined();
  });
});

describe('a node that joins a swarm while dockgate runs', () => {
  it('is an error line each time it is seen (network events, reconnects); the rules stay and keep being enforced', async () => {
    const docker = new FakeDocker();
    const a = web('a', '172.17.0.2', 8000);
    docker.running.set(a.id, a);
    const { daemon, ipt, lines } = startTestDaemon(docker, testConfig());
    await daemon.ready;
    const before = dockgateLines(ipt);
    expect(before.some((l) => l.includes('/' + a.id.slice(0, 12)))).toBe(true);

    // `docker swarm init` creates docker_gwbridge and ingress: network events
    docker.swarm = 'active';
    docker.networkEvent('create');
    const seen = await until(() => lines.find((l) => l.event === 'swarm'), { what: 'the swarm error' });
    expect(seen).toMatchObject({ level: 50, state: 'active' });
    expect(seen.refused).toBeUndefined();
    expect(String(seen.msg)).toMatch(/swarm \(Swarm\.LocalNodeState active\)/);
    expect(String(seen.msg)).toContain('keeps enforcing');

    // still enforcing: a new container gets its rules
    const b = web('b', '172.17.0.3', 8001);
    docker.start(b);
    await until(() => dockgateLines(ipt).some((l) => l.includes('/' + b.id.slice(0, 12))), { what: 'b has its rules' });

    // and says so again on the next sighting (Docker restarted: a reconnect)
    docker.disconnect();
    await until(() => lines.filter((l) => l.event === 'swarm').length >= 2 || undefined, { what: 'a second swarm error', timeoutMs: 5000 });
    expect(daemon.plan).toBeDefined();
  });

  it('is found by the periodic check too, without any event', async () => {
    const docker = new FakeDocker();
    const { lines, clock, run, runUntil } = await startOnFakeTime(docker, testConfig({ fullCheckMs: 1000, driftCheckMs: 1000 }));
    const started = clock.now();
    docker.swarm = 'pending';
    // Every full_check_ms (1000 ms here) from the start.
    await run(990);
    expect(lines.find((l) => l.event === 'swarm')).toBeUndefined();
    await runUntil('the swarm error', () => lines.some((l) => l.event === 'swarm'), 100);
    expect(clock.now() - started).toBe(1000);
  });
});
