// The pure host-firewall analysis, on rulesets captured from real namespaces (fixtures/*.json,
// made by capture-fixtures.ts from the .nft files beside them) and on small hand-made ones for
// each kind of match. What matters most: an opening a foreign chain can drop is never "effective".
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type FlowVerdict, analyse, describeVerdict } from '../../src/hostfw/analysis.js';
import { chainsNeedingFootprint, describeSpot, footprintRules, footprintSpots, holds, spotEnd } from '../../src/hostfw/footprint-spots.js';
import { ANY_ADDR, type Packet, evaluateBaseChain } from '../../src/hostfw/evaluate.js';
import { inbound } from './packets.js';
import { type NftRuleset, chainLabel, parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { DEFAULT_FOOTPRINT_MARK as FOOTPRINT_MARK } from '../../src/plan/marks.js';
import type { MarkBit } from '../../src/model/mark-bit.js';
import { fixturePlan } from './plan-fixture.js';

const fixture = (name: string): NftRuleset => parseNftJson(readFileSync(join(import.meta.dirname, 'fixtures', `${name}.json`), 'utf8'));
const plan = fixturePlan();

function byFlow(verdicts: FlowVerdict[]): Record<string, FlowVerdict> {
  return Object.fromEntries(verdicts.map((v) => [`${v.container} ${v.kind}`, v]));
}

describe('captured rulesets', () => {
  it('reads the whole ruleset but judges only foreign tables', () => {
    const rs = fixture('admin-drop');
    // dockgate's own iptables-nft tables are in the capture...
    expect(rs.tables.map((t) => `${t.family} ${t.name}`)).toEqual(expect.arrayContaining(['ip filter', 'ip nat', 'ip raw', 'inet admin']));
    // ...and ip filter INPUT (policy accept here) is never what blocks.
    const v = byFlow(analyse(plan, rs, { marksInPlace: false, mark: FOOTPRINT_MARK }));
    for (const f of Object.values(v)) for (const b of f.blockers) expect(b.chain.startsWith('inet admin')).toBe(true);
  });

  it('the issue host (inet admin, input and forward policy drop): every opening blocked, naming the chain', () => {
    const v = byFlow(analyse(plan, fixture('admin-drop'), { marksInPlace: false, mark: FOOTPRINT_MARK }));
    expect(v['web proxy']!.state).toBe('blocked');
    expect(describeVerdict(v['web proxy']!)).toBe('blocked by inet admin input (policy drop; new connections)');
    expect(v['api dnat']!.state).toBe('blocked');
    expect(describeVerdict(v['api dnat']!)).toContain('inet admin forward (policy drop');
    expect(v['web egress']!.state).toBe('blocked');
    // Only what the footprint can fix is where it goes.
    expect(chainsNeedingFootprint(plan, fixture('admin-drop')).map(chainLabel)).toEqual(['inet admin input', 'inet admin forward']);
  });

  it('with the footprint and the marks in place: effective; without the marks the footprint alone is not', () => {
    const rs = fixture('admin-drop+footprint');
    expect(footprintRules(rs).map((f) => `${chainLabel(f.chain)}@${f.index}`)).toEqual(['inet admin input@0', 'inet admin forward@0']);
    for (const v of analyse(plan, rs, { marksInPlace: true, mark: FOOTPRINT_MARK })) expect([v.container, v.kind, v.state]).toEqual([v.container, v.kind, 'effective']);
    // Marks with another bit than the footprint's (a reload half done) do not pass it.
    for (const v of analyse(plan, rs, { marksInPlace: true, mark: 0x02000000 as MarkBit })) expect(v.state).not.toBe('effective');
    // Unmarked, the footprint is a maybe (another tool could set the bit): never effective.
    for (const v of analyse(plan, rs, { marksInPlace: false, mark: FOOTPRINT_MARK })) expect(v.state).not.toBe('effective');
    // Still needed: the footprint is ignored when asking whether a chain needs it.
    expect(chainsNeedingFootprint(plan, rs).map(chainLabel)).toEqual(['inet admin input', 'inet admin forward']);
  });

  it("Debian's default nftables.conf (policies accept) blocks nothing and gets no footprint", () => {
    const rs = fixture('debian-default');
    for (const v of analyse(plan, rs, { marksInPlace: false, mark: FOOTPRINT_MARK })) expect(v.state).toBe('effective');
    expect(chainsNeedingFootprint(plan, rs)).toEqual([]);
  });

  it('a hand-written firewall: the rule that blocks is named; sets and negations are read', () => {
    const v = byFlow(analyse(plan, fixture('admin-rules'), { marksInPlace: false, mark: FOOTPRINT_MARK }));
    // tcp dport @web accepts 8000 after the blocklist: a source in 203.0.113.0/24 is dropped.
    expect(v['web proxy']!.state).toBe('may be blocked');
    expect(v['web proxy']!.blockers.map((b) => b.by)).toEqual([expect.stringContaining('@blocklist drop')]);
    // Forward: the DNATed flow goes out docker0 to port 80, which the admin drops for sure.
    expect(v['api dnat']!.state).toBe('blocked');
    expect(v['api dnat']!.blockers[0]!.by).toContain('oifname "docker0" tcp dport 80 drop');
    // Egress: `meta l4proto udp drop` catches the container's UDP (DNS!), so not effective.
    expect(v['web egress']!.state).toBe('may be blocked');
  });

  it("firewalld 1.3's public zone (captured from a real firewalld in a namespace): proxy rejected, dnat accepted as ct status dnat, egress rejected", () => {
    const rs = fixture('firewalld-public');
    const v = byFlow(analyse(plan, rs, { marksInPlace: false, mark: FOOTPRINT_MARK }));
    expect(v['web proxy']!.state).toBe('blocked');
    expect(v['web proxy']!.blockers[0]).toMatchObject({ chain: 'inet firewalld filter_INPUT', by: expect.stringContaining('in chain filter_IN_public (reject)') });
    expect(v['api dnat']!.state).toBe('effective');
    expect(v['web egress']!.blockers[0]!.chain).toBe('inet firewalld filter_FORWARD');
    expect(chainsNeedingFootprint(plan, rs).map(chainLabel)).toEqual(['inet firewalld filter_INPUT', 'inet firewalld filter_FORWARD']);
  });

  it('drops before the marks are set (priority -300 prerouting) stay blocked even with the footprint', () => {
    const rs = fixture('early-drop+footprint');
    const v = byFlow(analyse(plan, rs, { marksInPlace: true, mark: FOOTPRINT_MARK }));
    expect(v['web proxy']!.state).toBe('blocked');
    expect(v['web proxy']!.blockers.every((b) => b.chain === 'ip early pre')).toBe(true);
    // Only inet admin input can be helped; ip early is never given a footprint.
    expect(chainsNeedingFootprint(plan, rs).map(chainLabel)).toEqual(['inet admin input']);
  });
});

// ---- the evaluator, one kind of match at a time ------------------------------------------------

function ruleset(chainJson: string, rules: string[], extra = ''): NftRuleset {
  const items = [
    '{"table": {"family": "inet", "name": "t", "handle": 1}}',
    chainJson,
    '{"chain": {"family": "inet", "table": "t", "name": "sub", "handle": 2}}',
    ...rules.map((r, i) => {
      const [chain, expr] = r.startsWith('sub:') ? ['sub', r.slice(4)] : ['c', r];
      return `{"rule": {"family": "inet", "table": "t", "chain": "${chain}", "handle": ${10 + i}, "expr": ${expr}}}`;
    }),
    ...(extra ? [extra] : []),
  ];
  return parseNftJson(`{"nftables": [${items.join(',')}]}`);
}
const base = (policy: 'accept' | 'drop' = 'drop') =>
  `{"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "${policy}"}}`;

// 10.0.0.9 -> 10.0.0.5
const packet: Packet = inbound({ family: 4, saddr: [0x0a000009, 0x0a000009], daddr: [0x0a000005, 0x0a000005] });

const m = (left: string, right: string, op = '==') => `{"match": {"op": "${op}", "left": ${left}, "right": ${right}}}`;
const dport = '{"payload": {"protocol": "tcp", "field": "dport"}}';
const saddr = '{"payload": {"protocol": "ip", "field": "saddr"}}';
const accept = '{"accept": null}';
const drop = '{"drop": null}';

function verdict(rs: NftRuleset, p: Packet = packet): string {
  const r = evaluateBaseChain(rs.chains[0]!, p, rs);
  if (r.drops.length === 0) return 'passes';
  return r.drops.some((d) => d.certain) ? 'dropped' : 'may drop';
}

describe('evaluator', () => {
  it('ports: single, set, range; a surely matching accept before the policy passes', () => {
    expect(verdict(ruleset(base(), [`[${m(dport, '8000')}, ${accept}]`]))).toBe('passes');
    expect(verdict(ruleset(base(), [`[${m(dport, '{"set": [22, {"range": [7000, 9000]}]}')}, ${accept}]`]))).toBe('passes');
    expect(verdict(ruleset(base(), [`[${m(dport, '8001')}, ${accept}]`]))).toBe('dropped');
    // A UDP match never holds for TCP.
    expect(verdict(ruleset(base(), [`[${m('{"payload": {"protocol": "udp", "field": "dport"}}', '8000')}, ${accept}]`]))).toBe('dropped');
  });

  it('addresses with prefixes: a source range only partly covered is a maybe, never an accept', () => {
    const wide = { ...packet, saddr: ANY_ADDR };
    const rs = ruleset(base(), [`[${m(saddr, '{"prefix": {"addr": "10.0.0.0", "len": 8}}')}, ${accept}]`]);
    expect(verdict(rs)).toBe('passes');
    expect(verdict(rs, wide)).toBe('may drop');
    expect(verdict(ruleset(base('accept'), [`[${m(saddr, '{"prefix": {"addr": "10.0.0.0", "len": 8}}', '!=')}, ${drop}]`]))).toBe('passes');
  });

  it('interfaces: lo never matches a packet from outside; another name may', () => {
    expect(verdict(ruleset(base(), [`[${m('{"meta": {"key": "iif"}}', '"lo"')}, ${accept}]`]))).toBe('dropped');
    expect(verdict(ruleset(base('accept'), [`[${m('{"meta": {"key": "iifname"}}', '"eth0"')}, ${drop}]`]))).toBe('may drop');
    expect(verdict(ruleset(base('accept'), [`[${m('{"meta": {"key": "iifname"}}', '"docker0"')}, ${drop}]`]))).toBe('passes');
  });

  it('ct state sets and ct status dnat', () => {
    const est = `[${m('{"ct": {"key": "state"}}', '["established", "related"]', 'in')}, ${accept}]`;
    expect(verdict(ruleset(base(), [est]))).toBe('dropped');
    expect(verdict(ruleset(base(), [est]), { ...packet, ctState: 'established' })).toBe('passes');
    expect(verdict(ruleset(base(), [`[${m('{"ct": {"key": "status"}}', '"dnat"', 'in')}, ${accept}]`]), { ...packet, ctDnat: true })).toBe('passes');
  });

  it('meta l4proto, named sets, sub-chains with return and goto', () => {
    expect(verdict(ruleset(base(), [`[${m('{"meta": {"key": "l4proto"}}', '"tcp"')}, ${accept}]`]))).toBe('passes');
    const set = '{"set": {"family": "inet", "name": "ok", "table": "t", "type": "inet_service", "handle": 3, "elem": [8000, 8443]}}';
    expect(verdict(ruleset(base(), [`[${m(dport, '"@ok"')}, ${accept}]`], set))).toBe('passes');
    // sub returns for 10.0.0.9 (not in 192.168/16), so the policy decides.
    const sub = [
      '[{"jump": {"target": "sub"}}]',
      `sub:[${m(saddr, '{"prefix": {"addr": "192.168.0.0", "len": 16}}', '!=')}, {"return": null}]`,
      `sub:[${accept}]`,
    ];
    expect(verdict(ruleset(base(), sub))).toBe('dropped');
    expect(verdict(ruleset(base(), ['[{"goto": {"target": "sub"}}]', `sub:[${accept}]`]))).toBe('passes');
  });

  it('what it cannot evaluate is never an accept, and an unknown statement may drop', () => {
    expect(verdict(ruleset(base(), [`[{"match": {"op": "==", "left": {"fib": {"result": "oif", "flags": ["saddr"]}}, "right": false}}, ${accept}]`]))).toBe('may drop');
    expect(verdict(ruleset(base('accept'), ['[{"synproxy": {"mss": 1460}}, {"queue": {"num": 1}}]']))).toBe('may drop');
    expect(verdict(ruleset(base('accept'), ['[{"weird": {}}]']))).toBe('may drop');
    // A rate limit may stop matching: its accept does not count.
    expect(verdict(ruleset(base(), [`[{"limit": {"rate": 5, "per": "second"}}, ${accept}]`]))).toBe('may drop');
  });

  it('verdict maps: the element for the packet decides when it is known', () => {
    const vmap = (k: string, v: string) => `[{"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["${k}", ${v}]]}}}]`;
    expect(verdict(ruleset(base('accept'), [vmap('lo', drop)]))).toBe('passes');
    expect(verdict(ruleset(base('accept'), [vmap('eth0', drop)]))).toBe('may drop');
  });

  it("dockgate's footprint accepts marked packets only", () => {
    const fp = `{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 9, "comment": "dockgate", "expr": [${m(`{"&": [{"meta": {"key": "mark"}}, ${FOOTPRINT_MARK}]}`, String(FOOTPRINT_MARK))}, ${accept}]}}`;
    const rs = ruleset(base(), [], fp);
    expect(verdict(rs, { ...packet, marked: FOOTPRINT_MARK })).toBe('passes');
    expect(verdict(rs)).toBe('may drop');
    expect(footprintRules(rs)).toHaveLength(1);
    expect(evaluateBaseChain(rs.chains[0]!, { ...packet, marked: FOOTPRINT_MARK }, rs, { ignoreFootprint: true }).drops).toHaveLength(1);
  });

  it('a footprint with another bit is still dockgate\'s, but lets through only packets with that bit', () => {
    const other = 0x00100000 as MarkBit;
    const fp = `{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 9, "comment": "dockgate", "expr": [${m(`{"&": [{"meta": {"key": "mark"}}, ${other}]}`, String(other))}, ${accept}]}}`;
    const rs = ruleset(base(), [], fp);
    // A packet marked with the configured bit is not let through by a footprint left from an older bit.
    expect(verdict(rs, { ...packet, marked: FOOTPRINT_MARK })).toBe('may drop');
    expect(verdict(rs, { ...packet, marked: other })).toBe('passes');
    // Found for removal whatever its bit, and named with it.
    expect(footprintRules(rs).map((f) => f.bit)).toEqual([other]);
    // Two bits, or no comment, is not dockgate's.
    const two = `{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 9, "comment": "dockgate", "expr": [${m(`{"&": [{"meta": {"key": "mark"}}, 3]}`, '3')}, ${accept}]}}`;
    expect(footprintRules(ruleset(base(), [], two))).toEqual([]);
  });
});

// Where the footprint goes: directly before the drop that takes every packet of a kind dockgate
// opens, below every drop that takes only some (the admin's bans); nowhere when a chain drops
// only some.
describe('footprint spots', () => {
  const spots = (rs: NftRuleset) =>
    footprintSpots(plan, rs).map((s) => ({ base: chainLabel(s.base), where: describeSpot(s), chain: s.chain.name, after: s.after, end: spotEnd(s) }));
  const banSet = '{"set": {"family": "inet", "name": "bans", "table": "t", "type": "ipv4_addr", "handle": 3, "flags": ["timeout"], "elem": []}}';
  const ban = `[${m(saddr, '"@bans"')}, ${drop}]`;

  it('policy drop: at the end of the base chain', () => {
    expect(spots(fixture('admin-drop'))).toEqual([
      { base: 'inet admin input', where: 'inet admin input (at its end, before the policy drop)', chain: 'input', after: -1, end: 2 },
      { base: 'inet admin forward', where: 'inet admin forward (at its end, before the policy drop)', chain: 'forward', after: -1, end: 1 },
    ]);
  });

  it("a ban tool's chain (policy accept, a ban set with timeouts) gets none, however full its set", () => {
    expect(spots(ruleset(base('accept'), [ban], banSet))).toEqual([]);
    // Nor a rate limit, a port closed on purpose, anti-spoofing by source.
    expect(spots(ruleset(base('accept'), [`[{"limit": {"rate": 5, "per": "second", "inv": true}}, ${drop}]`]))).toEqual([]);
    expect(spots(ruleset(base('accept'), [`[${m(dport, '8000')}, ${drop}]`]))).toEqual([]);
    expect(spots(ruleset(base('accept'), [`[${m(saddr, '{"prefix": {"addr": "10.0.0.0", "len": 8}}')}, ${drop}]`]))).toEqual([]);
  });

  it('a ban above the policy drop: the footprint goes below it, and only a place below it counts', () => {
    const rs = ruleset(base(), [`[${m('{"ct": {"key": "state"}}', '["established", "related"]', 'in')}, ${accept}]`, ban, `[${m(dport, '22')}, ${accept}]`], banSet);
    const [s] = footprintSpots(plan, rs);
    expect(describeSpot(s!)).toBe('inet t c (at its end, before the policy drop)');
    expect([s!.after, spotEnd(s!)]).toEqual([1, 3]);
    expect([0, 1, 2, 3].map((i) => holds(s!, s!.chain, i))).toEqual([false, false, true, false]);
  });

  it('a final reject for everything from an interface (a zone): directly before it', () => {
    const rs = ruleset(base('accept'), [ban, `[${m(dport, '22')}, ${accept}]`, `[${m('{"meta": {"key": "iifname"}}', '"eth0"')}, {"reject": null}]`], banSet);
    expect(spots(rs)).toEqual([{ base: 'inet t c', where: expect.stringMatching(/^inet t c \(directly before rule handle 12: meta iifname "eth0" reject\)$/), chain: 'c', after: 0, end: 2 }]);
  });

  it("firewalld 1.3's public zone: in filter_IN_public, directly before its final reject, below the zone's deny chain", () => {
    const got = spots(fixture('firewalld-public'));
    expect(got.map((s) => [s.base, s.chain])).toEqual([
      ['inet firewalld filter_INPUT', 'filter_IN_public'],
      ['inet firewalld filter_FORWARD', 'filter_FWD_public'],
    ]);
    expect(got[0]!.where).toMatch(/directly before rule handle 72: reject in chain filter_IN_public/);
    expect(got[0]!.end).toBe(8);
  });

  it('a drop only reached through a jump on a condition (a ban chain) is not catch-all', () => {
    const rs = ruleset(base('accept'), [`[${m(saddr, '"@bans"')}, {"jump": {"target": "sub"}}]`, `sub:[${drop}]`], banSet);
    expect(spots(rs)).toEqual([]);
  });
});
