// resolv.conf followed as it changes: replaced by rename (as resolvconf and NetworkManager do), a
// symlink re-pointed or its target rewritten (systemd-resolved), edited in place; a burst of
// writes is one change, a change that leaves the nameservers alone is none, and stop() ends it.
import { mkdtemp, rename, rm, symlink, unlink, writeFile, mkdir } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ResolvConfWatch } from '../../src/egress/resolv-conf-watch.js';

let dir: string;
let watch: ResolvConfWatch | undefined;
let changes: string[][];
let events: Array<Record<string, unknown>>;

const log = () =>
  pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        events.push(JSON.parse(String(chunk)) as Record<string, unknown>);
        done();
      },
    }),
  );

/** Waits (bounded) until `n` changes were seen. */
async function changesReach(n: number, timeoutMs = 3_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (changes.length < n) {
    if (Date.now() > end) throw new Error(`saw ${changes.length} change(s), wanted ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const quiet = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function start(path: string): Promise<ResolvConfWatch> {
  watch = new ResolvConfWatch({ path, log: log(), settleMs: 50, onChange: (servers) => changes.push([...servers]) });
  await watch.start();
  return watch;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dg-resolv-'));
  changes = [];
  events = [];
});

afterEach(async () => {
  watch?.stop();
  watch = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('ResolvConfWatch', () => {
  it('reads the file at start and follows a replacement by rename, logging the change', async () => {
    const path = join(dir, 'resolv.conf');
    await writeFile(path, 'nameserver 192.0.2.1\n');
    const w = await start(path);
    expect(w.watching).toBe(true);
    expect(w.current).toEqual({ ok: true, value: ['192.0.2.1'] });
    await writeFile(join(dir, 'resolv.conf.new'), 'nameserver 192.0.2.2\nnameserver 2001:db8::53\n');
    await rename(join(dir, 'resolv.conf.new'), path);
    await changesReach(1);
    expect(changes).toEqual([['192.0.2.2', '2001:db8::53']]);
    expect(w.current).toEqual({ ok: true, value: ['192.0.2.2', '2001:db8::53'] });
    expect(events.find((e) => e.event === 'resolv-conf-changed')).toMatchObject({ path, servers: ['192.0.2.2', '2001:db8::53'], before: ['192.0.2.1'] });
  });

  it('a burst of writes is one change; a rewrite with the same nameservers is none', async () => {
    const path = join(dir, 'resolv.conf');
    await writeFile(path, 'nameserver 192.0.2.1\n');
    await start(path);
    // Synchronous writes: every event arrives in one go, however loaded the machine.
    for (let i = 0; i < 5; i++) writeFileSync(path, `# written ${i}\nnameserver 192.0.2.${10 + (i === 4 ? 0 : i)}\n`);
    await changesReach(1);
    await quiet(200);
    expect(changes).toEqual([['192.0.2.10']]);
    await writeFile(path, '# only a comment changed\nnameserver 192.0.2.10\n');
    await quiet(200);
    expect(changes).toHaveLength(1);
  });

  it('a symlink: its target rewritten in another directory, and the link re-pointed', async () => {
    await mkdir(join(dir, 'run'));
    await writeFile(join(dir, 'run', 'a.conf'), 'nameserver 192.0.2.1\n');
    await writeFile(join(dir, 'run', 'b.conf'), 'nameserver 192.0.2.3\n');
    const path = join(dir, 'resolv.conf');
    await symlink(join(dir, 'run', 'a.conf'), path);
    await start(path);
    await writeFile(join(dir, 'run', 'a.conf'), 'nameserver 192.0.2.2\n');
    await changesReach(1);
    await unlink(path);
    await symlink(join(dir, 'run', 'b.conf'), path);
    await changesReach(2);
    expect(changes).toEqual([['192.0.2.2'], ['192.0.2.3']]);
    // The new target is followed, not the old one.
    await writeFile(join(dir, 'run', 'a.conf'), 'nameserver 192.0.2.9\n');
    await writeFile(join(dir, 'run', 'b.conf'), 'nameserver 192.0.2.4\n');
    await changesReach(3);
    await quiet(200);
    expect(changes.at(-1)).toEqual(['192.0.2.4']);
    expect(changes).toHaveLength(3);
  });

  it('a file that goes away is no nameservers until it is back', async () => {
    const path = join(dir, 'resolv.conf');
    await writeFile(path, 'nameserver 192.0.2.1\n');
    const w = await start(path);
    await unlink(path);
    await changesReach(1);
    expect(w.current.ok).toBe(false);
    await writeFile(path, 'nameserver 192.0.2.1\n');
    await changesReach(2);
    expect(changes).toEqual([[], ['192.0.2.1']]);
  });

  it('a directory that does not exist is not watched: the caller reads at each sync instead', async () => {
    const w = await start(join(dir, 'missing', 'resolv.conf'));
    expect(w.watching).toBe(false);
    expect(events.find((e) => e.event === 'resolv-conf-unwatched')).toBeDefined();
  });

  it('stop() ends it: no change is reported after', async () => {
    const path = join(dir, 'resolv.conf');
    await writeFile(path, 'nameserver 192.0.2.1\n');
    const w = await start(path);
    w.stop();
    expect(w.watching).toBe(false);
    await writeFile(path, 'nameserver 192.0.2.2\n');
    await quiet(200);
    expect(changes).toEqual([]);
  });
});
