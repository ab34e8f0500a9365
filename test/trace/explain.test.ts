// `dockgate explain` without the host: the pure explanation over a planned rule set, the admin's
// firewall, the host's addresses and captured nft rulesets; and the CLI's argument parsing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDestination, parseSource } from '../../src/cli/explain.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import type { ContainerFacts, Family, RuleSet } from '../../src/model/types.js';
import { parseIpAddr } from '../../src/net/addresses.js';
import type { KernelState } from '../../src/plan/kernel-state.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { parseNet } from '../../src/net/address.js';
import { type ExplainContext, type ForeignInput, explainContainer, explainPacket, inferInInterface } from '../../src/trace/explain.js';
import { explanationJson, renderContainer, renderExplanation } from '../../src/trace/explain-text.js';
import { BRIDGE, DEFAULTS, DUAL, container } from '../plan/fixtures.js';
import { type AdminFirewall, HAND_KEPT, HOST, kernelOf, tcp } from './helpers.js';

const nft = (name: string) => parseNftJson(readFileSync(join(import.meta.dirname, '..', 'hostfw', 'fixtures', `${name}.json`), 'utf8'));
const NO_NFT: ForeignInput = { ruleset: { tables: [], chains: [], sets: [] } as never, marksInPlace: false };

const facts: ContainerFacts[] = [
  container('web', { id: 'c0ffee000301'.padEnd(64, '0'), ip: '172.17.0.2', labels: { 'dockgate.ports': '8000' }, publish: ['10.0.0.5:8000:8000/tcp'] }),
  container('private', { id: 'c0ffee000302'.padEnd(64, '0'), ip: '172.17.0.3', labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.168.77.0/24' }, publish: ['10.0.0.5:8002:8000/tcp'] }),
  container('nolabel', { id: 'c0ffee000303'.padEnd(64, '0'), ip: '172.17.0.4', publish: ['10.0.0.5:8001:8000/tcp'] }),
  container('api', { id: 'c0ffee000304'.padEnd(64, '0'), ip: '172.17.0.5', labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat' } }),
  container('late', { id: 'c0ffee000305'.padEnd(64, '0'), ip: '172.17.0.6', created: '2027-01-01T00:00:00.000000000Z', labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat' } }),
];
const plan: RuleSet = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: facts, networks: [BRIDGE] });

function ctx(admin: AdminFirewall = HAND_KEPT, foreign: ForeignInput = NO_NFT): ExplainContext {
  const states = new Map<Family, KernelState>([
    [4, kernelOf(plan, 4, admin)],
    [6, kernelOf(plan, 6, admin)],
  ]);
  return { plan, facts, labelPrefix: 'dockgate', states, host: HOST, foreign };
}

describe('explain SRC HOST:PORT', () => {
  it('an open labelled port: allowed, naming the container, its label and the accepting rule', () => {
    const e = explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    expect(e.answer).toBe('allowed');
    expect(e.owner).toMatchObject({ container: 'web', mode: 'proxy', labels: { ports: '8000' }, sourceAllowed: 'yes' });
    expect(e.decidedBy).toMatchObject({ chain: 'DOCKGATE-OPENINGS-c0', by: 'dockgate' });
    expect(e.otherFirewalls).toEqual({ checked: true, state: 'effective', blockers: [] });
    const text = renderExplanation(e, 'dockgate');
    expect(text).toMatch(/^203\.0\.113\.9 -> 10\.0\.0\.5:8000\/tcp: ALLOWED\n/);
    expect(text).toContain('container: web (c0ffee000301) dockgate.ports="8000" dockgate.from=(default) dockgate.mode=(default) dockgate.egress=(default), mode proxy');
    expect(text).toMatch(/filter DOCKGATE-OPENINGS-c0 #\d+: -A DOCKGATE-OPENINGS-c0 -d 10\.0\.0\.5\/32 .*"web\/c0ffee000301" -j ACCEPT {3}<- decided \(dockgate\)/);
    expect(text).toContain('other firewalls (nft base chains): none drops it');
  });

  it('an unlabelled published port: blocked by the policy, and nobody owns it because there is no label', () => {
    const e = explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8001), 'test');
    expect(e.answer).toBe('blocked');
    expect(e.summary).toBe("blocked by the admin's filter INPUT policy DROP");
    expect(e.owner).toBeUndefined();
    expect(e.ownership).toEqual([expect.stringMatching(/^container nolabel \(c0ffee000303\) publishes 10\.0\.0\.5:8001->8000\/tcp with -p but opens nothing for it: publishes 8000\/tcp but has no dockgate.ports label/)]);
  });

  it('a client outside dockgate.from: blocked, and it says the source is not among the opening\'s', () => {
    const e = explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8002), 'test');
    expect(e.answer).toBe('blocked');
    expect(e.owner).toMatchObject({ container: 'private', labels: { from: '192.168.77.0/24' }, sourceAllowed: 'no' });
    expect(e.remarks[0]).toBe('203.0.113.9 is not among the sources of private\'s opening (dockgate.from="192.168.77.0/24": 192.168.77.0/24)');
    expect(explainPacket(ctx(), tcp('192.168.77.4', '10.0.0.5', 8002), 'test').answer).toBe('allowed');
  });

  it('a ban in DOCKGATE-USER: blocked by "your DOCKGATE-USER chain"', () => {
    const ban = { ...HAND_KEPT, rules: { ...HAND_KEPT.rules, 'filter/DOCKGATE-USER': ['-s 203.0.113.9/32 -j DROP'] } };
    const e = explainPacket(ctx(ban), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    expect(e.answer).toBe('blocked');
    expect(e.summary).toBe('blocked by your DOCKGATE-USER chain (filter DOCKGATE-USER rule 1: -s 203.0.113.9/32 -j DROP)');
    expect(e.owner?.container).toBe('web');
  });

  it('a DROP above dockgate\'s jump: the packet never reached dockgate, and it says so', () => {
    const above = { ...HAND_KEPT, before: { 'filter/INPUT': ['-s 203.0.113.9/32 -j DROP'] } };
    const e = explainPacket(ctx(above), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    expect(e.summary).toBe("blocked by the admin's own rule (filter INPUT rule 1: -s 203.0.113.9/32 -j DROP)");
    expect(e.remarks.join('\n')).toMatch(/never reached dockgate's filter chains: the admin's own rule decided first/);
  });

  it('a dnat claim lost to an older container: the winner owns it, the loser is named in the other direction', () => {
    const e = explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8080), 'test');
    expect(e.owner?.container).toBe('api');
    expect(e.answer).toBe('allowed');
    expect(e.trace.dnat).toMatchObject({ dst: '172.17.0.5', dport: 80 });
    // Without the winner, the port has no owner and the loser's error explains why.
    const loserOnly = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: facts.filter((f) => f.name !== 'api'), networks: [BRIDGE], listeners: [{ protocol: 'tcp', ip: undefined, port: 8080 }] });
    const c2: ExplainContext = { ...ctx(), plan: loserOnly, states: new Map([[4, kernelOf(loserOnly, 4)]]) };
    const lost = explainPacket(c2, tcp('203.0.113.9', '10.0.0.5', 8080), 'test');
    expect(lost.answer).toBe('blocked');
    expect(lost.ownership).toEqual([expect.stringMatching(/^container late \(c0ffee000305\): its label dockgate.ports="8080:80" claimed it but lost ownership: host port \*:8080\/tcp: a host process listens/)]);
  });

  it('IPv6: the same labelled port over ip6tables has no [::] binding here: nobody owns it', () => {
    const e = explainPacket(ctx(), tcp('2001:db8:9::7', '2001:db8:5::5', 8000), 'test');
    expect(e.answer).toBe('blocked');
    expect(e.ownership).toEqual(['no container owns [2001:db8:5::5]:8000/tcp']);
  });

  it('a foreign nft chain that drops what iptables accepts: blocked, naming the chain', () => {
    const e = explainPacket(ctx(HAND_KEPT, { ruleset: nft('admin-drop'), marksInPlace: false }), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    expect(e.answer).toBe('blocked');
    expect(e.summary).toMatch(/^blocked by the nft base chain inet admin input \(policy drop; new connections\), although accepted by dockgate/);
  });

  it('nft not readable: never "allowed", it says what could not be checked', () => {
    const e = explainPacket(ctx(HAND_KEPT, { error: 'nft not found: install the nftables package' }), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    expect(e.answer).toBe('unknown');
    expect(e.summary).toMatch(/could not be checked: nft not found/);
    expect(renderExplanation(e, 'dockgate')).toContain('other firewalls (nft base chains): not checked: nft not found');
  });

  it('JSON: allowed flag, sources "any", outcomes without their step lists', () => {
    const j = explanationJson(explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8000), 'test')) as Record<string, any>;
    expect(j.allowed).toBe(true);
    expect(j.owner.opening.sources).toBe('any');
    expect(j.trace.outcomes[0]).not.toHaveProperty('steps');
    expect(j.trace.steps.length).toBeGreaterThan(3);
  });
});

