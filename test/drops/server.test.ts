// The drops socket: root-only, entries newest last, filters, --follow, and status's question.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DropRecorder } from '../../src/drops/recorder.js';
import { DropsServer, askDrops } from '../../src/drops/server.js';
import { type WireContainerDrops, type WireDrop, formatDrop } from '../../src/drops/wire.js';
import { parseDuration } from '../../src/cli/drops.js';
import type { LoggedPacket } from '../../src/drops/ulogd-json.js';
import { until } from '../support/poll.js';
import { WEB, attribution, deadSocket, packet as samplePacket } from './fixtures.js';

/** A fixed wall-clock time, so that the formatted line below is known. */
const T0 = Date.UTC(2026, 11, 6, 13, 0, 0);
const packet = (over: Partial<LoggedPacket> = {}): LoggedPacket => samplePacket({ at: T0, ...over });

let dir: string | undefined;
let server: DropsServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function serve(): Promise<{ recorder: DropRecorder; path: string }> {
  dir = mkdtempSync(join(tmpdir(), 'dg-drops-'));
  const path = join(dir, 'sub', 'drops.sock');
  const recorder = new DropRecorder({ ratePerSecond: 100, burst: 100, attribution });
  server = await DropsServer.listen(path, recorder);
  return { recorder, path };
}

const ask = async (path: string, req: Parameters<typeof askDrops>[1]): Promise<string[]> => {
  const lines: string[] = [];
  await askDrops(path, req, (l) => lines.push(l), 2000);
  return lines;
};

describe('drops socket', () => {
  it('is root-only and answers entries newest last, with filters', async () => {
    const { recorder, path } = await serve();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    recorder.record(packet(), 0);
    recorder.record(packet({ at: packet().at + 60_000, reason: 'egress-denied', shortId: undefined, src: '172.17.0.9', dst: '1.1.1.1', dport: 443 }), 0);
    const all = (await ask(path, { op: 'entries' })).map((l) => JSON.parse(l) as WireDrop);
    expect(all.map((d) => d.reason)).toEqual(['not-labelled', 'egress-denied']);
    expect(all[0]).toEqual({
      time: '2026-12-06T13:00:00.000Z',
      first: '2026-12-06T13:00:00.000Z',
      container: WEB,
      reason: 'not-labelled',
      family: 4,
      src: '10.0.0.9',
      dst: '10.0.0.5',
      dport: 8080,
      protocol: 'tcp',
      count: 1,
    });
    expect(formatDrop(all[0]!)).toBe('2026-12-06T13:00:00.000Z  web/abcdef012345  not-labelled  10.0.0.9 → 10.0.0.5:8080/tcp  x1');
    expect(formatDrop(all[1]!)).toContain('  host  egress-denied  172.17.0.9 → 1.1.1.1:443/tcp');
    expect(await ask(path, { op: 'entries', container: 'web' })).toHaveLength(1);
    expect(await ask(path, { op: 'entries', sinceMs: packet().at + 1 })).toHaveLength(1);
    const containers = (await ask(path, { op: 'containers' })).flatMap((l) => JSON.parse(l) as WireContainerDrops[]);
    expect(containers).toEqual([expect.objectContaining({ container: WEB, count: 1 })]);
  });

  it('--follow: the backlog, then each new entry as it is recorded', async () => {
    const { recorder, path } = await serve();
    recorder.record(packet(), 0);
    const lines: string[] = [];
    const done = askDrops(path, { op: 'entries', follow: true, container: 'web' }, (l) => lines.push(l), 500);
    await until(() => lines.length === 1, { what: 'the backlog', timeoutMs: 2000 });
    // Longer than the client's answer timeout: a follower waits as long as it likes.
    await new Promise((r) => setTimeout(r, 700));
    const r = recorder.record(packet({ src: '10.0.0.10' }), 0);
    if (r.kind === 'new') server!.publish(r.entry);
    const other = recorder.record(packet({ shortId: undefined, src: '10.0.0.11' }), 0);
    if (other.kind === 'new') server!.publish(other.entry);
    await until(() => lines.length === 2, { what: 'the new entry', timeoutMs: 2000 });
    await server!.close();
    server = undefined;
    await done;
    expect(lines.map((l) => (JSON.parse(l) as WireDrop).src)).toEqual(['10.0.0.9', '10.0.0.10']);
  });

  it('leaves a socket another daemon serves alone, and replaces a dead one', async () => {
    const { recorder, path } = await serve();
    await expect(DropsServer.listen(path, recorder)).rejects.toThrow(/served by another running dockgate/);
    expect(await ask(path, { op: 'entries' })).toEqual([]);
    await server!.close();
    server = undefined;
    // What a SIGKILLed daemon leaves: a socket file nobody listens on.
    await deadSocket(path);
    expect(statSync(path).isSocket()).toBe(true);
    server = await DropsServer.listen(path, recorder);
    expect(await ask(path, { op: 'entries' })).toEqual([]);
  });

  it('reads durations for --since', () => {
    expect([parseDuration('90s'), parseDuration('15m'), parseDuration('2h'), parseDuration('1d'), parseDuration('30'), parseDuration('500ms')]).toEqual([90_000, 900_000, 7_200_000, 86_400_000, 30_000, 500]);
    expect(parseDuration('-1s')).toBeUndefined();
    expect(parseDuration('1w')).toBeUndefined();
  });
});
