// The daemon's runner logic against a scripted Docker and the in-memory iptables: no root, no
// kernel, well under a second per case, timing asserted on fake time (a FakeClock the daemon and
// the scripted Docker share). The real-kernel and real-Docker proofs are in test/e2e.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Config } from '../../src/config/schema.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { FamilyDataplanes, type Ipv6Probe } from '../../src/dataplane/families.js';
import type { ContainerFacts } from '../../src/model/types.js';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { OPENINGS, shardChain, shardOf } from '../../src/plan/chains.js';
import { sample } from '../metrics/prom-text.js';
import { FakeDocker } from '../support/fake-docker.js';
import { FakeIptables } from '../support/fake-iptables.js';
import { startOnFakeTime, startTestDaemon, stopTestDaemons, testConfig, web } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

afterEach(stopTestDaemons);

const start = (docker: FakeDocker, cfg: Config, ipt = new FakeIptables()) => startTestDaemon(docker, cfg, { ipt });


/** The container's lines in its shard of DOCKGATE-OPENINGS (its proxy accepts). */
const openingsOf = (ipt: FakeIptables, c: ContainerFacts): string[] =>
  ipt.rules('filter', shardChain(OPENINGS, shardOf(c.id))).filter((l) => l.includes(`/${c.id.slice(0, 12)}`));

/** Whether the container's proxy accept is in the kernel. */
const hasChainFor = (ipt: FakeIptables, c: ContainerFacts): boolean => openingsOf(ipt, c).length > 0;

describe('a container Docker cannot answer about', () => {
  it('does not hold up the rules of the others', async () => {
    const docker = new FakeDocker();
    const { ipt, runUntil } = await startOnFakeTime(docker, testConfig({ dockerTimeoutMs: 1000 }));
    const stuck = web('stuck', '172.17.0.2', 8001);
    const fine = web('fine', '172.17.0.3', 8002);
    docker.hung.add(stuck.id);
    docker.start(stuck);
    docker.start(fine);
    const took = await runUntil('fine has its rules', () => hasChainFor(ipt, fine), 5000);
    // Served when a sync stops waiting for slow inspects (250 ms), long before the stuck
    // inspect's own deadline (1000 ms) runs out.
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1000);
    expect(hasChainFor(ipt, stuck)).toBe(false);
  });

  it('keeps its last known rules for the grace time, then loses them and says so', async () => {
    const docker = new FakeDocker();
    const known = web('known', '172.17.0.4', 8003);
    docker.running.set(known.id, known);
    const { ipt, lines, clock, runUntil } = await startOnFakeTime(docker, testConfig({ dockerTimeoutMs: 50, unknownGraceMs: 600 }));
    expect(hasChainFor(ipt, known)).toBe(true);
    // Docker stops answering about it (a restart event, then every inspect hangs).
    docker.hung.add(known.id);
    const since = clock.now();
    docker.poke(known.id);
    await runUntil('the inspect failure is logged', () => lines.some((l) => l.event === 'inspect-failed'), 1000);
    expect(hasChainFor(ipt, known)).toBe(true);
    await runUntil('its rules are removed', () => !hasChainFor(ipt, known), 3000);
    // The grace counts from the first failed inspect (the event's debounce and Docker's 50 ms
    // deadline after the event); the removal comes with the next retry (every 50 ms) past it.
    expect(clock.now() - since).toBeGreaterThanOrEqual(600 + 50);
    expect(clock.now() - since).toBeLessThan(600 + 200);
    expect(lines.find((l) => l.event === 'container-unknown')).toMatchObject({ container: 'known' });
    // Docker answers again: the rules come back.
    docker.hung.delete(known.id);
    await runUntil('its rules are back', () => hasChainFor(ipt, known), 3000);
  });

  it('a late answer about a container that died meanwhile never brings its rules back', async () => {
    const docker = new FakeDocker();
    const { daemon, ipt, run } = await startOnFakeTime(docker, testConfig({ dockerTimeoutMs: 300 }));
    const flaky = web('flaky', '172.17.0.5', 8004);
    docker.running.set(flaky.id, flaky);
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const inspect = docker.inspect.bind(docker);
    let first = true;
    docker.inspect = async (id: string) => {
      if (first && id === flaky.id) {
        first = false;
        const answer = docker.running.get(id);
        await slow;
        return answer; // the stale "running" answer
      }
      return inspect(id);
    };
    docker.poke(flaky.id);
    await run(50);
    docker.stop(flaky.id);
    await run(100);
    // The "running" answer, asked before the die event, arrives after it.
    release();
    await run(200);
    expect(hasChainFor(ipt, flaky)).toBe(false);
    expect(daemon.state.containers).not.toContain(flaky.id);
  });
});

