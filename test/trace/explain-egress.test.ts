// `dockgate explain CONTAINER DEST:PORT` for a container with an egress allow-list naming a DNS
// name: with the members of the name's set (as `ipset save` read them) the answer is decided and
// names the name and the address it matched, with its time left; without them it stays unknown.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, Family, RuleSet } from '../../src/model/types.js';
import type { KernelState } from '../../src/plan/kernel-state.js';
import { type ExplainContext, type ForeignInput, explainPacket } from '../../src/trace/explain.js';
import { explanationJson, renderExplanation } from '../../src/trace/explain-text.js';
import { containerPacket } from '../../src/trace/egress.js';
import type { SetMembers } from '../../src/trace/sets.js';
import { BRIDGE, DUAL, container, plan } from '../plan/fixtures.js';
import { HAND_KEPT, HOST, kernelOf } from './helpers.js';

const NO_NFT: ForeignInput = { ruleset: { tables: [], chains: [], sets: [] } as never, marksInPlace: false };
const ID = 'c0ffee000091'.padEnd(64, '0');
const facts: ContainerFacts[] = [
  container('named', { id: ID, network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', labels: { 'dockgate.egress': 'api.example.com:443,10.9.0.0/16' } }),
];
const p: RuleSet = plan(facts, [BRIDGE, DUAL], { resolvers: ['10.0.0.53'] });
const set4 = p.egressSets!.find((s) => s.family === 4)!.set;
const set6 = p.egressSets!.find((s) => s.family === 6)!.set;
const sets: SetMembers = new Map([
  [set4, { family: 4 as const, members: new Map([['203.0.113.7', 42]]) }],
  [set6, { family: 6 as const, members: new Map<string, number>() }],
]);

function ctx(withSets: SetMembers | undefined): ExplainContext {
  const states = new Map<Family, KernelState>([
    [4, kernelOf(p, 4, HAND_KEPT)],
    [6, kernelOf(p, 6, HAND_KEPT)],
  ]);
  return { plan: p, facts, labelPrefix: 'dockgate', states, host: HOST, foreign: NO_NFT, ...(withSets ? { sets: withSets } : {}) };
}

const from = (c: ExplainContext, dest: string, dport: number, family: Family = 4) => {
  const x = containerPacket(c, c.plan.containers[0]!, { family, dst: dest, dport, protocol: 'tcp' });
  if (typeof x === 'string') throw new Error(x);
  return explainPacket(c, x.packet, x.how);
};

describe('explain CONTAINER DEST:PORT with a DNS name in the egress list', () => {
  it('the packet leaves from the container\'s address of that family, arriving on its bridge', () => {
    const x = containerPacket(ctx(sets), p.containers[0]!, { family: 6, dst: '2001:db8::7', dport: 443, protocol: 'tcp' });
    expect(x).toMatchObject({ packet: { family: 6, src: 'fd00:db8:1::2', inInterface: 'br-eeeeeeeeeeee' } });
    const none = containerPacket(ctx(sets), { ...p.containers[0]!, id: 'f'.repeat(64) }, { family: 4, dst: '203.0.113.7', dport: 443, protocol: 'tcp' });
    expect(none).toMatch(/no IPv4 address/);
  });

  it('an address the name\'s set holds: allowed via the name, naming the address and its time left', () => {
    const e = from(ctx(sets), '203.0.113.7', 443);
    expect(e.answer).toBe('allowed');
    expect(e.summary).toMatch(/^allowed via name api\.example\.com \(203\.0\.113\.7, 42 s left in ipset dockgate-e4-[0-9a-f]{12}\): accepted by dockgate \(filter DOCKGATE-EGRESS-[0-9a-f]{10} rule \d+: .*--match-set/);
    expect(e.egress).toMatchObject({ container: 'named', label: 'api.example.com:443,10.9.0.0/16', via: { name: 'api.example.com', address: '203.0.113.7', secondsLeft: 42 } });
    // Not an opening: nobody "owns" the destination, and that is not said.
    expect(e.ownership).toEqual([]);
    const text = renderExplanation(e, 'dockgate');
    expect(text).toContain('172.23.0.2 -> 203.0.113.7:443/tcp: ALLOWED');
    expect(text).toContain('egress of: named (c0ffee000091) dockgate.egress="api.example.com:443,10.9.0.0/16"');
    expect(text).toContain('name api.example.com: 203.0.113.7 (42 s left)');
    expect(JSON.stringify(explanationJson(e))).toContain('"via":{"name":"api.example.com"');
  });

  it('another address: blocked, and it says what the name holds now', () => {
    const e = from(ctx(sets), '203.0.113.8', 443);
    expect(e.answer).toBe('blocked');
    expect(e.egress?.via).toBeUndefined();
    expect(e.remarks).toContain('203.0.113.8 is not among the addresses of api.example.com (203.0.113.7, 42 s left) nor in any other entry of named\'s egress list');
    // The listed port only: the name's address on another port is blocked too.
    expect(from(ctx(sets), '203.0.113.7', 444).answer).toBe('blocked');
  });

  it('a CIDR entry is allowed without a name; an empty set allows nothing over IPv6', () => {
    const e = from(ctx(sets), '10.9.1.1', 5432);
    expect(e.answer).toBe('allowed');
    expect(e.egress?.via).toBeUndefined();
    const six = from(ctx(sets), '2001:db8::7', 443, 6);
    expect(six.answer).toBe('blocked');
    expect(six.remarks.join('\n')).toContain('api.example.com holds no IPv6 address now');
  });

  it('without the sets read the answer is unknown and says why', () => {
    const e = from(ctx(undefined), '203.0.113.7', 443);
    expect(e.answer).toBe('unknown');
    expect(e.summary).toContain(`the members of ipset ${set4} are not known`);
  });
});
