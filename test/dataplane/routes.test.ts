// The route follower on a real kernel, in a namespace this test makes: it sees default routes
// appear and move (IPv4 and IPv6, multipath), restarts its `ip monitor` when it is killed, falls
// back to polling when the monitor cannot run, and leaves no process behind when stopped.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { type HostRoutes, RouteFollower, readHostRoutes } from '../../src/dataplane/routes.js';
import { until } from '../support/poll.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, isGoneOrZombie, linkNamespaces, waitGone } from '../support/netns.js';


let host: Netns | undefined;
let peer: Netns | undefined;
let queue: CommandQueue;
let ifA: string;
let ifB: string;

beforeAll(async () => {
  await cleanupLeftovers();
  host = await createNetns('rt');
  peer = await createNetns('rtp');
  ({ aIf: ifA } = await linkNamespaces(host, '10.71.0.2/24', peer, '10.71.0.1/24'));
  ({ aIf: ifB } = await linkNamespaces(host, '10.72.0.2/24', peer, '10.72.0.1/24'));
  await host.exec('ip', ['-6', 'addr', 'add', 'fd71::2/64', 'dev', ifA, 'nodad']);
  await host.exec('ip', ['-6', 'addr', 'add', 'fd72::2/64', 'dev', ifB, 'nodad']);
  queue = new CommandQueue({ netns: host.path });
});

afterAll(async () => {
  if (host) await destroyNetns(host);
  if (peer) await destroyNetns(peer);
});

describe('readHostRoutes', () => {
  it('reads both families and every nexthop of a multipath route', async () => {
    const h = host!;
    expect(await readHostRoutes(queue, true)).toMatchObject({ routes: [], interfaces: [] });
    await h.exec('ip', ['route', 'add', 'default', 'nexthop', 'via', '10.71.0.1', 'dev', ifA, 'nexthop', 'via', '10.72.0.1', 'dev', ifB]);
    await h.exec('ip', ['-6', 'route', 'add', 'default', 'via', 'fd72::1', 'dev', ifB]);
    const r = await readHostRoutes(queue, true);
    expect(r.interfaces).toEqual([ifA, ifB].sort());
    expect(r.routes.map((x) => [x.family, x.devs])).toEqual([[4, [ifA, ifB]], [6, [ifB]]]);
    expect((await readHostRoutes(queue, false)).routes.every((x) => x.family === 4)).toBe(true);
    await h.exec('ip', ['route', 'del', 'default']);
    await h.exec('ip', ['-6', 'route', 'del', 'default']);
  });

  it('reach: the interfaces of the on-link subnets and static routes too, in both families, not link-local', async () => {
    const h = host!;
    const r = await readHostRoutes(queue, true);
    expect(r.reach).toEqual([ifA, ifB].sort());
    expect(r.networks.filter((n) => n.devs.includes(ifA)).map((n) => n.dst).sort()).toEqual(['10.71.0.0/24', 'fd71::/64']);
    await h.exec('ip', ['route', 'add', '10.90.0.0/16', 'via', '10.72.0.1', 'dev', ifB]);
    try {
      expect((await readHostRoutes(queue, false)).networks).toContainEqual({ family: 4, dst: '10.90.0.0/16', devs: [ifB] });
    } finally {
      await h.exec('ip', ['route', 'del', '10.90.0.0/16']);
    }
  });
});

describe('RouteFollower', () => {
  it('follows the default route as it appears and moves, survives its monitor being killed, and stops by pid', async () => {
    const h = host!;
    const changes: Array<{ now: HostRoutes; before: HostRoutes | undefined }> = [];
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    // Safety reads far away: only the monitor can make it notice in time.
    const f = new RouteFollower({ queue, log, ipv6: async () => true, onChange: (now, before) => changes.push({ now, before }), safetyReadMs: 600_000, restartMinMs: 50 });
    try {
      f.start();
      await f.firstRead;
      expect(f.current?.interfaces).toEqual([]);
      const pid = await until(() => f.monitorPid, { what: 'the monitor running', timeoutMs: 5_000, intervalMs: 50 });

      await h.exec('ip', ['route', 'add', 'default', 'via', '10.71.0.1', 'dev', ifA]);
      await until(() => f.current?.interfaces.join() === ifA, { what: `default route on ${ifA} seen`, timeoutMs: 5_000, intervalMs: 50 });
      await h.exec('ip', ['route', 'replace', 'default', 'via', '10.72.0.1', 'dev', ifB]);
      await until(() => f.current?.interfaces.join() === ifB, { what: `default route moved to ${ifB}`, timeoutMs: 5_000, intervalMs: 50 });
      expect(changes.map((c) => c.now.interfaces.join())).toEqual(['', ifA, ifB]);
      expect(changes[2]!.before?.interfaces).toEqual([ifA]);

      // Killed from outside: restarted (new pid), and what changed meanwhile is read.
      process.kill(pid, 'SIGKILL');
      await until(() => isGoneOrZombie(pid), { what: 'the old monitor gone', timeoutMs: 5_000, intervalMs: 50 });
      await h.exec('ip', ['-6', 'route', 'add', 'default', 'via', 'fd71::1', 'dev', ifA]);
      const again = await until(() => (f.monitorPid !== undefined && f.monitorPid !== pid ? f.monitorPid : undefined), { what: 'a new monitor', timeoutMs: 5_000, intervalMs: 50 });
      await until(() => f.current?.interfaces.join() === [ifA, ifB].sort().join(), { what: 'the IPv6 default route seen', timeoutMs: 5_000, intervalMs: 50 });
      expect(lines.some((l) => l.event === 'route-monitor-exited' && l.exit === 'signal SIGKILL')).toBe(true);

      await f.stop();
      expect(f.monitorPid).toBeUndefined();
      expect(await waitGone([again], 3_000)).toEqual([]);
    } finally {
      await f.stop();
      await h.exec('ip', ['route', 'del', 'default'], { reject: false });
      await h.exec('ip', ['-6', 'route', 'del', 'default'], { reject: false });
    }
  });

  it('gives the monitor up after bounded restarts and reads periodically instead', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const f = new RouteFollower({
      queue,
      log,
      ipv6: async () => false,
      onChange: () => undefined,
      command: 'dgt-no-such-ip',
      restartMinMs: 10,
      restartMaxMs: 20,
      maxQuickRestarts: 2,
      fallbackPollMs: 100,
    });
    try {
      f.start();
      await until(() => f.polling, { what: 'polling', timeoutMs: 5_000, intervalMs: 50 });
      const restarts = lines.filter((l) => l.event === 'route-monitor-exited').length;
      expect(restarts).toBe(2);
      expect(lines.filter((l) => l.event === 'route-monitor-failed')).toHaveLength(1);
      // Reads keep failing (no such command); said once, not once per poll.
      await new Promise((r) => setTimeout(r, 500));
      expect(lines.filter((l) => l.event === 'routes-unreadable')).toHaveLength(1);
      expect(lines.filter((l) => l.event === 'route-monitor-exited')).toHaveLength(restarts);
    } finally {
      await f.stop();
    }
  });
});
