// Attribution from the daemon's facts: by short id and by address, indexed again on a change and
// on a miss (at most once a second).
import { describe, expect, it } from 'vitest';
import { type FactsView, factsAttribution } from '../../src/drops/service.js';
import type { ContainerFacts } from '../../src/model/types.js';

const facts = (id: string, name: string, ipv4: string, ipv6 = ''): ContainerFacts => ({
  id: id.padEnd(64, '0'),
  name,
  labels: {},
  image: { kind: 'inspected', ref: 'x', sameAsImage: [] },
  networks: [{ networkId: 'n', networkName: 'bridge', ipv4, ipv6 }],
  ports: [],
  created: '2026-01-01T00:00:00.000000000Z',
});

describe('facts attribution', () => {
  it('finds containers by short id and by either address, and sees a new container on a miss', () => {
    let view: FactsView = { version: 1, containers: () => [facts('abcdef012345', 'web', '172.17.0.2', 'FD00::2')] };
    let now = 0;
    const a = factsAttribution(() => view, () => now);
    expect(a.byShortId('abcdef012345')).toEqual({ id: 'abcdef012345', name: 'web' });
    expect(a.byAddress('fd00::2')?.name).toBe('web');
    expect(a.byAddress('172.17.0.3')).toBeUndefined();
    // Same version, the container only now in the list: found once a second has passed.
    view = { version: 1, containers: () => [facts('abcdef012345', 'web', '172.17.0.2'), facts('0123456789ab', 'late', '172.17.0.3')] };
    now = 500;
    expect(a.byAddress('172.17.0.3')).toBeUndefined();
    now = 1500;
    expect(a.byAddress('172.17.0.3')?.name).toBe('late');
    // A new version is read at once.
    view = { version: 2, containers: () => [facts('0123456789ab', 'renamed', '172.17.0.3')] };
    expect(a.byAddress('172.17.0.3')?.name).toBe('renamed');
  });
});
