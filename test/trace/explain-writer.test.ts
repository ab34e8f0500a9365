// Who explain says wrote a deciding rule: dockgate only for its own chains, by exact name.
import { describe, expect, it } from 'vitest';
import { writerOf } from '../../src/trace/explain.js';

describe('writerOf', () => {
  it.each([
    ['DOCKGATE-OPENINGS-3f', 'dockgate'],
    ['DOCKGATE-INPUT', 'dockgate'],
    ['DOCKGATE-USER', 'your DOCKGATE-USER chain'],
    // The admin's chain whose name only starts like dockgate's: theirs.
    ['DOCKGATE-USER-BANS', "the admin's own rule"],
    ['f2b-sshd', "the admin's own rule"],
  ])('%s: %s', (chain, by) => {
    expect(writerOf({ table: 'filter', chain, rule: 1, line: '-s 203.0.113.9/32 -j DROP', action: 'drop' })).toBe(by);
  });
});
