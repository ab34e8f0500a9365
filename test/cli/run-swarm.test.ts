// `dockgate run` on a swarm node: the built CLI, in a network namespace of its own (it would
// write the namespace's firewall if it did not refuse), against a scripted Docker API on a unix
// socket that says what swarm state it is in. Needs root and `npm run build`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Netns, createNetns, destroyNetns, sbinPath } from '../support/netns.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const ROOT = process.getuid?.() === 0;

let dir: string;
let ns: Netns;
let server: Server;
let swarm = 'inactive';
let socket: string;
let configFile: string;

/** Docker's API as far as a start-up needs it: events (held open), info, empty lists. */
function fakeDocker(path: string): Promise<Server> {
  const s = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const route = url.pathname.replace(/^\/v[\d.]+/, '');
    if (route === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return; // silence is the stream's normal state
    }
    res.setHeader('content-type', 'application/json');
    if (route === '/info') return res.end(JSON.stringify({ ServerVersion: '20.10.24', Swarm: { LocalNodeState: swarm } }));
    if (route === '/_ping') return res.end('OK');
    if (route === '/containers/json' || route === '/networks') return res.end('[]');
    res.statusCode = 404;
    res.end(JSON.stringify({ message: `not scripted: ${route}` }));
  });
  return new Promise((resolve) => s.listen(path, () => resolve(s)));
}

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(): Run {
  let out = '';
  let err = '';
  const child = spawn('nsenter', [`--net=${ns.path}`, process.execPath, CLI, 'run', '--config', configFile], {
    env: { PATH: sbinPath() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** The exit code, or a kill after `ms` (every wait is bounded). */
async function exitWithin(r: Run, ms: number): Promise<number | null | 'still running'> {
  const timer = new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), ms));
  const code = await Promise.race([r.exited, timer]);
  if (code === 'still running') r.child.kill('SIGKILL');
  return code;
}

const events = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(!ROOT)('dockgate run on a swarm node', () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
    dir = await mkdtemp(join(tmpdir(), 'dockgate-run-swarm-'));
    socket = join(dir, 'docker.sock');
    server = await fakeDocker(socket);
    configFile = join(dir, 'config.yaml');
    await writeFile(configFile, `external_interfaces: []\ndocker:\n  host: "unix://${socket}"\n`);
    ns = await createNetns('swarm');
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses: exit 2, a message naming swarm, and no rule written', async () => {
    swarm = 'active';
    const r = start();
    expect(await exitWithin(r, 30_000)).toBe(2);
    expect(r.stderr()).toMatch(/^dockgate: this Docker node is in a swarm \(Swarm\.LocalNodeState active\): swarm needs Docker's own iptables rules/);
    expect(events(r.stdout()).find((l) => l.event === 'swarm')).toMatchObject({ level: 'error', state: 'active', refused: true });
    expect(events(r.stdout()).some((l) => l.event === 'ready')).toBe(false);
    const saved = await ns.exec('iptables-save', []);
    expect(saved.stdout).not.toContain('DOCKGATE');
  });

  it('not in a swarm: starts as usual (ready), and SIGTERM ends it', async () => {
    swarm = 'inactive';
    const r = start();
    const deadline = Date.now() + 30_000;
    while (!events(r.stdout()).some((l) => l.event === 'ready') && Date.now() < deadline) {
      if (r.child.exitCode !== null) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(events(r.stdout()).some((l) => l.event === 'ready'), r.stdout() + r.stderr()).toBe(true);
    r.child.kill('SIGTERM');
    expect(await exitWithin(r, 10_000)).toBe(0);
  });
});
