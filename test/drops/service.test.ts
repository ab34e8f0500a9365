// Attribution from the daemon's facts: by short id and by address, indexed again on a change and
// on a miss (at most once a second).
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/load.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { DropLogService, type FactsView, factsAttribution } from '../../src/drops/service.js';
import { facts } from './fixtures.js';

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

describe('drop log start-up', () => {
  it('sweeps what a killed daemon left beside the socket before its own reader starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dg-drops-svc-'));
    try {
      const stale = join(dir, 'dockgate-ulogd-killed');
      mkdirSync(stale);
      utimesSync(stale, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
      const config = { ...defaultConfig().drops, socket: join(dir, 'drops.sock'), ulogdCommand: '/bin/false' };
      const lines: Array<Record<string, unknown>> = [];
      const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
      const s = await DropLogService.start({ config, queue: new CommandQueue(), log, facts: () => ({ version: 0, containers: () => [] }) });
      await s.stop();
      expect(existsSync(stale)).toBe(false);
      expect(lines.find((l) => l.event === 'drop-log-swept')).toMatchObject({ dir: stale, reason: 'empty and old' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