describe('explain CONTAINER', () => {
  it('each opening from each of its sources ("anywhere" is 0.0.0.0/0)', () => {
    const c = plan.containers.find((x) => x.name === 'private')!;
    const x = explainContainer(ctx(), c);
    expect(x.openings.map((o) => [o.source, o.explanation?.answer])).toEqual([['192.168.77.0/24', 'allowed']]);
    expect(explainContainer(ctx(), plan.containers.find((x) => x.name === 'web')!).openings[0]!.source).toBe('0.0.0.0/0');
  });

  it('a ban on one address makes "from anywhere" depend on the source, never "allowed"', () => {
    const ban = { ...HAND_KEPT, rules: { ...HAND_KEPT.rules, 'filter/DOCKGATE-USER': ['-s 203.0.113.9/32 -j DROP'] } };
    const x = explainContainer(ctx(ban), plan.containers.find((c) => c.name === 'web')!);
    expect(x.answer).toBe('unknown');
    const e = x.openings[0]!.explanation!;
    expect(e.trace.unknownAt).toMatchObject({ chain: 'DOCKGATE-USER', rule: 1 });
    expect(renderContainer(x, 'dockgate')).toMatch(/possible outcomes:\n\s+allowed at .*\n\s+blocked|possible outcomes:\n\s+accept at .*\n\s+drop at filter DOCKGATE-USER rule 1/);
  });

  it('a container with nothing opened lists its warnings and is not "allowed"', () => {
    const x = explainContainer(ctx(), plan.containers.find((c) => c.name === 'nolabel')!);
    expect(x.answer).toBe('blocked');
    expect(renderContainer(x, 'dockgate')).toMatch(/warn {2}publishes 8000\/tcp but has no dockgate.ports label: nothing opened\n {2}nothing opened\n/);
  });
});

