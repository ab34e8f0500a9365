// What the plan DOES, not what it says: every scenario is planned, rendered as dockgate writes it,
// read back as iptables-save would show it on a host with the admin's hand-kept firewall (INPUT
// and FORWARD policy DROP), and a NEW connection from outside is traced through it
// (src/trace). The golden files pin the text; these pin the behaviour, whatever the text becomes.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, Family, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import type { TracePacket, TraceResult } from '../../src/trace/trace.js';
import { type AdminFirewall, HAND_KEPT, kernelOf, tcp, traceIn } from '../trace/helpers.js';
import { BACK, BRIDGE, DEFAULTS, DUAL, FRONT, SEALED, container } from './fixtures.js';

const plan = (containers: ContainerFacts[], networks: NetworkFacts[] = [BRIDGE, DUAL]): RuleSet =>
  buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks });

function run(p: RuleSet, packet: TracePacket, admin: AdminFirewall = HAND_KEPT): TraceResult {
  return traceIn(kernelOf(p, packet.family as Family, admin), packet);
}

const id = (n: number): string => `c0ffee0002${String(n).padStart(2, '0')}`.padEnd(64, '0');
const HOST4 = '10.0.0.5';
const HOST6 = '2001:db8:5::5';
const OUTSIDE = '203.0.113.9';
const FRIEND = '192.0.2.7';

/** Who decided, in one word, for the assertions: the container chain, the admin, or dockgate's fail-closed rules. */
function decider(r: TraceResult): string {
  const s = r.decidedBy;
  if (!s) return 'none';
  if (s.action === 'policy') return `policy ${s.chain} ${s.policy}`;
  if (s.chain === 'DOCKGATE-USER') return `DOCKGATE-USER ${s.action}`;
  if (/^DOCKGATE-C[IF]-/.test(s.chain)) return `${s.chain.slice(0, 11)} ${s.action}`;
  return `${s.chain} ${s.action}`;
}

describe('proxy mode', () => {
  const p = plan([
    container('web', { id: id(1), labels: { 'dockgate.ports': '8000' }, publish: ['10.0.0.5:8000:8000/tcp'] }),
    container('any', { id: id(2), ip: '172.17.0.3', labels: { 'dockgate.ports': '80/udp' }, publish: ['0.0.0.0:5300:80/udp'] }),
    container('office', { id: id(3), ip: '172.17.0.4', labels: { 'dockgate.ports': '443', 'dockgate.from': '192.0.2.0/24' }, publish: ['0.0.0.0:8443:443/tcp'] }),
  ]);

  it('a labelled port is open to everyone', () => {
    const r = run(p, tcp(OUTSIDE, HOST4, 8000));
    expect([r.verdict, decider(r)]).toEqual(['accept', 'DOCKGATE-OPENINGS-c0 accept']);
  });

  it('bound to one address: open there only, not on the host\'s other addresses', () => {
    expect(run(p, tcp(OUTSIDE, '127.0.0.1', 8000, { inInterface: 'lo' })).decidedBy?.chain).toBe('INPUT'); // the admin's lo accept
    expect(run(p, tcp('172.17.0.9', '172.17.0.1', 8000, { inInterface: 'docker0' })).verdict).toBe('drop');
  });

  it('bound to 0.0.0.0: open on the host\'s own addresses, for the protocol published (udp here)', () => {
    expect(run(p, { ...tcp(OUTSIDE, HOST4, 5300), protocol: 'udp' }).verdict).toBe('accept');
    expect(run(p, tcp(OUTSIDE, HOST4, 5300)).verdict).toBe('drop');
  });

  it('from is honoured: a source inside is accepted, one outside falls to the admin\'s policy', () => {
    expect(decider(run(p, tcp(FRIEND, HOST4, 8443)))).toBe('DOCKGATE-OPENINGS-c0 accept');
    const r = run(p, tcp(OUTSIDE, HOST4, 8443));
    expect([r.verdict, decider(r)]).toEqual(['drop', 'policy INPUT DROP']);
  });

  it('closed again when the label goes: the same container without it reaches the policy', () => {
    const unlabelled = plan([container('web', { id: id(1), publish: ['10.0.0.5:8000:8000/tcp'] })]);
    expect(decider(run(unlabelled, tcp(OUTSIDE, HOST4, 8000)))).toBe('policy INPUT DROP');
  });
});

