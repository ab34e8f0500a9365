// dockgate's footprint on a real kernel, in namespaces this test makes: a "host" with dockgate's
// iptables rules for the fixture plan and a native nft admin table (input and forward policy
// drop), and an "outside" client joined by a veth pair. Proves with real TCP connections that
// the proxy opening passes once the footprint is in, that an unlabelled port stays closed, that
// the footprint comes back after the admin's table is rewritten, and that leave and flush take
// every trace away.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Footprint } from '../../src/dataplane/footprint.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { Nft } from '../../src/dataplane/nft.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { byOpening } from '../../src/hostfw/report.js';
import { renderPlan } from '../../src/plan/restore.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, killQuiet, linkNamespaces } from '../support/netns.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { DEFAULTS, DUAL, container } from '../plan/fixtures.js';
import { HOST_IP, fixturePlan } from './plan-fixture.js';

const ADMIN = readFileSync(join(import.meta.dirname, 'fixtures', 'admin-drop.nft'), 'utf8');
const plan = fixturePlan();

let host: Netns;
let outside: Netns;
let footprint: Footprint;
let dir: string;
const servers: number[] = [];

/** A TCP connect from outside: true when the host's listener answered within 2 s. */
async function reaches(port: number): Promise<boolean> {
  const r = await outside.exec('busybox', ['nc', '-w', '2', HOST_IP, String(port)], { input: 'hi\n', reject: false, timeoutMs: 5000 });
  return r.exitCode === 0 && r.stdout.includes('hello');
}

async function mangle(): Promise<string> {
  return (await host.exec('iptables-save', ['-t', 'mangle'])).stdout;
}

async function ruleset(): Promise<string> {
  return (await host.exec('nft', ['list', 'ruleset'])).stdout;
}

beforeAll(async () => {
  await cleanupLeftovers();
  host = await createNetns('fph');
  outside = await createNetns('fpo');
  await linkNamespaces(host, `${HOST_IP}/24`, outside, '10.0.0.9/24');
  await host.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
  dir = await mkdtemp(join(tmpdir(), 'dgt-fp-'));
  await writeFile(join(dir, 'admin.nft'), ADMIN);
  await host.exec('nft', ['-f', join(dir, 'admin.nft')]);
  // Listeners on the proxy port and on a port no label opens: each answers "hello".
  for (const port of [8000, 8001]) {
    const p = execa('nsenter', [`--net=${host.path}`, 'busybox', 'nc', '-ll', '-p', String(port), '-e', 'echo', 'hello'], { reject: false });
    servers.push(p.pid!);
  }
  const queue = new CommandQueue({ netns: host.path });
  footprint = new Footprint(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }), new Nft(queue));
}, 60_000);