describe('a container that died while Docker cannot be listed', () => {
  // Issue 18.4: a full resync that keeps failing used to leave the dead container's rules in
  // place for as long as it failed, its DNAT aimed at an address Docker may give to another.
  it('keeps its rules for the grace after the die event, then loses them; they come back when Docker confirms it running', async () => {
    const docker = new FakeDocker();
    const db = web('db', '172.17.0.30', 8030);
    docker.running.set(db.id, db);
    const metrics = new DockgateMetrics({ processMetrics: false });
    const cfg = testConfig({ dockerTimeoutMs: 50, unknownGraceMs: 600, retryMinMs: 20, retryMaxMs: 50 });
    const { ipt, lines, clock, run, runUntil } = await startOnFakeTime(docker, cfg, { extra: { metrics } });
    expect(hasChainFor(ipt, db)).toBe(true);
    // Docker wedges: every list fails and every inspect runs into its deadline; the events
    // stream drops and comes back, so the next sync must list everything.
    const listIds = docker.listIds.bind(docker);
    docker.listIds = async () => Promise.reject(new Error('docker list: 500 server error'));
    docker.hung.add(db.id);
    docker.disconnect();
    await runUntil('reconnected', () => docker.subscriptions >= 2, 3000);
    await runUntil('the failed list is logged', () => lines.some((l) => l.event === 'docker-error'), 3000);
    const died = clock.now();
    docker.stop(db.id);
    await run(590);
    expect(hasChainFor(ipt, db)).toBe(true);
    await runUntil('its rules are removed', () => !hasChainFor(ipt, db), 3000);
    expect(clock.now() - died).toBeGreaterThanOrEqual(600);
    expect(lines.find((l) => l.event === 'container-unconfirmed')).toMatchObject({ container: 'db', action: 'die' });
    expect(sample(await metrics.registry.metrics(), 'dockgate_containers_expired_total', 'reason="unconfirmed_stop"')).toBe(1);
    // Docker recovers and the container is running after all: no event comes, the retry finds it.
    docker.running.set(db.id, db);
    docker.hung.delete(db.id);
    docker.listIds = listIds;
    await runUntil('its rules are back', () => hasChainFor(ipt, db), 3000);
  });
});

