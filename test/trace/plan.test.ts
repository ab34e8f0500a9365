// The tracer over what the planner writes (buildRuleSet → renderPlan → as iptables-save shows it
// → parseSave), on the hand-kept firewall: the paths through dockgate's own chains.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { parseSave } from '../../src/plan/kernel-state.js';
import { markPlan } from '../../src/plan/marks.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { parseRule } from '../../src/trace/rule.js';
import { BACK, BRIDGE, DEFAULTS, DUAL, FRONT, SEALED, container } from '../plan/fixtures.js';
import { HAND_KEPT, kernelOf, path, saveText, tcp, traceIn } from './helpers.js';
import { jumpLine, linesOf } from '../../src/plan/render.js';

const plan = (containers: ContainerFacts[], networks: NetworkFacts[] = [BRIDGE]): RuleSet =>
  buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks });

const WEB = 'c0ffee000101'.padEnd(64, '0');
const PUB = 'c0ffee000102'.padEnd(64, '0');
const API = 'c0ffee000103'.padEnd(64, '0');
const LOOSE = 'c0ffee000104'.padEnd(64, '0');
const DB = 'c0ffee000105'.padEnd(64, '0');
const APP = 'c0ffee000106'.padEnd(64, '0');

const scenario = plan([
  container('web', { id: WEB, ip: '172.17.0.2', labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.0.2.0/24' }, publish: ['0.0.0.0:8000:8000/tcp'] }),
  container('pub', { id: PUB, ip: '172.17.0.6', labels: { 'dockgate.ports': '80' }, publish: ['10.0.0.5:8001:80/tcp'] }),
  container('api', { id: API, ip: '172.17.0.3', labels: { 'dockgate.ports': '10.0.0.5:8080:80', 'dockgate.mode': 'dnat' } }),
  container('loose', { id: LOOSE, ip: '172.17.0.4', publish: ['0.0.0.0:9000:9000/tcp'] }),
  container('db', { id: DB, ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' } }),
]);
const kernel = kernelOf(scenario, 4);

describe('tracing the planner\'s rules', () => {
  it('a labelled proxy port is accepted for a source in from, by the container\'s own line', () => {
    const r = traceIn(kernel, tcp('192.0.2.7', '10.0.0.5', 8000));
    expect(r.verdict).toBe('accept');
    expect(r.decidedBy).toMatchObject({ table: 'filter', chain: 'DOCKGATE-OPENINGS-c0', action: 'accept' });
    expect(r.decidedBy?.line).toContain('"web/c0ffee000101"');
    expect(path(r)).toEqual([
      'raw/PREROUTING#1:jump',
      'raw/PREROUTING:policy ACCEPT',
      'nat/PREROUTING#1:jump',
      // #1 is db's guard (egress off), which a source from outside passes.
      'nat/DOCKGATE-PREROUTING#2:jump',
      // into api's shard, whose DNAT line is for port 8080: no match, back to PREROUTING's policy.
      'nat/DOCKGATE-DNAT#1:jump',
      'nat/PREROUTING:policy ACCEPT',
      'filter/INPUT#1:jump',
      'filter/DOCKGATE-INPUT#1:jump',
      'filter/DOCKGATE-INPUT#3:jump',
      // pub's line first: not port 8000; then web's accept.
      'filter/DOCKGATE-OPENINGS#1:jump',
      'filter/DOCKGATE-OPENINGS-c0#2:accept',
    ]);
  });

  it('the same port from outside from falls through dockgate to the admin\'s policy DROP', () => {
    const r = traceIn(kernel, tcp('203.0.113.9', '10.0.0.5', 8000));
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy).toEqual({ table: 'filter', chain: 'INPUT', policy: 'DROP', action: 'policy' });
  });

  it('a dnat port is DNATed to the container, then accepted in FORWARD by the container\'s line', () => {
    const r = traceIn(kernel, tcp('203.0.113.9', '10.0.0.5', 8080));
    expect(r.verdict).toBe('accept');
    expect(r.dnat).toMatchObject({ dst: '172.17.0.3', dport: 80, step: { chain: 'DOCKGATE-DNAT-c0' } });
    expect(r.route).toBe('FORWARD');
    expect(r.outInterface).toBe('docker0');
    expect(r.decidedBy).toMatchObject({ chain: 'DOCKGATE-CONTAINERS-c0', action: 'accept' });
    expect(r.steps.map((s) => s.chain)).toContain('DOCKGATE-CONTAINERS-c0');
  });

  it('an unlabelled published port reaches the policy DROP', () => {
    const r = traceIn(kernel, tcp('203.0.113.9', '10.0.0.5', 9000));
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy?.policy).toBe('DROP');
  });

  it('a container with egress=false hits its guard RETURN, then the admin\'s rules decide', () => {
    const r = traceIn(kernel, tcp('172.17.0.5', '10.0.0.5', 8001, { inInterface: 'docker0' }));
    expect(r.verdict).toBe('drop');
    expect(r.steps).toContainEqual(expect.objectContaining({ chain: 'DOCKGATE-INPUT', action: 'return', line: expect.stringContaining('"db/c0ffee000105"') }));
    // Its neighbour with egress reaches the same port.
    expect(traceIn(kernel, tcp('172.17.0.7', '10.0.0.5', 8001, { inInterface: 'docker0' })).verdict).toBe('accept');
  });

  it('a packet from outside straight to a container address dies in raw', () => {
    const r = traceIn(kernel, tcp('203.0.113.9', '172.17.0.3', 80));
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy).toMatchObject({ table: 'raw', chain: 'DOCKGATE-RAW', action: 'drop' });
  });

  it('the text it traced is what iptables-save would show: jumps first, then the admin\'s rules', () => {
    const text = saveText(scenario, 4, HAND_KEPT);
    expect(text).toContain(':INPUT DROP [0:0]\n');
    expect(text.indexOf('-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT')).toBeLessThan(text.indexOf('-A INPUT -i lo -j ACCEPT'));
  });
});

describe('dockgate\'s mangle marks (foreign_chains: allow)', () => {
  it('are walked (MARK continues after routing) and change no verdict', () => {
    const marks = markPlan(scenario);
    const mangle = [
      '*mangle',
      ...['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].map((b) => `:${b} ACCEPT [0:0]`),
      ...marks.chains.map((c) => `:${c.name} - [0:0]`),
      ...marks.jumps.map((j) => `-A ${j.builtin} ${jumpLine(j)}`),
      ...marks.chains.flatMap((c) => linesOf(c).map((r) => `-A ${c.name} ${r}`)),
      'COMMIT',
    ].join('\n');
    const withMarks = parseSave(`${saveText(scenario, 4, HAND_KEPT)}${mangle}\n`);
    for (const [src, port] of [['192.0.2.7', 8000], ['203.0.113.9', 8000], ['203.0.113.9', 8080], ['203.0.113.9', 9000]] as const) {
      const plain = traceIn(kernel, tcp(src, '10.0.0.5', port));
      const marked = traceIn(withMarks, tcp(src, '10.0.0.5', port));
      expect([src, port, marked.verdict, marked.decidedBy]).toEqual([src, port, plain.verdict, plain.decidedBy]);
    }
    const r = traceIn(withMarks, tcp('192.0.2.7', '10.0.0.5', 8000));
    expect(r.steps).toContainEqual(expect.objectContaining({ table: 'mangle', action: 'continue', line: expect.stringContaining('-j MARK --set-xmark') }));
  });
});

describe('every rule line the planner writes is understood', () => {
  it('no option of any chain in any family is unknown to the tracer', () => {
    const big = plan(
      [
        container('web', { id: WEB, network: FRONT, ip: '172.20.0.2', labels: { 'dockgate.ports': '8000:80', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8,2001:db8::/32' } }),
        container('db', { id: DB, network: BACK, ip: '172.21.0.2', labels: { 'dockgate.egress': 'false' } }),
        container('in', { id: APP, network: SEALED, ip: '172.22.0.2' }),
        container('dual', { id: PUB, network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] }),
        container('bad', { id: LOOSE, labels: { 'dockgate.ports': 'nope' } }),
      ],
      [BRIDGE, FRONT, BACK, SEALED, DUAL],
    );
    const lines = [...big.chains, ...(big.ipv6?.chains ?? [])].flatMap((c) => linesOf(c));
    expect(lines.length).toBeGreaterThan(30);
    for (const l of lines) expect([l, parseRule(l).conds.filter((c) => c.kind === 'unknown')]).toEqual([l, []]);
  });
});
