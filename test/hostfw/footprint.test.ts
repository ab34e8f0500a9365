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
import { Nft, footprintArgs } from '../../src/dataplane/nft.js';
import type { MarkBit } from '../../src/model/mark-bit.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { byOpening } from '../../src/hostfw/report.js';
import { renderPlan } from '../../src/plan/restore.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, killQuiet, linkNamespaces } from '../support/netns.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DEFAULTS, DUAL, container } from '../plan/fixtures.js';
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
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    expect(r.marksWritten).toBe(true);
    expect(await mangle()).toContain('-A INPUT -m comment --comment dockgate -j DOCKGATE-MINPUT');
    expect(await mangle()).toContain('--ctstate NEW -m comment --comment "web/aaaaaaaaaaaa" -j MARK --set-xmark 0x1000000/0x1000000');
    // At the end, before the policy drop: below every rule of the admin's.
    expect(await ruleset()).toMatch(/chain input \{\n\t\ttype filter hook input priority filter; policy drop;\n(\t\t(?!meta mark).*\n)+\t\tmeta mark & 0x01000000 == 0x01000000 accept comment "dockgate"\n\t\}/);
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
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    expect(await reaches(8000)).toBe(true);
  });

  it('a second copy of the footprint (here at the top, out of place) is removed, the one in place stays', async () => {
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

// The admin's bans must outlive dockgate's footprint: a ban tool's own table (policy accept, a
// source set with timeouts, as CrowdSec's nftables bouncer writes it) gets no footprint at all,
// and in a chain that drops everything at its end the footprint goes below the admin's ban rule.
describe('bans in nft stay bans', () => {
  const BANS = `table inet bans {
  set v4 { type ipv4_addr; flags timeout; }
  chain input { type filter hook input priority -10; policy accept; ip saddr @v4 drop; }
  chain forward { type filter hook forward priority -10; policy accept; ip saddr @v4 drop; }
}
table inet admin {
  set deny { type ipv4_addr; }
  chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; ip saddr @deny drop; }
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; }
}
`;
  const CROWDSEC_BANNED = '10.0.0.21';
  const ADMIN_BANNED = '10.0.0.22';
  const FREE = '10.0.0.23';

  /** A TCP exchange with the proxy port from one of the outside's addresses. */
  async function reachesFrom(src: string): Promise<boolean> {
    const py = 'import socket,sys\ns=socket.create_connection((sys.argv[1],int(sys.argv[2])),2,(sys.argv[3],0))\ns.sendall(b"hi\\n")\nprint(s.recv(16).decode())';
    const r = await outside.exec('python3', ['-c', py, HOST_IP, '8000', src], { reject: false, timeoutMs: 5000 });
    return r.exitCode === 0 && r.stdout.includes('hello');
  }

  const adminInput = async () => parseNftJson((await host.exec('nft', ['-j', 'list', 'table', 'inet', 'admin'])).stdout).chains.find((c) => c.name === 'input')!;

  beforeAll(async () => {
    await footprint.remove();
    await host.exec('nft', ['flush', 'ruleset']);
    await host.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
    await writeFile(join(dir, 'bans.nft'), BANS);
    await host.exec('nft', ['-f', join(dir, 'bans.nft')]);
    for (const a of [CROWDSEC_BANNED, ADMIN_BANNED, FREE]) await outside.exec('ip', ['addr', 'add', `${a}/24`, 'dev', 'dgv1b']);
    await host.exec('nft', ['add', 'element', 'inet', 'bans', 'v4', `{ ${CROWDSEC_BANNED} timeout 1h }`]);
    await host.exec('nft', ['add', 'element', 'inet', 'admin', 'deny', `{ ${ADMIN_BANNED} }`]);
  });

  it('the ban tool\'s chains get nothing, the admin chain gets it below its ban; banned sources stay out, the free one gets in', async () => {
    const r = await footprint.sync(plan, 'allow');
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    expect(r.inserted[0]!.where).toBe('inet admin input (at its end, before the policy drop)');
    const rs = await ruleset();
    expect(rs.slice(rs.indexOf('table inet bans'), rs.indexOf('table inet admin'))).not.toContain('dockgate');
    const input = await adminInput();
    expect(input.rules.findIndex((x) => x.comment === 'dockgate')).toBe(input.rules.length - 1);
    expect(await reachesFrom(FREE)).toBe(true);
    expect(await reachesFrom(CROWDSEC_BANNED)).toBe(false);
    expect(await reachesFrom(ADMIN_BANNED)).toBe(false);
    // Status does not call the opening effective: whether it passes depends on who sends.
    const web = plan.containers.find((c) => c.name === 'web')!.openings[0]!;
    const effect = byOpening((await footprint.inspect(plan, 'allow')).verdicts).get(web)!;
    expect(effect.state).toBe('may be blocked');
    expect([...new Set(effect.blockers.map((b) => b.chain))]).toEqual(['inet bans input', 'inet admin input']);
  });

  it('a ban rule added below the footprint: the next sync moves the footprint below it', async () => {
    await host.exec('nft', ['add', 'rule', 'inet', 'admin', 'input', 'ip', 'saddr', FREE, 'drop']);
    // Until then the footprint, above the new rule, lets the source in.
    expect(await reachesFrom(FREE)).toBe(true);
    const r = await footprint.sync(plan, 'allow');
    expect(r.removed).toEqual(['inet admin input']);
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input']);
    const input = await adminInput();
    expect(input.rules.filter((x) => x.comment === 'dockgate')).toHaveLength(1);
    expect(input.rules.at(-1)!.comment).toBe('dockgate');
    expect(await reachesFrom(FREE)).toBe(false);
    // In place now: nothing more to do.
    const again = await footprint.sync(plan, 'allow');
    expect([again.inserted, again.removed]).toEqual([[], []]);
  });

  it('a chain that ends in a reject for everything (firewalld\'s shape): the footprint goes directly before that reject, below the ban', async () => {
    await host.exec('nft', ['delete', 'table', 'inet', 'admin']);
    await host.exec('nft', ['-f', '-'], {
      input: `table inet zone {
  set deny { type ipv4_addr; }
  chain filter_INPUT { type filter hook input priority 10; policy accept; ct state established,related accept; iifname "lo" accept; jump filter_INPUT_ZONES; reject with icmpx admin-prohibited; }
  chain filter_INPUT_ZONES { iifname "dgv1a" goto filter_IN_public; goto filter_IN_public; }
  chain filter_IN_public { jump filter_IN_public_deny; jump filter_IN_public_allow; meta l4proto { icmp, ipv6-icmp } accept; reject with icmpx admin-prohibited; }
  chain filter_IN_public_deny { ip saddr @deny reject with icmpx admin-prohibited; }
  chain filter_IN_public_allow { tcp dport 22 accept; }
}
`,
    });
    await host.exec('nft', ['add', 'element', 'inet', 'zone', 'deny', `{ ${ADMIN_BANNED} }`]);
    const r = await footprint.sync(plan, 'allow');
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet zone filter_INPUT']);
    expect(r.inserted[0]!.where).toMatch(/^inet zone filter_INPUT \(directly before rule handle \d+: reject in chain filter_IN_public\)$/);
    const pub = parseNftJson((await host.exec('nft', ['-j', 'list', 'table', 'inet', 'zone'])).stdout).chains.find((c) => c.name === 'filter_IN_public')!;
    expect(pub.rules.map((x) => x.comment ?? '')).toEqual(['', '', '', 'dockgate', '']);
    expect(await reachesFrom(FREE)).toBe(true);
    expect(await reachesFrom(ADMIN_BANNED)).toBe(false);
    expect(await reachesFrom(CROWDSEC_BANNED)).toBe(false);
  });
});

// The marks are a mirror of dockgate's accepts, so they must never outlive one: a removed
// opening's mark goes before its accept does. And one family's broken writer must not freeze
// the other family's marks.
describe('marks follow the plan', () => {
  beforeAll(async () => {
    await footprint.remove();
    await host.exec('nft', ['flush', 'ruleset']);
    await host.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
    await host.exec('nft', ['-f', join(dir, 'admin.nft')]);
  });

  it("before the filter write, a removed opening's mark is gone already (marksFirst), and a same-plan check writes nothing", async () => {
    await footprint.sync(plan, 'allow');
    expect(await mangle()).toContain('"web/aaaaaaaaaaaa" -j MARK');
    expect(await footprint.marksFirst(plan)).toBe(false);
    // web stopped: the next plan has api only.
    const next = buildRuleSet({
      labelPrefix: 'dockgate',
      defaults: { ...DEFAULTS, from: [{ family: 4, text: '0.0.0.0/0' }] },
      networks: [BRIDGE],
      ipv6: false,
      containers: [container('api', { id: 'b'.repeat(64), ip: '172.17.0.3', labels: { 'dockgate.ports': `${HOST_IP}:8080:80`, 'dockgate.mode': 'dnat' } })],
    });
    expect(await footprint.marksFirst(next)).toBe(true);
    expect(await mangle()).not.toContain('web/aaaaaaaaaaaa');
    // The filter accept is still there (written after): the port is shut by the foreign chain all the same.
    expect(await mangle()).toContain('"api/bbbbbbbbbbbb"');
    expect(await reaches(8000)).toBe(false);
  });

  it('an ip6tables that cannot write: the IPv4 marks and the footprint still go in, and the failure is reported', async () => {
    const queue = new CommandQueue({ netns: host.path });
    const opts = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 };
    const broken = new Iptables(queue, { ...opts, restoreCommand: 'false', saveCommand: 'ip6tables-save' }, 6);
    const fp = new Footprint(new Iptables(queue, opts), new Nft(queue), broken);
    await footprint.remove();
    const v6plan = { ...plan, ipv6: { chains: plan.chains, jumps: plan.jumps } } as typeof plan;
    const r = await fp.sync(v6plan, 'allow');
    expect(r.marksFailed).toMatch(/false/);
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    expect(await mangle()).toContain('"web/aaaaaaaaaaaa" -j MARK');
    expect(await reaches(8000)).toBe(true);
    await fp.remove().catch(() => undefined);
    await footprint.remove();
  });
});

describe('nft names and handles', () => {
  beforeAll(async () => {
    await footprint.remove();
    await host.exec('nft', ['flush', 'ruleset']);
    await host.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
    // Names nft's command line would need quoted: a table and a chain starting with a digit.
    const doc = {
      nftables: [
        { add: { table: { family: 'inet', name: '9fw' } } },
        { add: { chain: { family: 'inet', table: '9fw', name: '2nd', type: 'filter', hook: 'input', prio: 0, policy: 'drop' } } },
        { add: { rule: { family: 'inet', table: '9fw', chain: '2nd', expr: [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }] } } },
      ],
    };
    await host.exec('nft', ['-j', JSON.stringify(doc)]);
  });

  it('a foreign table and chain whose names need quoting get the footprint and lose it again', async () => {
    const r = await footprint.sync(plan, 'allow');
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet 9fw 2nd']);
    expect(await reaches(8000)).toBe(true);
    expect(await footprint.remove()).toEqual(expect.arrayContaining(['inet 9fw 2nd']));
    expect(await ruleset()).not.toContain('dockgate');
    expect(await reaches(8000)).toBe(false);
  });

  it("a handle that is no longer dockgate's rule (the table was rebuilt since the read) is never deleted", async () => {
    const nft = new Nft(new CommandQueue({ netns: host.path }));
    const chain = (await nft.listForeign()).chains.find((c) => c.name === '2nd')!;
    const admins = chain.rules[0]!;
    expect(await nft.deleteFootprint(chain, admins.handle)).toBe(false);
    expect((await nft.listForeign()).chains.find((c) => c.name === '2nd')!.rules).toHaveLength(1);
  });
});

