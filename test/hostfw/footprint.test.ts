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
    expect(await footprint.sync(plan, 'allow')).toEqual({ inserted: [], removed: [], marksWritten: false, needed: ['inet admin input', 'inet admin forward'] });
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
