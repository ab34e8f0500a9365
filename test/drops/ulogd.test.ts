// ulogd's private directories beside the drops socket: a daemon killed without stop() leaves its
// directory behind, and the next start removes every one whose daemon is gone, never a live one.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { UlogdReader, sweepStaleUlogdDirs } from '../../src/drops/ulogd.js';
import { deadSocket } from './fixtures.js';

const quiet = pino({ level: 'silent' });
let parent: string | undefined;
let reader: UlogdReader | undefined;

afterEach(async () => {
  await reader?.stop();
  reader = undefined;
  if (parent) rmSync(parent, { recursive: true, force: true });
  parent = undefined;
});

const leftover = (name: string): string => {
  const dir = join(parent!, name);
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, 'ulogd.conf'), '# test\n');
  return dir;
};
const ulogdDirs = (): string[] => readdirSync(parent!).filter((n) => n.startsWith('dockgate-ulogd-')).sort();
const anHourAgo = (path: string): void => utimesSync(path, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));

describe('stale ulogd directories', () => {
  it('are removed at start-up when their daemon is gone; a live daemon\'s directory stays', async () => {
    parent = mkdtempSync(join(tmpdir(), 'dg-ulogd-'));
    // A live daemon's: its reader listens on json.sock (ulogd itself need not run for that).
    reader = UlogdReader.start({ command: '/bin/false', group: 1, queue: new CommandQueue(), log: quiet, onLine: () => undefined, pluginDir: parent, parentDir: parent });
    const [live] = ulogdDirs();
    expect(live).toBeDefined();
    // Killed daemons: a socket nobody answers; a pid file naming a dead process (no socket yet);
    // an empty directory an hour old.
    const dead = leftover('dockgate-ulogd-deadsk');
    const pid = await deadSocket(join(dead, 'json.sock'));
    expect(existsSync(join(dead, 'json.sock'))).toBe(true);
    writeFileSync(join(leftover('dockgate-ulogd-deadpd'), 'dockgate.pid'), `${pid}\n`);
    anHourAgo(leftover('dockgate-ulogd-oldemp'));
    // Kept: one just made (a daemon between mkdtemp and listen), one whose pid file names a live
    // process, and whatever is not ulogd's directory.
    leftover('dockgate-ulogd-fresh1');
    const running = leftover('dockgate-ulogd-alivep');
    writeFileSync(join(running, 'dockgate.pid'), `${process.pid}\n`);
    anHourAgo(running);
    const other = leftover('other-killed');
    await deadSocket(join(other, 'json.sock'));

    const removed = await sweepStaleUlogdDirs(parent, quiet);

    expect(removed.sort()).toEqual(['dockgate-ulogd-deadpd', 'dockgate-ulogd-deadsk', 'dockgate-ulogd-oldemp']);
    expect(ulogdDirs()).toEqual(['dockgate-ulogd-alivep', 'dockgate-ulogd-fresh1', live!].sort());
    expect(existsSync(other)).toBe(true);
  });

  it('a reader names its daemon in a pid file, and its directory goes with stop()', async () => {
    parent = mkdtempSync(join(tmpdir(), 'dg-ulogd-'));
    const started = UlogdReader.start({ command: '/bin/false', group: 1, queue: new CommandQueue(), log: quiet, onLine: () => undefined, pluginDir: parent, parentDir: parent });
    reader = started;
    const [dir] = ulogdDirs();
    expect(readFileSync(join(parent, dir!, 'dockgate.pid'), 'utf8').trim()).toBe(String(process.pid));
    await started?.stop();
    reader = undefined;
    expect(ulogdDirs()).toEqual([]);
  });

  it('a parent directory that does not exist yet is nothing to sweep', async () => {
    expect(await sweepStaleUlogdDirs(join(tmpdir(), `dg-ulogd-missing-${process.pid}`), quiet)).toEqual([]);
  });
});