// foreign_chains_mark: the bit is the admin's choice, and a reload to another one must leave
// nothing with the old bit behind (an old mark with no accept, or an old accept another tool's
// mark could open).
describe('foreign_chains_mark: another bit, and a reload to a third', () => {
  const OTHER = 0x00200000 as MarkBit;
  const NEXT = 0x40000000 as MarkBit;
  const withBit = (text: string, bit: number): boolean => text.includes(`0x${bit.toString(16)}/`) || text.includes(`0x${bit.toString(16).padStart(8, '0')}`);

  beforeAll(async () => {
    await footprint.remove();
    await host.exec('nft', ['flush', 'ruleset']);
    await host.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
    await host.exec('nft', ['-f', join(dir, 'admin.nft')]);
  });

  it('with another bit configured the labelled port opens through the footprint, and the marks use that bit only', async () => {
    expect(await reaches(8000)).toBe(false);
    const r = await footprint.sync(plan, 'allow', OTHER);
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    const m = await mangle();
    expect(m).toContain('"web/aaaaaaaaaaaa" -j MARK --set-xmark 0x200000/0x200000');
    expect(withBit(m, 0x01000000)).toBe(false);
    const rs = await ruleset();
    expect(rs.match(/meta mark & 0x00200000 == 0x00200000 accept comment "dockgate"/g)).toHaveLength(2);
    expect(withBit(rs, 0x01000000)).toBe(false);
    expect(await reaches(8000)).toBe(true);
    expect(await reaches(8001)).toBe(false);
    const state = await footprint.inspect(plan, 'allow', OTHER);
    expect(state.marksInPlace).toBe(true);
    expect(state.verdicts.map((v) => v.state)).toEqual(state.verdicts.map(() => 'effective'));
    // The same kernel judged for the default bit: neither marks nor footprint are that bit's.
    const asDefault = await footprint.inspect(plan, 'allow');
    expect(asDefault.marksInPlace).toBe(false);
    expect(asDefault.verdicts.some((v) => v.state === 'effective')).toBe(false);
  });

  it('a reload to a new bit moves marks (before the filter write) and footprint; no rule with the old bit is left, the port still opens', async () => {
    expect(await footprint.marksFirst(plan, NEXT)).toBe(true);
    expect(withBit(await mangle(), OTHER)).toBe(false);
    const r = await footprint.sync(plan, 'allow', NEXT);
    expect(r.inserted.map((i) => i.chain)).toEqual(['inet admin input', 'inet admin forward']);
    expect(r.removed.sort()).toEqual(['inet admin forward', 'inet admin input']);
    const m = await mangle();
    expect(m).toContain('-j MARK --set-xmark 0x40000000/0x40000000');
    expect(withBit(m, OTHER)).toBe(false);
    const rs = await ruleset();
    expect(withBit(rs, OTHER)).toBe(false);
    expect(rs.match(/meta mark & 0x40000000 == 0x40000000 accept comment "dockgate"/g)).toHaveLength(2);
    expect(await reaches(8000)).toBe(true);
    expect(await reaches(8001)).toBe(false);
    const again = await footprint.sync(plan, 'allow', NEXT);
    expect([again.inserted, again.removed, again.marksWritten]).toEqual([[], [], false]);
  });

  it('flush removes a footprint whatever its bit', async () => {
    // Left by a daemon that stopped before its reload to NEXT was through.
    await host.exec('nft', ['insert', 'rule', 'inet', 'admin', 'input', ...footprintArgs(OTHER)]);
    await footprint.remove();
    expect(await ruleset()).not.toContain('dockgate');
    expect(await mangle()).not.toContain('MARK');
    expect(await reaches(8000)).toBe(false);
  });
});