describe('dnat mode', () => {
  const p = plan([
    container('api', { id: id(4), ip: '172.17.0.3', labels: { 'dockgate.ports': '10.0.0.5:8080:80', 'dockgate.mode': 'dnat', 'dockgate.from': '192.0.2.0/24' } }),
  ]);

  it('DNATed to the container and accepted in FORWARD only as DNATed', () => {
    const r = run(p, tcp(FRIEND, HOST4, 8080));
    expect(r.verdict).toBe('accept');
    expect(r.dnat).toMatchObject({ dst: '172.17.0.3', dport: 80 });
    expect([r.route, r.outInterface, decider(r)]).toEqual(['FORWARD', 'docker0', 'DOCKGATE-CONTAINERS-c0 accept']);
  });

  it('a source outside from is not redirected: it reaches the host\'s own port 8080, behind the admin\'s policy', () => {
    const r = run(p, tcp(OUTSIDE, HOST4, 8080));
    expect(r.dnat).toBeUndefined();
    expect([r.route, decider(r)]).toEqual(['INPUT', 'policy INPUT DROP']);
    // ... and if the admin serves 8080 on the host, that is what it gets.
    const served = run(p, tcp(OUTSIDE, HOST4, 8080), { ...HAND_KEPT, rules: { 'filter/INPUT': ['-p tcp -m tcp --dport 8080 -j ACCEPT'] } });
    expect([served.verdict, served.route]).toEqual(['accept', 'INPUT']);
  });

  it('nobody reaches the container address directly, even on the published port', () => {
    const r = run(p, tcp(FRIEND, '172.17.0.3', 80));
    expect([r.verdict, decider(r)]).toEqual(['drop', 'DOCKGATE-RAW drop']);
  });
});

describe('unlabelled and bad labels stay closed', () => {
  const p = plan([
    container('loose', { id: id(5), publish: ['0.0.0.0:9000:9000/tcp'] }),
    container('bad', { id: id(6), ip: '172.17.0.4', labels: { 'dockgate.ports': '80 -j ACCEPT' }, publish: ['0.0.0.0:80:80/tcp'] }),
    container('claimer', { id: id(7), ip: '172.17.0.5', labels: { 'dockgate.ports': '9000:80', 'dockgate.mode': 'dnat' } }),
  ]);

  it('a published port without a label reaches the policy DROP', () => {
    expect(decider(run(p, tcp(OUTSIDE, HOST4, 9000)))).toBe('policy INPUT DROP');
  });

  it('a bad label opens nothing', () => {
    expect(decider(run(p, tcp(OUTSIDE, HOST4, 80)))).toBe('policy INPUT DROP');
  });

  it('a dnat claim on a port another container publishes loses: no DNAT, the policy decides', () => {
    const r = run(p, tcp(OUTSIDE, HOST4, 9000));
    expect(r.dnat).toBeUndefined();
    expect(p.containers.find((c) => c.name === 'claimer')!.errors[0]!.reason).toMatch(/published with -p by container loose/);
  });
});