afterAll(async () => {
  for (const pid of servers) killQuiet(pid);
  if (host) await destroyNetns(host);
  if (outside) await destroyNetns(outside);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('footprint in a native nft firewall', () => {
  it('before: the admin table drops the labelled port and status says blocked, naming the chain', async () => {
    expect(await reaches(8000)).toBe(false);
    const state = await footprint.inspect(plan, 'allow');
    const web = plan.containers.find((c) => c.name === 'web')!.openings[0]!;
    const effect = byOpening(state.verdicts).get(web)!;
    expect(effect.state).toBe('blocked');
    expect(effect.blockers[0]!.chain).toBe('inet admin input');
    expect(state.needed).toEqual(['inet admin input', 'inet admin forward']);
  });

  it('allow: one mark accept per blocking chain, marks mirrored in mangle; the labelled port opens, the other stays shut', async () => {
    const r = await footprint.sync(plan, 'allow');
    expect(r.inserted).toEqual(['inet admin input', 'inet admin forward']);
    expect(r.marksWritten).toBe(true);
    expect(await mangle()).toContain('-A INPUT -m comment --comment dockgate -j DOCKGATE-MINPUT');
    expect(await mangle()).toContain('--ctstate NEW -m comment --comment "web/aaaaaaaaaaaa" -j MARK --set-xmark 0x1000000/0x1000000');
    expect(await ruleset()).toMatch(/chain input \{\n\t\ttype filter hook input priority filter; policy drop;\n\t\tmeta mark & 0x01000000 == 0x01000000 accept comment "dockgate"/);
    expect(await reaches(8000)).toBe(true);
    expect(await reaches(8001)).toBe(false);
    const state = await footprint.inspect(plan, 'allow');
    expect(state.marksInPlace).toBe(true);
    expect(state.verdicts.map((v) => v.state)).toEqual(state.verdicts.map(() => 'effective'));
    // Again: nothing to do.
    expect(await footprint.sync(plan, 'allow')).toEqual({ inserted: [], removed: [], marksWritten: false, needed: ['inet admin input', 'inet admin forward'], retry: false });
  });

  it('the admin reloads the table (`nft -f` with flush, as firewalld and nftables.service do): the next sync puts it back', async () => {
    // Only the admin table is replaced; dockgate's iptables tables stay.
    await host.exec('nft', ['delete', 'table', 'inet', 'admin']);
    await host.exec('nft', ['-f', join(dir, 'admin.nft')]);
    expect(await reaches(8000)).toBe(false);
    const r = await footprint.sync(plan, 'allow');
    expect(r.inserted).toEqual(['inet admin input', 'inet admin forward']);
    expect(await reaches(8000)).toBe(true);
  });

  it('a second copy of the footprint is removed, one stays', async () => {
    await host.exec('nft', ['insert', 'rule', 'inet', 'admin', 'input', 'meta', 'mark', 'and', '0x01000000', '==', '0x01000000', 'accept', 'comment', '"dockgate"']);
    const r = await footprint.sync(plan, 'allow');
    expect(r.removed).toEqual(['inet admin input']);
    const rs = parseNftJson((await host.exec('nft', ['-j', 'list', 'table', 'inet', 'admin'])).stdout);
    expect(rs.chains.find((c) => c.name === 'input')!.rules.filter((x) => x.comment === 'dockgate')).toHaveLength(1);
  });

  it('leave: nothing of dockgate stays in the admin table or in mangle, and the port is blocked again', async () => {
    const r = await footprint.sync(plan, 'leave');
    expect(r.removed.sort()).toEqual(['inet admin forward', 'inet admin input']);
    expect(r.needed).toEqual(['inet admin input', 'inet admin forward']);
    expect(await ruleset()).not.toContain('dockgate"');
    expect(await mangle()).not.toContain('DOCKGATE');
    expect(await reaches(8000)).toBe(false);
  });

  it('flush removes the footprint and the marks, and the mangle table it created', async () => {
    await footprint.sync(plan, 'allow');
    expect(await ruleset()).toContain('comment "dockgate"');
    const done = await footprint.remove();
    expect(done.sort()).toEqual(['inet admin forward', 'inet admin input', 'ip mangle']);
    expect(await ruleset()).not.toContain('comment "dockgate"');
    expect(await ruleset()).not.toContain('table ip mangle');
    expect(await footprint.remove()).toEqual([]);
  });
});

describe('IPv6: the same footprint, with ip6tables marks', () => {
  const HOST6 = 'fd00:9::5';
  const v6plan = buildRuleSet({
    labelPrefix: 'dockgate',
    defaults: DEFAULTS,
    networks: [DUAL],
    containers: [
      container('web6', { id: 'c'.repeat(64), network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', publish: [`[${HOST6}]:8600:80/tcp`], labels: { 'dockgate.ports': '80' } }),
    ],
  });
  let fp6: Footprint;
  let server: number | undefined;

  beforeAll(async () => {
    await host.exec('ip', ['-6', 'addr', 'add', `${HOST6}/64`, 'dev', 'dgv1a', 'nodad']);
    await outside.exec('ip', ['-6', 'addr', 'add', 'fd00:9::9/64', 'dev', 'dgv1b', 'nodad']);
    await host.exec('ip6tables-restore', ['--noflush'], { input: [...(await import('../../src/plan/restore.js')).renderFull(familyRules(6), new Map()).values()].join('') });
    // The admin table of the first part is still there (inet: it sees IPv6 too); like every real
    // host it lets neighbour discovery in.
    await host.exec('nft', ['add', 'rule', 'inet', 'admin', 'input', 'meta', 'l4proto', 'ipv6-icmp', 'accept']);
    const p = execa('nsenter', [`--net=${host.path}`, 'busybox', 'nc', '-ll', '-p', '8600', '-e', 'echo', 'hello'], { reject: false });
    server = p.pid;
    const queue = new CommandQueue({ netns: host.path });
    const opts = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 };
    fp6 = new Footprint(new Iptables(queue, opts), new Nft(queue), new Iptables(queue, { ...opts, restoreCommand: 'ip6tables-restore', saveCommand: 'ip6tables-save' }, 6));
  });

  afterAll(() => {
    if (server) killQuiet(server);
  });

  function familyRules(family: 4 | 6) {
    const f = family === 6 ? v6plan.ipv6! : v6plan;
    return { chains: f.chains, jumps: f.jumps, containers: v6plan.containers };
  }

  const reaches6 = async (): Promise<boolean> => {
    const r = await outside.exec('busybox', ['nc', '-w', '2', HOST6, '8600'], { input: 'hi\n', reject: false, timeoutMs: 5000 });
    return r.exitCode === 0 && r.stdout.includes('hello');
  };

  it('blocked by inet admin input until ip6tables marks and the footprint are in; then it answers', async () => {
    const before = byOpening((await fp6.inspect(v6plan, 'allow')).verdicts);
    const web6 = v6plan.containers[0]!.openings.find((o) => o.family === 6)!;
    expect(before.get(web6)!.state).toBe('blocked');
    expect(await reaches6()).toBe(false);
    await fp6.sync(v6plan, 'allow');
    expect((await host.exec('ip6tables-save', ['-t', 'mangle'])).stdout).toContain('-j MARK --set-xmark 0x1000000/0x1000000');
    const after = await fp6.inspect(v6plan, 'allow');
    expect(after.marksInPlace6).toBe(true);
    expect(byOpening(after.verdicts).get(web6), JSON.stringify(byOpening(after.verdicts).get(web6))).toMatchObject({ state: 'effective' });
    expect(await reaches6()).toBe(true);
    const done = await fp6.remove();
    expect(done).toEqual(expect.arrayContaining(['ip mangle', 'ip6 mangle', 'inet admin input']));
    expect(await reaches6()).toBe(false);
  });
});
