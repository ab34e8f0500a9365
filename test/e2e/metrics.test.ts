// Metrics end to end: dockgate as a real process with metrics.listen on a unix socket in the
// test's temp dir, a real dockerd, a labelled container started, and the scrape done with curl
// over that socket, as Prometheus (or a node-exporter textfile job) would.
import { statSync, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import { sample } from '../metrics/prom-text.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  httpGet,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
  startReadyDaemon,
} from './harness.js';

let h: DockerHost;
let daemon: DaemonProcess;
let socket: string;

/** curl over the socket from the host namespace: HTTP status and body. */
async function scrape(path = '/metrics'): Promise<{ status: number; body: string }> {
  const r = await h.host.exec('curl', ['-s', '-m', '5', '--unix-socket', socket, '-w', '\n%{http_code}', `http://localhost${path}`], { reject: false, timeoutMs: 10_000 });
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)), body: r.stdout.slice(0, cut) };
}

const LATENCY = 'dockgate_event_to_rules_seconds';
const PROXY4 = 'mode="proxy",family="4"';

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  socket = `${h.tmpDir}/run/metrics.sock`;
  const configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\nmetrics:\n  listen: ${socket}\n`);
  daemon = await startReadyDaemon(h, configFile);
});

afterAll(async () => {
  await stopAll();
});

describe('metrics on a unix socket', () => {
  it('serves GET /metrics on a 0660 socket, and nothing else', async () => {
    const listening = await daemon.waitForLog((l) => l.event === 'metrics-listening', 1_000);
    expect(listening.listen).toBe(socket);
    const st = statSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    const r = await scrape();
    expect(r.status).toBe(200);
    expect(sample(r.body, 'dockgate_containers')).toBe(0);
    expect(sample(r.body, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect((await scrape('/')).status).toBe(404);
  });

  it('a labelled container start is one more latency observation, and its opening shows', async () => {
    const before = (await scrape()).body;
    const count0 = sample(before, `${LATENCY}_count`) ?? 0;
    const sum0 = sample(before, `${LATENCY}_sum`) ?? 0;
    const open0 = sample(before, 'dockgate_openings', PROXY4) ?? 0;

    await startWebContainer(h, { name: 'web', ports: [`${HOST_IP}:8000:8000`], labels: { 'dockgate.ports': '8000' } });
    const after = await waitFor(
      'the start in the metrics',
      async () => {
        const body = (await scrape()).body;
        const done = (sample(body, `${LATENCY}_count`) ?? 0) >= count0 + 1 && (sample(body, 'dockgate_openings', PROXY4) ?? 0) >= open0 + 1;
        return done ? body : undefined;
      },
      5_000,
    );
    expect(sample(after, 'dockgate_openings', PROXY4)).toBe(open0 + 1);
    expect(sample(after, 'dockgate_containers')).toBe(1);
    expect(sample(after, 'dockgate_label_errors')).toBe(0);
    expect(sample(after, 'dockgate_restores_total', 'family="4"')).toBeGreaterThan(0);
    // From Docker's own timestamps: seconds at most on a loaded machine, never an epoch-sized number.
    const sum = (sample(after, `${LATENCY}_sum`) ?? 0) - sum0;
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThan(30);
    // What the gauge counts is really open.
    expect((await httpGet(h.outside, `http://${HOST_IP}:8000/`)).ok).toBe(true);
  });

  it('a reload moves the server to a new metrics.listen and stops it with ""; the counters go on', async () => {
    const configFile = `${h.tmpDir}/config.yaml`;
    const moved = `${h.tmpDir}/run/moved.sock`;
    const old = socket;
    const before = sample((await scrape()).body, 'dockgate_containers');
    await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\nmetrics:\n  listen: ${moved}\n`);
    const mark = new Set(daemon.lines);
    process.kill(daemon.pid, 'SIGHUP');
    const reloaded = await daemon.waitForLog((l) => !mark.has(l) && l.event === 'reloaded', 5_000);
    expect(reloaded.needsRestart).toEqual([]);
    await daemon.waitForLog((l) => !mark.has(l) && l.event === 'metrics-listening' && l.listen === moved, 5_000);
    expect(existsSync(old)).toBe(false);
    socket = moved;
    expect(sample((await scrape()).body, 'dockgate_containers')).toBe(before);
    await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
    const mark2 = new Set(daemon.lines);
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog((l) => !mark2.has(l) && l.event === 'reloaded', 5_000);
    expect(await waitFor('socket gone', async () => (existsSync(moved) ? undefined : true), 5_000)).toBe(true);
  });

  it('SIGTERM removes the socket', async () => {
    const stopped = await daemon.stop('SIGTERM');
    expect(stopped.code).toBe(0);
    expect(existsSync(socket)).toBe(false);
  });
});
