// What dockgate takes for its own chains: exact names only. Whatever it takes for its own it
// empties and deletes at the next repair or flush, so a prefix would eat the admin's chains.
import { describe, expect, it } from 'vitest';
import { MARK_TABLE, USER, isManagedChain, isMarkChain, managedChainTable, markChainName } from '../../src/plan/chains.js';
import { markPlan } from '../../src/plan/marks.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { DEFAULTS, DUAL, container } from './fixtures.js';

describe('chains dockgate manages', () => {
  it.each([
    ['DOCKGATE-INPUT', 'filter'],
    ['DOCKGATE-OPENINGS', 'filter'],
    ['DOCKGATE-OPENINGS-3f', 'filter'],
    ['DOCKGATE-FORWARD', 'filter'],
    ['DOCKGATE-CONTAINERS-00', 'filter'],
    ['DOCKGATE-PREROUTING', 'nat'],
    ['DOCKGATE-DNAT', 'nat'],
    ['DOCKGATE-DNAT-ff', 'nat'],
    ['DOCKGATE-OUTPUT', 'nat'],
    ['DOCKGATE-POSTROUTING', 'nat'],
    ['DOCKGATE-RAW', 'raw'],
    // The layout before the shards: an upgraded host still loses them.
    ['DOCKGATE-CI-0123456789ab', 'filter'],
    ['DOCKGATE-CF-0123456789ab', 'filter'],
    ['DOCKGATE-CN-0123456789ab', 'nat'],
    // The footprint marks: mirrors of the filter chains, in mangle.
    ['DOCKGATE-MINPUT', 'mangle'],
    ['DOCKGATE-MOPENINGS-3f', 'mangle'],
  ])('%s is dockgate\'s (%s)', (name, table) => {
    expect(managedChainTable(name)).toBe(table);
    expect(isManagedChain(name)).toBe(true);
  });

  it.each([
    USER,
    'DOCKGATE-USER-BANS',
    'DOCKGATE-USER-f2b',
    'DOCKGATE-INPUT-ADMIN',
    'DOCKGATE-INPUTS',
    'DOCKGATE-OPENINGS-3F',
    'DOCKGATE-OPENINGS-3',
    'DOCKGATE-OPENINGS-3f0',
    'DOCKGATE-RAW-xx',
    'DOCKGATE-CI-0123456789AB',
    'DOCKGATE-CI-0123456789a',
    'DOCKGATE-FOO',
    'DOCKGATE-',
    'DOCKGATE-MUSER',
    'DOCKGATE-MINPUT-X',
    'INPUT',
    'dockgate-input',
  ])('%s is not', (name) => {
    expect(isManagedChain(name)).toBe(false);
    expect(managedChainTable(name)).toBeUndefined();
  });
});

describe('mark chains (mangle)', () => {
  it('are the mirrors of dockgate\'s filter chains, and nothing else', () => {
    for (const name of ['DOCKGATE-MINPUT', 'DOCKGATE-MOPENINGS', 'DOCKGATE-MOPENINGS-3f', 'DOCKGATE-MFORWARD', 'DOCKGATE-MCONTAINERS-a0', 'DOCKGATE-MCI-0123456789ab']) {
      expect(isMarkChain(name), name).toBe(true);
    }
    for (const name of ['DOCKGATE-MYMARKS', 'DOCKGATE-MUSER', 'DOCKGATE-MUSER-BANS', 'DOCKGATE-MDNAT', 'DOCKGATE-MRAW', 'DOCKGATE-MINPUT-X', 'DOCKGATE-INPUT', 'DOCKGATE-M']) {
      expect(isMarkChain(name), name).toBe(false);
    }
  });

  it('markChainName and isMarkChain agree', () => {
    expect(markChainName('DOCKGATE-OPENINGS-3f')).toBe('DOCKGATE-MOPENINGS-3f');
    expect(isMarkChain(markChainName('DOCKGATE-OPENINGS-3f'))).toBe(true);
    expect(MARK_TABLE).toBe('mangle');
  });
});

describe('the planner and the ownership test never disagree', () => {
  const plan = buildRuleSet({
    labelPrefix: 'dockgate',
    defaults: DEFAULTS,
    networks: [DUAL],
    containers: [
      container('web', { id: `3f${'a'.repeat(62)}`, network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', publish: ['0.0.0.0:8000:80/tcp'], labels: { 'dockgate.ports': '80' } }),
      container('api', { id: `c0${'b'.repeat(62)}`, network: DUAL, ip: '172.23.0.3', labels: { 'dockgate.ports': '10.0.0.5:8080:80', 'dockgate.mode': 'dnat', 'dockgate.egress': 'true' } }),
    ],
  });

  it('every chain it plans is managed, in the table it is planned in, except DOCKGATE-USER', () => {
    for (const family of [plan, plan.ipv6!]) {
      const chains = family.chains.filter((c) => c.name !== USER);
      expect(chains.length).toBeGreaterThan(8);
      for (const c of chains) expect(managedChainTable(c.name), c.name).toBe(c.table);
      expect(family.chains.some((c) => c.name === USER && !isManagedChain(c.name))).toBe(true);
    }
  });

  it('every mark chain it plans is a mark chain', () => {
    const marks = markPlan(plan);
    expect(marks.chains.length).toBeGreaterThan(3);
    for (const c of marks.chains) expect(isMarkChain(c.name), c.name).toBe(true);
  });
});