describe('where a packet comes in', () => {
  it('the route back to the source, else the only non-bridge interface, else unknown', () => {
    expect(inferInInterface(HOST, plan, parseNet('10.0.0.9')!).iface).toBe('eth0');
    expect(inferInInterface(HOST, plan, parseNet('172.17.0.9')!).iface).toBe('docker0');
    // (this plan has no dual-stack network: its bridge would be one more candidate)
    const noDefault = { interfaces: HOST.interfaces.filter((i) => i.name !== 'br-eeeeeeeeeeee') };
    expect(inferInInterface(noDefault, plan, parseNet('203.0.113.9')!)).toMatchObject({ iface: 'eth0', how: expect.stringMatching(/only interface .* neither lo nor a Docker bridge/) });
    const two = { interfaces: [...noDefault.interfaces, { name: 'eth1', loopback: false, addresses: [{ family: 4 as const, address: '192.0.2.1', prefixLen: 24 }] }] };
    expect(inferInInterface(two, plan, parseNet('203.0.113.9')!)).toEqual({ how: expect.stringMatching(/give --in IFACE/) });
  });

  it('reads `ip -j addr`', () => {
    const text = JSON.stringify([
      { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], link_type: 'loopback', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
      { ifindex: 4, ifname: 'eth0', flags: ['UP'], link_type: 'ether', addr_info: [{ family: 'inet', local: '192.0.2.2', prefixlen: 24, broadcast: '192.0.2.255' }, { family: 'inet6', local: 'FD00:0::2', prefixlen: 64 }] },
      { ifindex: 5, ifname: 'veth1@if4', link_type: 'ether', addr_info: [] },
    ]);
    expect(parseIpAddr(text)).toEqual({
      ok: true,
      value: [
        { name: 'lo', loopback: true, addresses: [{ family: 4, address: '127.0.0.1', prefixLen: 8 }, { family: 6, address: '::1', prefixLen: 128 }] },
        { name: 'eth0', loopback: false, addresses: [{ family: 4, address: '192.0.2.2', prefixLen: 24 }, { family: 6, address: 'fd00::2', prefixLen: 64 }] },
        { name: 'veth1', loopback: false, addresses: [] },
      ],
    });
    expect(parseIpAddr('nope')).toMatchObject({ ok: false });
  });
});