describe('address families', () => {
  it('writes IPv6 rules through their own dataplane; a host without IPv6 runs IPv4-only and says so once', async () => {
    for (const ipv6 of [true, false]) {
      const docker = new FakeDocker();
      const c = web('both', '172.17.0.10', 8010);
      c.ports.push({ hostIp: '::', hostPort: 8010, containerPort: 80, protocol: 'tcp' });
      docker.running.set(c.id, c);
      const v4 = new FakeIptables();
      const v6 = new FakeIptables();
      const { daemon, lines } = startTestDaemon(docker, testConfig(), {
        extra: {
          dataplane: (_cfg, has6) => new FamilyDataplanes(new Dataplane(v4.asIptables()), has6 ? new Dataplane(v6.asIptables()) : undefined),
          ipv6: async () => (ipv6 ? { kind: 'available' } : { kind: 'absent' }),
        },
      });
      await daemon.ready;
      docker.poke(c.id);
      await new Promise((r) => setTimeout(r, 50));
      expect(hasChainFor(v4, c)).toBe(true);
      expect(hasChainFor(v6, c)).toBe(ipv6);
      expect(lines.filter((l) => l.event === 'ipv4-only')).toHaveLength(ipv6 ? 0 : 1);
      expect(daemon.plan?.ipv6 !== undefined).toBe(ipv6);
    }
  });

  // Issue 18.19: an ip6tables-save that failed once at start-up left the host IPv4-only until a restart.
  it('a first IPv6 probe that fails is retried with backoff; IPv6 comes up when one answers, and the log says so', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const docker = new FakeDocker();
      const c = web('late6', '172.17.0.11', 8011);
      c.ports.push({ hostIp: '::', hostPort: 8011, containerPort: 80, protocol: 'tcp' });
      docker.running.set(c.id, c);
      const v4 = new FakeIptables();
      const v6 = new FakeIptables();
      const failed: Ipv6Probe = { kind: 'unreadable', reason: 'ip6tables-save failed (exit 4): resource temporarily unavailable' };
      const answers: Ipv6Probe[] = [failed, failed, { kind: 'available' }];
      const probedAt: number[] = [];
      const { daemon, lines } = startTestDaemon(docker, testConfig({ retryMinMs: 1000, retryMaxMs: 8000 }), {
        extra: {
          dataplane: (_cfg, has6) => new FamilyDataplanes(new Dataplane(v4.asIptables()), has6 ? new Dataplane(v6.asIptables()) : undefined),
          ipv6: async () => {
            probedAt.push(Date.now());
            return answers[Math.min(probedAt.length, answers.length) - 1]!;
          },
        },
      });
      await vi.advanceTimersByTimeAsync(200);
      await daemon.ready;
      expect(hasChainFor(v4, c)).toBe(true);
      expect(hasChainFor(v6, c)).toBe(false);
      expect(lines.filter((l) => l.event === 'ipv6-probe-failed')).toHaveLength(1);
      const first = probedAt[0]!;
      const at = (ms: number) => vi.advanceTimersByTimeAsync(first + ms - Date.now());

      await at(1000);
      expect(probedAt.map((t) => t - first)).toEqual([0, 1000]);
      expect(hasChainFor(v6, c)).toBe(false);
      // The wait doubles: nothing before 3000 ms; the third probe, at 3000 ms, answers.
      await at(2999);
      expect(probedAt).toHaveLength(2);
      await at(3000);
      expect(probedAt.map((t) => t - first)).toEqual([0, 1000, 3000]);
      // The sync it asks for reads files (real I/O, not timers): waited for, bounded.
      await vi.waitFor(() => expect(hasChainFor(v6, c)).toBe(true), { timeout: 3000, interval: 10 });
      expect(hasChainFor(v4, c)).toBe(true);
      expect(daemon.plan?.ipv6).toBeDefined();
      expect(lines.filter((l) => l.event === 'ipv6-available')).toHaveLength(1);

      // Up for good: no more probes.
      await vi.advanceTimersByTimeAsync(60_000);
      expect(probedAt).toHaveLength(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('a host whose kernel has no IPv6 is not probed again', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      let probes = 0;
      const { daemon } = startTestDaemon(new FakeDocker(), testConfig({ retryMinMs: 1000, retryMaxMs: 8000 }), {
        extra: { ipv6: async () => (probes++, { kind: 'absent' }) },
      });
      await vi.advanceTimersByTimeAsync(100);
      await daemon.ready;
      await vi.advanceTimersByTimeAsync(60_000);
      expect(probes).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('Docker going away', () => {
  it('a lost events stream is reconnected, and the full resync finds what started meanwhile', async () => {
    const docker = new FakeDocker();
    const { daemon, ipt } = start(docker, testConfig({ retryMinMs: 20, retryMaxMs: 50 }));
    await daemon.ready;
    const before = web('before', '172.17.0.20', 8020);
    docker.start(before);
    await until(() => hasChainFor(ipt, before), { what: 'before in the kernel' });
    docker.disconnect();
    const during = web('during', '172.17.0.21', 8021);
    docker.startSilently(during);
    docker.running.delete(before.id); // died while nobody listened
    await until(() => docker.subscriptions >= 2 || undefined, { what: 'reconnected', timeoutMs: 3000 });
    await until(() => hasChainFor(ipt, during) && !hasChainFor(ipt, before), { what: 'the resync wrote both changes', timeoutMs: 3000 });
  });
});

describe('the sync runner', () => {
  it('a reload that lands while a sync is writing is applied afterwards', async () => {
    const docker = new FakeDocker();
    const c = web('reload', '172.17.0.6', 8005);
    docker.running.set(c.id, c);
    const ipt = new FakeIptables();
    const { daemon } = start(docker, testConfig(), ipt);
    await daemon.ready;
    const mine = (): string[] => openingsOf(ipt, c);
    const before = mine();
    expect(before.some((l) => l.startsWith('-s '))).toBe(false);
    ipt.delayMs = 300;
    const restores = ipt.restores;
    docker.start(web('other', '172.17.0.9', 8008));
    await until(() => ipt.restores > restores, { what: 'a restore is in flight', timeoutMs: 2000 });
    const next = testConfig();
    next.defaults = { ...next.defaults, from: [{ family: 4, text: '192.0.2.0/24' }] };
    daemon.reload(next);
    await until(() => mine().some((l) => l.startsWith('-s 192.0.2.0/24 ')), { what: 'the new default sources in the kernel', timeoutMs: 3000 });
    expect(daemon.state.plannedVersion).toBe(daemon.state.version);
  });

  it('a reload that changes the plan writes the change and does not report it as drift', async () => {
    const docker = new FakeDocker();
    const c = web('narrowed', '172.17.0.6', 8005);
    docker.running.set(c.id, c);
    const ipt = new FakeIptables();
    const { daemon, lines } = start(docker, testConfig(), ipt);
    await daemon.ready;
    const next = testConfig();
    next.defaults = { ...next.defaults, from: [{ family: 4, text: '192.0.2.0/24' }] };
    daemon.reload(next);
    await until(() => openingsOf(ipt, c).some((l) => l.startsWith('-s 192.0.2.0/24 ')), { what: 'the new default sources in the kernel', timeoutMs: 3000 });
    const reloaded = lines.findIndex((l) => l.event === 'reloaded');
    await until(() => lines.slice(reloaded).some((l) => l.event === 'applied'), { what: 'the write after the reload logged', timeoutMs: 3000 });
    // What the new config changes is dockgate's own write, not someone else's change to its rules.
    expect(lines.filter((l) => l.event === 'drift-repaired')).toEqual([]);
  });

  it("a reload that changes one container's policy writes only its chains; one that changes nothing writes nothing", async () => {
    const docker = new FakeDocker();
    // Thirty containers with sources of their own; one on the default sources, which the reload narrows.
    // Each in a shard of its own, so that a shard written says whose lines were.
    const shard = (i: number): string => (i * 8).toString(16).padStart(2, '0').padEnd(64, 'a');
    const own = Array.from({ length: 30 }, (_, i) => ({ ...web(`own${i}`, `172.17.2.${i + 2}`, 9100 + i, { 'dockgate.from': '203.0.113.0/24' }), id: shard(i) }));
    const narrowed = { ...web('narrowed', '172.17.0.6', 8005), id: 'f7'.padEnd(64, 'b') };
    for (const c of [...own, narrowed]) docker.running.set(c.id, c);
    const ipt = new FakeIptables();
    const { daemon, lines } = start(docker, testConfig(), ipt);
    await daemon.ready;
    const synced = () => until(() => daemon.state.plannedVersion === daemon.state.version && !daemon.state.syncing, { what: 'the sync after the reload', timeoutMs: 3000 });
    const narrower = (): Config => {
      const c = testConfig();
      c.defaults = { ...c.defaults, from: [{ family: 4, text: '192.0.2.0/24' }] };
      return c;
    };
    const before = ipt.inputs.length;
    daemon.reload(narrower());
    await until(() => openingsOf(ipt, narrowed).some((l) => l.startsWith('-s 192.0.2.0/24 ')), { what: 'the new default sources in the kernel', timeoutMs: 3000 });
    await synced();
    // Its own shards' lines and the jump to a shard it now needs: nothing of the thirty others.
    const written = ipt.inputs.slice(before).flatMap((t) => t.split('\n').filter((l) => /^[-:]/.test(l)));
    expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(10);
    for (const l of written) expect(l).toMatch(/-f7( |$)/);
    expect(written).toContainEqual(expect.stringMatching(`^-A ${shardChain(OPENINGS, 'f7')} -s 192\\.0\\.2\\.0/24 `));
    expect((await new Dataplane(ipt.asIptables()).check(daemon.plan!)).clean).toBe(true);
    expect(lines.filter((l) => l.event === 'drift-repaired')).toEqual([]);
    // The same config again: the kernel already holds its plan.
    const restores = ipt.restores;
    daemon.reload(narrower());
    await synced();
    expect(ipt.restores).toBe(restores);
  });

  it('a change made behind its back before a reload is still found by the reload\'s check and reported', async () => {
    const docker = new FakeDocker();
    const c = web('tampered', '172.17.0.7', 8006);
    docker.running.set(c.id, c);
    const ipt = new FakeIptables();
    const { daemon, lines } = start(docker, testConfig(), ipt);
    await daemon.ready;
    // Someone empties the container's openings shard; then the admin reloads.
    ipt.state.get('filter')!.chains.set(shardChain(OPENINGS, shardOf(c.id)), []);
    const next = testConfig();
    next.defaults = { ...next.defaults, from: [{ family: 4, text: '192.0.2.0/24' }] };
    daemon.reload(next);
    await until(() => openingsOf(ipt, c).some((l) => l.startsWith('-s 192.0.2.0/24 ')), { what: 'the new default sources in the kernel', timeoutMs: 3000 });
    // The sync's drift report follows its host work, after the kernel write: wait for its end.
    const reloaded = lines.findIndex((l) => l.event === 'reloaded');
    await until(() => lines.slice(reloaded).some((l) => l.event === 'sync'), { what: "the reload's sync logged", timeoutMs: 3000 });
    expect(lines.filter((l) => l.event === 'drift-repaired')).toEqual([expect.objectContaining({ chain: shardChain(OPENINGS, shardOf(c.id)) })]);
    expect((await new Dataplane(ipt.asIptables()).check(daemon.plan!)).clean).toBe(true);
  });

  it('a failed write is retried after a delay while new events are still served, and ends equal to the plan', async () => {
    const docker = new FakeDocker();
    const ipt = new FakeIptables();
    const { daemon, lines } = start(docker, testConfig({ retryMinMs: 100, retryMaxMs: 200 }), ipt);
    await daemon.ready;
    ipt.failures = 1;
    const a = web('a', '172.17.0.7', 8006);
    docker.start(a);
    await until(() => lines.find((l) => l.event === 'restore-failed'), { what: 'the failure is logged' });
    expect(daemon.state.retryPending).toBe(true);
    const b = web('b', '172.17.0.8', 8007);
    docker.start(b);
    await until(() => hasChainFor(ipt, a) && hasChainFor(ipt, b), { what: 'both containers in the kernel', timeoutMs: 3000 });
    await until(() => !daemon.state.retryPending, { what: 'no retry left waiting', timeoutMs: 1000 });
    expect(openingsOf(ipt, b)).toEqual([expect.stringMatching(/^-p tcp -m tcp --dport 8007 /)]);
  });

  it('a burst of events is coalesced into one write', async () => {
    const docker = new FakeDocker();
    const { ipt, runUntil } = await startOnFakeTime(docker, testConfig({ debounceMs: 30 }));
    const before = ipt.restores;
    const many = Array.from({ length: 40 }, (_, i) => web(`m${i}`, `172.17.1.${i + 1}`, 9000 + i));
    for (const c of many) docker.start(c);
    await runUntil('all in the kernel', () => many.every((c) => hasChainFor(ipt, c)), 3000);
    expect(ipt.restores - before).toBe(1);
  });
});
