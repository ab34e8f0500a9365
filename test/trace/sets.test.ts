// The tracer deciding `-m set --match-set NAME dst` from the members of the kernel's ipsets (as
// `ipset save` read them): a member decides yes, a non-member no, and a set whose members it was
// not given stays uncertain (unknown, never a guess).
import { describe, expect, it } from 'vitest';
import { parseSave } from '../../src/plan/kernel-state.js';
import { parseRule } from '../../src/trace/rule.js';
import { type SetMembers, setMatchOf } from '../../src/trace/sets.js';
import { trace } from '../../src/trace/trace.js';
import { HOST, tcp } from './helpers.js';

const SET = 'dockgate-e4-0123456789ab';
const SET6 = 'dockgate-e6-0123456789ab';
const state = parseSave(
  [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    `-A FORWARD -s 172.17.0.2/32 -i docker0 -p tcp -m set --match-set ${SET} dst -m tcp --dport 443 -m conntrack --ctstate NEW -m comment --comment "app/0123456789ab" -j ACCEPT`,
    `-A FORWARD -s 172.17.0.2/32 -i docker0 -p tcp -m set ! --match-set ${SET} dst -m tcp --dport 8443 -j ACCEPT`,
    'COMMIT',
    '',
  ].join('\n'),
);
const sets: SetMembers = new Map([
  [SET, { family: 4 as const, members: new Map([['203.0.113.7', 42], ['203.0.113.8', 300]]) }],
  [SET6, { family: 6 as const, members: new Map([['2001:db8::7', 12]]) }],
]);
const fromContainer = (dst: string, dport: number) => tcp('172.17.0.2', dst, dport, { inInterface: 'docker0' });

describe('-m set --match-set in the tracer', () => {
  it('parses the match as a set condition, negation included', () => {
    const conds = parseRule(`-p tcp -m set ! --match-set ${SET} dst -m tcp --dport 443 -j ACCEPT`).conds;
    expect(conds).toContainEqual({ kind: 'set', set: SET, dir: 'dst', neg: true, text: `! --match-set ${SET} dst` });
    // Flags the tracer does not model (a second dimension, counters) are not judged.
    expect(parseRule(`-m set --match-set ${SET} dst,dst -j ACCEPT`).conds[0]!.kind).toBe('unknown');
  });

  it('a member of the set is accepted, by that rule', () => {
    const r = trace({ state, host: HOST, packet: fromContainer('203.0.113.7', 443), sets });
    expect(r.verdict).toBe('accept');
    expect(r.decidedBy?.rule).toBe(1);
    expect(setMatchOf(r.decidedBy!.line!, '203.0.113.7', '172.17.0.2', sets)).toEqual({ set: SET, address: '203.0.113.7', secondsLeft: 42 });
  });

  it('an address the set does not hold falls to the policy; the negated match inverts', () => {
    expect(trace({ state, host: HOST, packet: fromContainer('203.0.113.9', 443), sets }).verdict).toBe('drop');
    expect(trace({ state, host: HOST, packet: fromContainer('203.0.113.9', 8443), sets }).verdict).toBe('accept');
    expect(trace({ state, host: HOST, packet: fromContainer('203.0.113.7', 8443), sets }).verdict).toBe('drop');
  });

  it('without the members the match is uncertain and the verdict unknown, naming the set', () => {
    const r = trace({ state, host: HOST, packet: fromContainer('203.0.113.7', 443) });
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toContain(`the members of ipset ${SET} are not known`);
  });

  it('a set missing from what was read is uncertain too, not empty', () => {
    const r = trace({ state, host: HOST, packet: fromContainer('203.0.113.7', 443), sets: new Map() });
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toContain(`ipset ${SET} was not among the sets read`);
  });

  it('IPv6 members compare by value, whatever the spelling', () => {
    const v6 = parseSave(
      ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', `-A FORWARD -i docker0 -p tcp -m set --match-set ${SET6} dst -j ACCEPT`, 'COMMIT', ''].join('\n'),
    );
    const p = tcp('fd00:db8:1::2', '2001:0db8:0:0::7', 443, { inInterface: 'docker0' });
    expect(trace({ state: v6, host: HOST, packet: p, sets }).verdict).toBe('accept');
    expect(trace({ state: v6, host: HOST, packet: { ...p, dst: '2001:db8::8' }, sets }).verdict).toBe('drop');
    expect(setMatchOf(`-i docker0 -p tcp -m set --match-set ${SET6} dst -j ACCEPT`, '2001:0db8::7', 'fd00:db8:1::2', sets)).toEqual({ set: SET6, address: '2001:db8::7', secondsLeft: 12 });
  });

  it('setMatchOf says nothing for a rule without a set match', () => {
    expect(setMatchOf('-p tcp -m tcp --dport 443 -j ACCEPT', '203.0.113.7', '172.17.0.2', sets)).toBeUndefined();
  });
});
