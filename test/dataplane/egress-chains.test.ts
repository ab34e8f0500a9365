// Egress allow-lists on a real kernel: the shared chain of a list (one per list and family) and
// the containers' jumps to it go in through iptables-restore and read back exactly as planned; a
// changed list moves its containers' jumps to another chain and the chain nobody jumps to any more
// goes; the mangle marks mirror the chain within iptables' name limit. The rules are written in a
// namespace this test makes (with the ipsets the names match on) and removes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { Ipsets } from '../../src/dataplane/ipset.js';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { MARK_TABLES, markPlan } from '../../src/plan/marks.js';
import { BRIDGE, container, plan as planOn } from '../plan/fixtures.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';

let ns: Netns;
let queue: CommandQueue;
let dataplane: Dataplane;

const LIST = 'api.example.com:443,10.0.0.9:7001,192.168.0.0/16';
const plan = (containers: ContainerFacts[]): RuleSet => planOn(containers, [BRIDGE], { ipv6: false, resolvers: ['10.0.0.53'] });
const fleet = (n: number, list: (i: number) => string): ContainerFacts[] =>
  Array.from({ length: n }, (_, i) => container(`app${i}`, { id: `${(i * 37).toString(16).padStart(2, '0')}${'a'.repeat(62)}`.slice(0, 64), ip: `172.17.0.${i + 2}`, labels: { 'dockgate.egress': list(i) } }));
const egressChains = (text: string): string[] => [...new Set(text.split('\n').flatMap((l) => /^:(DOCKGATE-EGRESS-[0-9a-f]{10}) /.exec(l)?.[1] ?? []))];
const save = async (): Promise<string> => (await ns.exec('iptables-save', ['-t', 'filter'])).stdout;

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('eg');
  queue = new CommandQueue({ netns: ns.path });
  dataplane = new Dataplane(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }));
  // The names' sets exist before any rule names them, as the daemon makes sure (egress-sync.ts).
  const p = plan(fleet(1, () => LIST));
  await new Ipsets(queue).ensure(p.egressSets ?? []);
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('egress allow-lists on a real kernel', () => {
  it('40 containers with one list: one chain of its accepts, one jump each, read back exactly', async () => {
    const p = plan(fleet(40, () => LIST));
    expect((await dataplane.sync(p)).kind).toBe('full');
    const text = await save();
    expect(egressChains(text)).toHaveLength(1);
    const [chain] = egressChains(text);
    expect(text.split('\n').filter((l) => l.startsWith(`-A ${chain} `))).toHaveLength(5);
    expect(text.split('\n').filter((l) => l.endsWith(`-j ${chain}`))).toHaveLength(40);
    expect(text).toMatch(new RegExp(`-A ${chain} -p tcp -m tcp --dport 443 -m set --match-set dockgate-e4-[0-9a-f]{12} dst -m comment --comment "dockgate egress to a listed name port 443/tcp" -j ACCEPT`));
    expect(compare(p, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
  });

  it('one container changes its list: its jump moves to a new chain, the shared one stays; back again, the new chain goes', async () => {
    const before = plan(fleet(40, () => LIST));
    const changed = plan(fleet(40, (i) => (i === 7 ? '10.0.0.9:7001' : LIST)));
    expect((await dataplane.sync(changed)).kind).toBe('diff');
    const text = await save();
    expect(egressChains(text)).toHaveLength(2);
    expect(compare(changed, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
    expect((await dataplane.sync(before)).kind).toBe('diff');
    expect(egressChains(await save())).toHaveLength(1);
    expect(compare(before, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
  });

  it('no list left: no egress chain left', async () => {
    const open = plan(fleet(40, () => 'true'));
    await dataplane.sync(open);
    expect(egressChains(await save())).toEqual([]);
    expect(compare(open, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
  });

  it('the mangle marks mirror the shared chain (DOCKGATE-MEGRESS-…, within 28 characters) and read back exactly', async () => {
    const marks = markPlan(plan(fleet(10, () => LIST)));
    const mangle = new Dataplane(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }), MARK_TABLES);
    await mangle.sync(marks);
    const text = (await ns.exec('iptables-save', ['-t', 'mangle'])).stdout;
    expect(text).toMatch(/^:DOCKGATE-MEGRESS-[0-9a-f]{10} /m);
    expect(compare(marks, parseSave(text), MARK_TABLES).clean).toBe(true);
  });
});
