// What dockgate names but leaves alone: a rule it did not write, or a whole chain of its name in a
// table it does not manage, told apart by kind, never by an empty line.
import { describe, expect, it } from 'vitest';
import { type ForeignRule, describeForeign, foreignJson } from '../../src/plan/foreign-rule.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { leftLines } from '../../src/cli/flush.js';

const jump: ForeignRule = { kind: 'rule', table: 'filter', chain: 'INPUT', line: '-i eth0 -j DOCKGATE-INPUT', target: 'DOCKGATE-INPUT', why: 'admin-jump' };
const elsewhere: ForeignRule = { kind: 'rule', table: 'mangle', chain: 'PREROUTING', line: '-j DOCKGATE-RAW', target: 'DOCKGATE-RAW', why: 'unmanaged-table' };
const chain: ForeignRule = { kind: 'chain', table: 'mangle', chain: 'DOCKGATE-RAW', target: 'DOCKGATE-RAW', why: 'unmanaged-table' };

describe('foreign rules', () => {
  it('a whole chain in a table dockgate does not manage is found as a chain, with no line', () => {
    const state = parseSave('*mangle\n:PREROUTING ACCEPT [0:0]\n:DOCKGATE-RAW - [0:0]\n-A PREROUTING -j DOCKGATE-RAW\nCOMMIT\n');
    const found = compare({ chains: [], jumps: [], containers: [] }, state, ['filter']).foreign;
    expect(found).toEqual([elsewhere, chain]);
    expect(found[1]).not.toHaveProperty('line');
  });

  it('each kind is told in its own words', () => {
    expect(describeForeign(jump)).toBe('filter INPUT: -i eth0 -j DOCKGATE-INPUT (not written by dockgate); left alone, and DOCKGATE-INPUT is kept while it jumps there');
    expect(describeForeign(elsewhere)).toBe('mangle PREROUTING: -j DOCKGATE-RAW (in the mangle table, which dockgate does not manage); left alone');
    expect(describeForeign(chain)).toBe('mangle DOCKGATE-RAW: a dockgate chain in the mangle table, which dockgate does not manage; left alone');
  });

  it('status --json keeps its shape: line "" for a whole chain, the family last for IPv6', () => {
    expect(JSON.stringify(foreignJson(chain))).toBe('{"table":"mangle","chain":"DOCKGATE-RAW","line":"","target":"DOCKGATE-RAW","why":"unmanaged-table"}');
    expect(JSON.stringify(foreignJson({ ...jump, family: 6 }))).toBe(
      '{"table":"filter","chain":"INPUT","line":"-i eth0 -j DOCKGATE-INPUT","target":"DOCKGATE-INPUT","why":"admin-jump","family":6}',
    );
  });

  it('flush says what it left in place, and which chains it kept for an admin jump', () => {
    expect(leftLines([jump, elsewhere, chain])).toEqual([
      'left in place: filter INPUT rule "-i eth0 -j DOCKGATE-INPUT": not written by dockgate',
      'left in place: mangle PREROUTING rule "-j DOCKGATE-RAW": dockgate does not manage the mangle table',
      'left in place: mangle chain DOCKGATE-RAW: dockgate does not manage the mangle table',
      'kept, emptied: filter DOCKGATE-INPUT: a rule dockgate did not write jumps to it',
    ]);
  });
});
