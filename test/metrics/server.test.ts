// The scrape endpoint for real: a unix socket in a temp dir and 127.0.0.1:0, answered by
// node:http. Only loopback and unix sockets; nothing leaves the machine.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, existsSync, writeFileSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { type MetricsServer, startMetricsServer } from '../../src/metrics/server.js';
import { sample } from './prom-text.js';

const tmp = mkdtempSync(join(tmpdir(), 'dgm-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let servers: MetricsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(endpoint: Parameters<typeof startMetricsServer>[0], metrics = new DockgateMetrics({ processMetrics: false })): Promise<MetricsServer> {
  const s = await startMetricsServer(endpoint, metrics.registry);
  servers.push(s);
  return s;
}

type Target = { socketPath: string } | { host: string; port: number };

function get(target: Target, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...target, path, method, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('on a unix socket', () => {
  it('answers GET /metrics, 404 for anything else; the socket is 0660 and gone after close', async () => {
    const path = join(tmp, 'run', 'dockgate', 'metrics.sock');
    const metrics = new DockgateMetrics({ processMetrics: false });
    metrics.containers.set(2);
    const s = await startMetricsServer({ kind: 'unix', path }, metrics.registry);
    expect(s.address).toBe(path);
    const st = statSync(path);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);

    const r = await get({ socketPath: path }, '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(r.body, 'dockgate_containers')).toBe(2);
    expect((await get({ socketPath: path }, '/metrics?x=1')).status).toBe(200);
    for (const [method, p] of [['GET', '/'], ['GET', '/metrics/'], ['GET', '/debug'], ['POST', '/metrics'], ['DELETE', '/metrics']] as const) {
      expect((await get({ socketPath: path }, p, method)).status, `${method} ${p}`).toBe(404);
    }
    await s.close();
    expect(existsSync(path)).toBe(false);
  });

  it('takes over a socket left by a killed dockgate, but never one in use or a file that is not a socket', async () => {
    const path = join(tmp, 'stale.sock');
    // A process that binds the socket and dies by SIGKILL leaves the file behind, as a crash would.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(statSync(path).isSocket()).toBe(true);
    await serve({ kind: 'unix', path });
    expect((await get({ socketPath: path }, '/metrics')).status).toBe(200);

    await expect(startMetricsServer({ kind: 'unix', path }, new DockgateMetrics({ processMetrics: false }).registry)).rejects.toThrow(/in use by another process/);
    expect((await get({ socketPath: path }, '/metrics')).status).toBe(200);

    const file = join(tmp, 'not-a-socket');
    writeFileSync(file, 'keep me\n');
    await expect(startMetricsServer({ kind: 'unix', path: file }, new DockgateMetrics({ processMetrics: false }).registry)).rejects.toThrow(/is not a socket/);
    expect(readFileSync(file, 'utf8')).toBe('keep me\n');
  });
});

describe('on loopback TCP', () => {
  it('127.0.0.1:0 picks a port and answers GET /metrics', async () => {
    const s = await serve({ kind: 'tcp', host: '127.0.0.1', port: 0 }, new DockgateMetrics());
    expect(s.port).toBeGreaterThan(0);
    expect(s.address).toBe(`127.0.0.1:${s.port}`);
    const r = await get({ host: '127.0.0.1', port: s.port! }, '/metrics');
    expect(r.status).toBe(200);
    expect(sample(r.body, 'dockgate_queue_length')).toBe(0);
    expect(sample(r.body, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect((await get({ host: '127.0.0.1', port: s.port! }, '/')).status).toBe(404);
  });

  it('a port in use is an error, not a silent second listener', async () => {
    const s = await serve({ kind: 'tcp', host: '127.0.0.1', port: 0 });
    await expect(startMetricsServer({ kind: 'tcp', host: '127.0.0.1', port: s.port! }, new DockgateMetrics({ processMetrics: false }).registry)).rejects.toThrow(/EADDRINUSE/);
  });
});
