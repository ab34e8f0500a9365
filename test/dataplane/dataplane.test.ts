// The dataplane on a real kernel: real iptables-restore and iptables-save, inside a network
// namespace this test makes and removes. No mock of iptables anywhere.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables, RestoreError } from '../../src/dataplane/iptables.js';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { BACK, BRIDGE, FRONT, container, plan as planOn } from '../plan/fixtures.js';

const plan = (containers: ContainerFacts[]): RuleSet => planOn(containers, [BRIDGE, FRONT, BACK]);
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, saveClean } from '../support/netns.js';

let ns: Netns;
let queue: CommandQueue;
let dataplane: Dataplane;
let pristine: string;

const saveAll = (): Promise<string> => saveClean(ns);


const fleet = Array.from({ length: 30 }, (_, i) =>
  container(`svc${i}`, {
    network: [BRIDGE, FRONT, BACK][i % 3],
    ip: `172.${[17, 20, 21][i % 3]}.0.${i + 2}`,
    labels: {
      'dockgate.ports': i % 4 === 0 ? `${20000 + i}:80,${21000 + i}:53/udp` : '80',
      'dockgate.mode': i % 2 === 0 ? 'dnat' : 'proxy',
      'dockgate.from': i % 5 === 0 ? '10.0.0.0/24,192.168.9.1' : '0.0.0.0/0',
      'dockgate.egress': i % 3 === 0 ? 'false' : 'true',
    },
    publish: [`${i % 2 ? '10.0.0.5' : '0.0.0.0'}:${10000 + i}:80/tcp`],
  }),
);

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('dp');
  // An admin's hand-kept rules that dockgate must never touch.
  await ns.exec('iptables', ['-P', 'INPUT', 'DROP']);
  await ns.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
  await ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'RETURN']);
  pristine = await saveAll();
  queue = new CommandQueue({ netns: ns.path });
  dataplane = new Dataplane(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }));
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('dataplane on a real kernel', () => {
  it('writes the full plan, and iptables-save reads back exactly the plan', async () => {
    const p = plan(fleet);
    const r = await dataplane.sync(p);
    expect(r.kind).toBe('full');
    const state = parseSave((await ns.exec('iptables-save', [])).stdout);
    const drift = compare(p, state);
    expect(drift.chains).toEqual([]);
    expect(drift.jumps).toEqual([]);
    expect(drift.clean).toBe(true);
    // Admin rules are still there, and ours come first.
    const input = state.get('filter')!.chains.get('INPUT')!;
    expect(input[0]).toBe('-m comment --comment dockgate -j DOCKGATE-INPUT');
    expect(input).toContain('-i lo -j ACCEPT');
  });

  it('re-applying the same plan (a restarted daemon) changes nothing and duplicates nothing', async () => {
    const before = await saveAll();
    const fresh = new Dataplane(new Iptables(queue, dataplane.iptables.options));
    const r = await fresh.sync(plan(fleet));
    expect(r.kind).toBe('none');
    await fresh.repair(plan(fleet));
    expect(await saveAll()).toBe(before);
    const jumps = (await saveAll()).split('\n').filter((l) => /^-A (INPUT|FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*DOCKGATE/.test(l));
    expect(jumps).toHaveLength(6);
  });

  it("one container's change rewrites only that container's chains", async () => {
    const before = (await saveAll()).split('\n');
    const changed = fleet.map((c, i) => (i === 7 ? { ...c, labels: { ...c.labels, 'dockgate.ports': '80,81' }, ports: [...c.ports, { hostIp: '0.0.0.0', hostPort: 10081, containerPort: 81, protocol: 'tcp' as const }] } : c));
    const r = await dataplane.sync(plan(changed));
    expect(r.kind).toBe('diff');
    const after = (await saveAll()).split('\n');
    const short = fleet[7]!.id.slice(0, 12);
    const removed = before.filter((l) => !after.includes(l));
    const added = after.filter((l) => !before.includes(l));
    expect(added.length).toBeGreaterThan(0);
    for (const l of [...removed, ...added]) expect(l).toContain(short);
    expect(compare(plan(changed), parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
  });

  it('removing a container removes its chains and jumps, and nothing else', async () => {
    const gone = fleet[4]!;
    const rest = fleet.filter((c) => c !== gone);
    await dataplane.sync(plan(rest));
    const text = await saveAll();
    expect(text).not.toContain(gone.id.slice(0, 12));
    expect(compare(plan(rest), parseSave(text)).clean).toBe(true);
  });

  it('a container alone in its shard brings the shard chains and their jumps, and takes them away again', async () => {
    const base = fleet.slice(0, 10);
    await dataplane.sync(plan(base));
    const before = await saveAll();
    const lone = container('lone', { id: 'fe'.padEnd(64, '7'), ip: '172.17.0.200', labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' }, publish: ['0.0.0.0:10500:80/tcp'] });
    expect((await dataplane.sync(plan([...base, lone]))).kind).toBe('diff');
    const during = await saveAll();
    expect(during).toContain('-A DOCKGATE-DNAT -m comment --comment dockgate -j DOCKGATE-DNAT-fe\n');
    expect(during).toContain('-A DOCKGATE-CONTAINERS -m comment --comment dockgate -j DOCKGATE-CONTAINERS-fe\n');
    expect(during).toMatch(/-A DOCKGATE-DNAT-fe -p tcp -m tcp --dport 10500 .* -j DNAT --to-destination 172\.17\.0\.200:80\n/);
    expect(compare(plan([...base, lone]), parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
    expect((await dataplane.sync(plan(base))).kind).toBe('diff');
    expect(await saveAll()).toBe(before);
  });

  it('detects drift (flushed chain, deleted jump, foreign rule) and repairs it', async () => {
    const p = plan(fleet.slice(0, 10));
    await dataplane.sync(p);
    await ns.exec('iptables', ['-t', 'nat', '-F', 'DOCKGATE-POSTROUTING']);
    await ns.exec('iptables', ['-D', 'INPUT', '-m', 'comment', '--comment', 'dockgate', '-j', 'DOCKGATE-INPUT']);
    await ns.exec('iptables', ['-A', 'DOCKGATE-CONTAINERS', '-j', 'ACCEPT']);
    // A jump of ours (dockgate's comment) that the plan does not hold: an older version's.
    // The admin's own jumps, without that comment, are left alone (foreign-rules.test.ts).
    await ns.exec('iptables', ['-I', 'FORWARD', '-i', 'eth9', '-m', 'comment', '--comment', 'dockgate', '-j', 'DOCKGATE-FORWARD']);
    const drift = await dataplane.check(p);
    expect(drift.clean).toBe(false);
    expect(drift.chains.map((c) => c.chain).sort()).toEqual(['DOCKGATE-CONTAINERS', 'DOCKGATE-POSTROUTING']);
    expect(drift.jumps).toEqual([{ table: 'filter', builtin: 'INPUT', target: 'DOCKGATE-INPUT', count: 0 }]);
    expect(drift.strays).toHaveLength(1);
    const r = await dataplane.repair(p);
    expect(r.kind).toBe('full');
    expect((await dataplane.check(p)).clean).toBe(true);
  });

  it('a failing restore changes nothing (atomic) and reports the failing line', async () => {
    const p = plan(fleet.slice(0, 3));
    await dataplane.sync(p);
    const before = await saveAll();
    // Inside dockgate's grammar (test/dataplane/iptables.test.ts has what is not), but a jump to
    // a chain the kernel does not have.
    const bad = new Map([['filter' as const, '*filter\n:DOCKGATE-INPUT - [0:0]\n-A DOCKGATE-INPUT -m comment --comment x -j DOCKGATE-CI-0123456789ab\nCOMMIT\n']]);
    const err = await dataplane.iptables.restore(bad).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).failingLines.join()).toContain('DOCKGATE-CI-0123456789ab');
    expect(await saveAll()).toBe(before);
  });

  it('flush keeps DOCKGATE-USER and the admin\'s rules in it; --user-chain leaves iptables-save exactly as before', async () => {
    await dataplane.sync(plan(fleet));
    expect(await saveAll()).not.toBe(pristine);
    await ns.exec('iptables', ['-A', 'DOCKGATE-USER', '-s', '203.0.113.9/32', '-j', 'DROP']);
    await dataplane.flush();
    const kept = await saveAll();
    expect(kept).toContain('-A DOCKGATE-USER -s 203.0.113.9/32 -j DROP');
    expect(kept.split('\n').filter((l) => l.includes('DOCKGATE') && !l.includes('DOCKGATE-USER'))).toEqual([]);
    await dataplane.flushReport({ userChain: true });
    expect(await saveAll()).toBe(pristine);
    await dataplane.flushReport({ userChain: true });
    expect(await saveAll()).toBe(pristine);
  });

  it('a repair creates DOCKGATE-USER when it is missing and never touches the rules in it', async () => {
    const p = plan(fleet);
    await dataplane.sync(p);
    await ns.exec('iptables', ['-A', 'DOCKGATE-USER', '-s', '203.0.113.9/32', '-j', 'DROP']);
    await ns.exec('iptables', ['-F', 'DOCKGATE-INPUT']);
    expect((await dataplane.repair(p)).kind).toBe('full');
    expect(await saveAll()).toContain('-A DOCKGATE-USER -s 203.0.113.9/32 -j DROP');
    expect(compare(p, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
    await dataplane.flushReport({ userChain: true });
    expect(await saveAll()).toBe(pristine);
  });
});