describe('arguments', () => {
  it('HOST:PORT[/PROTO], IPv6 in brackets', () => {
    expect(parseDestination('10.0.0.5:8000')).toEqual({ ok: true, value: { family: 4, dst: '10.0.0.5', dport: 8000, protocol: 'tcp' } });
    expect(parseDestination('10.0.0.5:53/udp')).toEqual({ ok: true, value: { family: 4, dst: '10.0.0.5', dport: 53, protocol: 'udp' } });
    expect(parseDestination('[2001:DB8::1]:8080/tcp')).toEqual({ ok: true, value: { family: 6, dst: '2001:db8::1', dport: 8080, protocol: 'tcp' } });
    expect(parseDestination('2001:db8::1:8080')).toMatchObject({ ok: false, error: expect.stringMatching(/write an IPv6 host in brackets/) });
    expect(parseDestination('10.0.0.5')).toMatchObject({ ok: false, error: expect.stringMatching(/is not HOST:PORT/) });
    expect(parseDestination('10.0.0.5:0')).toMatchObject({ ok: false, error: expect.stringMatching(/PORT "0" .* is not a port/) });
    expect(parseDestination('10.0.0.5:70000')).toMatchObject({ ok: false, error: expect.stringMatching(/is not a port/) });
    expect(parseDestination('10.0.0.5:80/sctp')).toMatchObject({ ok: false, error: expect.stringMatching(/PROTO "sctp" .* is not tcp or udp/) });
    expect(parseDestination('10.0.0.0/24:80')).toMatchObject({ ok: false, error: expect.stringMatching(/is not HOST:PORT|is not one IPv4/) });
    expect(parseDestination('[10.0.0.5]:80')).toMatchObject({ ok: false, error: expect.stringMatching(/brackets are for IPv6/) });
    expect(parseDestination('web:80')).toMatchObject({ ok: false, error: expect.stringMatching(/HOST "web" .* is not one IPv4 or IPv6 address/) });
  });

  it('SRC: an address or a CIDR', () => {
    expect(parseSource('203.0.113.9')).toEqual({ ok: true, value: { family: 4, src: '203.0.113.9' } });
    expect(parseSource('2001:db8::/32')).toEqual({ ok: true, value: { family: 6, src: '2001:db8::/32' } });
    expect(parseSource('example.com')).toMatchObject({ ok: false, error: expect.stringMatching(/is not an IPv4 or IPv6 address/) });
    expect(parseSource('10.0.0.0/255.0.0.0')).toMatchObject({ ok: false, error: expect.stringMatching(/is not an IPv4 or IPv6 address/) });
  });
});

describe('explain and the IPv6 footprint', () => {
  const web6 = container('web6', { id: 'c0ffee000306'.padEnd(64, '0'), network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', publish: ['[2001:db8:5::5]:8600:80/tcp'], labels: { 'dockgate.ports': '80' } });
  const plan6: RuleSet = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [web6], networks: [DUAL] });
  const ctx6 = (foreign: ForeignInput): ExplainContext => ({
    plan: plan6,
    facts: [web6],
    labelPrefix: 'dockgate',
    states: new Map<Family, KernelState>([
      [4, kernelOf(plan6, 4, HAND_KEPT)],
      [6, kernelOf(plan6, 6, HAND_KEPT)],
    ]),
    host: HOST,
    foreign,
  });
  const rs = nft('admin-drop+footprint');
  const packet = tcp('2001:db8:9::9', '2001:db8:5::5', 8600);

  it('with ip6tables marks in place, an IPv6 opening passes the footprint: effective, as status says', () => {
    const e = explainPacket(ctx6({ ruleset: rs, marksInPlace: true, marksInPlace6: true }), packet, 'test');
    expect(e.owner?.container).toBe('web6');
    expect(e.otherFirewalls).toMatchObject({ checked: true, state: 'effective' });
  });

  it('without them (no IPv6 dataplane, or the marks missing) it is not effective', () => {
    expect(explainPacket(ctx6({ ruleset: rs, marksInPlace: true }), packet, 'test').otherFirewalls).not.toMatchObject({ state: 'effective' });
    expect(explainPacket(ctx6({ ruleset: rs, marksInPlace: true, marksInPlace6: false }), packet, 'test').otherFirewalls).not.toMatchObject({ state: 'effective' });
  });
});