describe('the admin\'s own rules win', () => {
  const p = plan([
    container('web', { id: id(8), labels: { 'dockgate.ports': '8000' }, publish: ['0.0.0.0:8000:8000/tcp'] }),
    container('api', { id: id(9), ip: '172.17.0.3', labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat' } }),
  ]);
  const ban: AdminFirewall = { ...HAND_KEPT, rules: { ...HAND_KEPT.rules, 'filter/DOCKGATE-USER': [`-s ${OUTSIDE}/32 -j DROP`] } };

  it('a DROP in DOCKGATE-USER closes a proxy and a dnat port for that source only', () => {
    expect(decider(run(p, tcp(OUTSIDE, HOST4, 8000), ban))).toBe('DOCKGATE-USER drop');
    const dnat = run(p, tcp(OUTSIDE, HOST4, 8080), ban);
    expect([dnat.dnat?.dst, decider(dnat)]).toEqual(['172.17.0.3', 'DOCKGATE-USER drop']);
    expect(run(p, tcp(FRIEND, HOST4, 8000), ban).verdict).toBe('accept');
    expect(run(p, tcp(FRIEND, HOST4, 8080), ban).verdict).toBe('accept');
  });

  it('a RETURN in DOCKGATE-USER goes on to dockgate\'s accepts', () => {
    const ret: AdminFirewall = { ...HAND_KEPT, rules: { ...HAND_KEPT.rules, 'filter/DOCKGATE-USER': ['-j RETURN'] } };
    expect(run(p, tcp(OUTSIDE, HOST4, 8000), ret).verdict).toBe('accept');
  });

  it('a DROP the admin puts above dockgate\'s jump in INPUT wins too', () => {
    const above: AdminFirewall = { ...HAND_KEPT, before: { 'filter/INPUT': [`-s ${OUTSIDE}/32 -j DROP`] } };
    const r = run(p, tcp(OUTSIDE, HOST4, 8000), above);
    expect([r.verdict, r.decidedBy?.chain, r.decidedBy?.rule]).toEqual(['drop', 'INPUT', 1]);
  });
});

describe('egress off and internal networks reach nothing through the host', () => {
  const p = plan(
    [
      container('web', { id: id(10), labels: { 'dockgate.ports': '8000' }, publish: ['0.0.0.0:8000:8000/tcp'] }),
      container('jail', { id: id(11), ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' } }),
      container('sealed', { id: id(12), network: SEALED, ip: '172.22.0.2' }),
    ],
    [BRIDGE, SEALED],
  );

  it('egress=false: its guard RETURN skips dockgate\'s accept', () => {
    const r = run(p, tcp('172.17.0.5', HOST4, 8000, { inInterface: 'docker0' }));
    expect(r.verdict).toBe('drop');
    expect(r.steps).toContainEqual(expect.objectContaining({ chain: 'DOCKGATE-INPUT', action: 'return', line: expect.stringContaining('jail/') }));
    expect(run(p, tcp('172.17.0.6', HOST4, 8000, { inInterface: 'docker0' })).verdict).toBe('accept');
  });

  it('an internal network\'s bridge is sealed by its guard', () => {
    const r = run(p, tcp('172.22.0.2', HOST4, 8000, { inInterface: SEALED.bridge }));
    expect(r.verdict).toBe('drop');
    expect(r.steps).toContainEqual(expect.objectContaining({ chain: 'DOCKGATE-INPUT', action: 'return', line: expect.stringContaining('internal') }));
  });
});

describe('isolation between networks', () => {
  const p = plan(
    [
      container('front', { id: id(13), network: FRONT, ip: '172.20.0.2' }),
      container('back', { id: id(14), network: BACK, ip: '172.21.0.2', labels: { 'dockgate.ports': '8000:80', 'dockgate.mode': 'dnat' } }),
    ],
    [FRONT, BACK],
  );
  const host = {
    interfaces: [
      { name: 'eth0', loopback: false, addresses: [{ family: 4 as const, address: HOST4, prefixLen: 24 }] },
      { name: FRONT.bridge, loopback: false, addresses: [{ family: 4 as const, address: '172.20.0.1', prefixLen: 24 }] },
      { name: BACK.bridge, loopback: false, addresses: [{ family: 4 as const, address: '172.21.0.1', prefixLen: 24 }] },
    ],
  };

  it('a container cannot reach another network\'s container directly, only its published port', () => {
    const state = kernelOf(p, 4);
    const direct = traceIn(state, tcp('172.20.0.2', '172.21.0.2', 80, { inInterface: FRONT.bridge }), host);
    // The direct-access drop in raw gets it before FORWARD's isolation rule would.
    expect([direct.verdict, direct.decidedBy?.line]).toEqual(['drop', expect.stringContaining('no direct access to back')]);
    const published = traceIn(state, tcp('172.20.0.2', HOST4, 8000, { inInterface: FRONT.bridge }), host);
    expect([published.verdict, published.dnat?.dst]).toEqual(['accept', '172.21.0.2']);
  });
});

describe('IPv6 (ip6tables), from the same plan', () => {
  const p = plan([
    container('web', { id: id(15), network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] }),
    container('four', { id: id(16), network: DUAL, ip: '172.23.0.3', ip6: 'fd00:db8:1::3', labels: { 'dockgate.ports': '80', 'dockgate.from': '192.0.2.0/24' }, publish: ['0.0.0.0:8001:80/tcp', '[::]:8001:80/tcp'] }),
    container('api', { id: id(17), network: DUAL, ip: '172.23.0.4', ip6: 'fd00:db8:1::4', labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat', 'dockgate.from': '192.0.2.0/24,2001:db8:9::/48' } }),
  ]);

  it('a plain -p is open over IPv6 too', () => {
    const r = run(p, tcp('2001:db8:9::7', HOST6, 8000));
    expect([r.verdict, decider(r)]).toEqual(['accept', 'DOCKGATE-OPENINGS-c0 accept']);
  });

  it('an IPv4-only from closes IPv6', () => {
    expect(decider(run(p, tcp('2001:db8:9::7', HOST6, 8001)))).toBe('policy INPUT DROP');
    expect(run(p, tcp(FRIEND, HOST4, 8001)).verdict).toBe('accept');
  });

  it('dnat to the container\'s IPv6 address for the IPv6 sources in from only', () => {
    const r = run(p, tcp('2001:db8:9::7', HOST6, 8080));
    expect([r.verdict, r.dnat?.dst, r.dnat?.dport, r.outInterface]).toEqual(['accept', 'fd00:db8:1::4', 80, DUAL.bridge]);
    const outside = run(p, tcp('2a00::1', HOST6, 8080));
    expect([outside.dnat, decider(outside)]).toEqual([undefined, 'policy INPUT DROP']);
  });

  it('a ban in ip6tables\' DOCKGATE-USER wins over the label', () => {
    const ban: AdminFirewall = { ...HAND_KEPT, rules: { ...HAND_KEPT.rules, 'filter/DOCKGATE-USER': ['-s 2001:db8:9::7/128 -j DROP'] } };
    expect(decider(run(p, tcp('2001:db8:9::7', HOST6, 8000), ban))).toBe('DOCKGATE-USER drop');
    expect(decider(run(p, tcp('2001:db8:9::7', HOST6, 8080), ban))).toBe('DOCKGATE-USER drop');
  });
});
