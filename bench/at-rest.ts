// `dockgate run` (the built CLI, as the unit runs it) at rest on 1,000 synthetic containers, without
// dockerd: a scripted Docker API on a unix socket answers the list and the inspects, and the
// daemon works on the real kernel of a network namespace this script makes and removes. Prints
// its CPU over a window (dockgate, and the processes it ran and waited for) and the commands it
// logged, to find what the benchmark's CPU at rest is spent on without 1,000 real containers.
//   npm run build && npx tsx bench/at-rest.ts [NAMES] [SECONDS]    NAMES: DNS names in every
//   container's allow-list (defaults.egress; dnsmasq in the namespace answers), SECONDS: window.
//   DOCKGATE_CPU_PROF=DIR also writes a V8 CPU profile of the daemon there (the profiler's own
//   overhead then inflates the CPU figures; read the profile's samples instead).
import { createServer } from 'node:http';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fleet, NETWORKS } from './lib/facts.js';
import { createNetns, destroyNetns } from '../test/support/netns.js';
import { NODE_FLAGS } from '../src/install/install-files.js';
import { CLI_PATH } from '../test/e2e/harness.js';

const names = Number(process.argv[2] ?? 0);
const windowS = Number(process.argv[3] ?? 180);
if (!(Number.isInteger(names) && names >= 0 && names <= 250 && windowS > 0 && windowS <= 3600)) throw new Error('usage: bench/at-rest.ts [NAMES 0-250] [SECONDS 1-3600]');
const dir = mkdtempSync('/tmp/dgt-atrest-');
const sock = `${dir}/docker.sock`;
const cs = fleet(1000);
const IMG = `sha256:${'ab'.repeat(32)}`;
const inspect = (c: (typeof cs)[number]) => ({
  Id: c.id, Name: `/${c.name}`, Created: c.created, Image: IMG,
  State: { Running: true, Pid: 0, StartedAt: c.created },
  Config: { Image: 'svc:1', Labels: c.labels },
  HostConfig: { NetworkMode: 'default' },
  NetworkSettings: {
    Ports: Object.fromEntries(c.ports.map((p) => [`${p.containerPort}/${p.protocol}`, [{ HostIp: p.hostIp, HostPort: String(p.hostPort) }]])),
    Networks: Object.fromEntries(c.networks.map((n) => [n.networkName, { NetworkID: n.networkId, IPAddress: n.ipv4, GlobalIPv6Address: '', MacAddress: '' }])),
  },
});
const nets = NETWORKS.map((n) => ({ Id: n.id, Name: n.name, Driver: 'bridge', Internal: false, EnableIPv6: false, Options: { 'com.docker.network.bridge.name': n.bridge }, IPAM: { Config: n.subnets.map((s) => ({ Subnet: s })) } }));
const byId = new Map(cs.map((c) => [c.id, c]));
let requests = 0;
const server = createServer((req, res) => {
  requests++;
  const url = new URL(req.url ?? '/', 'http://docker');
  const route = url.pathname.replace(/^\/v[\d.]+/, '');
  res.setHeader('content-type', 'application/json');
  if (route === '/events') { res.writeHead(200); res.flushHeaders(); return; }
  if (route === '/info') return res.end(JSON.stringify({ ServerVersion: '20.10.24', Swarm: { LocalNodeState: 'inactive' } }));
  if (route === '/version') return res.end(JSON.stringify({ Version: '20.10.24', ApiVersion: '1.41', MinAPIVersion: '1.12' }));
  if (route === '/_ping') return res.end('OK');
  if (route === '/containers/json') return res.end(JSON.stringify(cs.map((c) => ({ Id: c.id, State: 'running' }))));
  if (route === '/networks') return res.end(JSON.stringify(nets));
  let m = /^\/networks\/([^/]+)$/.exec(route);
  if (m) { const n = nets.find((x) => x.Id === m![1] || x.Name === m![1]); if (n) return res.end(JSON.stringify(n)); }
  m = /^\/containers\/([0-9a-f]{64})\/json$/.exec(route);
  if (m && byId.has(m[1]!)) return res.end(JSON.stringify(inspect(byId.get(m[1]!)!)));
  m = /^\/images\/([^/]+)\/json$/.exec(route);
  if (m) return res.end(JSON.stringify({ Id: IMG, Config: { Labels: {} } }));
  res.statusCode = 404;
  res.end(JSON.stringify({ message: `not scripted: ${route}` }));
});
await new Promise<void>((r) => server.listen(sock, r));
type Line = Record<string, unknown>;
const lines: Line[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let ns: Awaited<ReturnType<typeof createNetns>> | undefined;
let child: ChildProcess | undefined;
let dnsmasq: ChildProcess | undefined;
try {
  ns = await createNetns('atrest');
  const netns = `--net=${ns.path}`;
  const list = Array.from({ length: names }, (_, i) => `n${i}.names.bench.test:443`).join(', ');
  if (names > 0) {
    const hosts = Array.from({ length: names }, (_, i) => `198.18.1.${i + 1} n${i}.names.bench.test\n198.18.2.${i + 1} n${i}.names.bench.test\n`);
    writeFileSync(`${dir}/hosts`, hosts.join(''));
    writeFileSync(`${dir}/resolv.conf`, 'nameserver 127.0.0.1\n');
    await ns.exec('ip', ['link', 'set', 'lo', 'up']);
    dnsmasq = spawn('nsenter', [netns, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${dir}/hosts`, '--listen-address=127.0.0.1', '--bind-interfaces', '--local-ttl=60', '--user=root', `--pid-file=${dir}/dnsmasq.pid`], { stdio: 'ignore' });
  }
  const cfg = `${dir}/dockgate.yaml`;
  writeFileSync(cfg, `log_level: debug\ndocker:\n  host: unix://${sock}\n${names > 0 ? `egress:\n  resolv_conf: ${dir}/resolv.conf\ndefaults:\n  egress: "${list}"\n` : ''}`);
  const profile = process.env.DOCKGATE_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DOCKGATE_CPU_PROF}`] : [];
  const daemon = spawn('nsenter', [netns, process.execPath, ...NODE_FLAGS, ...profile, CLI_PATH, 'run', '--config', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = daemon;
  createInterface({ input: daemon.stdout! }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l) as Line);
    } catch {
      console.log('out', l);
    }
  });
  createInterface({ input: daemon.stderr! }).on('line', (l) => console.log('err', l));
  const stat = (): { self: number; kids: number } => {
    const f = readFileSync(`/proc/${daemon.pid}/stat`, 'utf8');
    const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return { self: (Number(x[11]) + Number(x[12])) * 10, kids: (Number(x[13]) + Number(x[14])) * 10 };
  };
  for (let i = 0; i < 600 && !lines.some((l) => l.event === 'ready'); i++) await sleep(100);
  if (!lines.some((l) => l.event === 'ready')) throw new Error(`dockgate was not ready within 60 s: ${JSON.stringify(lines.slice(-3))}`);
  await sleep(20_000);
  const a = stat();
  const from = lines.length;
  const r0 = requests;
  const t0 = Date.now();
  await sleep(windowS * 1000);
  const b = stat();
  const s = (Date.now() - t0) / 1000;
  const pct = (ms: number): string => `${(ms / s / 10).toFixed(2)} %`;
  console.log(`names=${names}: ${s.toFixed(0)} s at rest: dockgate ${b.self - a.self} ms (${pct(b.self - a.self)}), its processes ${b.kids - a.kids} ms (${pct(b.kids - a.kids)}), Docker API requests ${requests - r0}`);
  const ev: Record<string, number> = {};
  for (const l of lines.slice(from)) {
    const k = l.event === 'command' ? `command ${String(l.program)} ${String(l.verb)}` : String(l.event ?? l.msg);
    ev[k] = (ev[k] ?? 0) + 1;
  }
  console.log(ev);
} finally {
  // Stopped by pid, SIGKILL if SIGTERM did not do within 5 s; then the namespace and the socket go.
  const running = (p: ChildProcess | undefined): p is ChildProcess => p !== undefined && p.exitCode === null && p.signalCode === null;
  for (const p of [child, dnsmasq]) if (running(p)) p.kill('SIGTERM');
  for (let i = 0; i < 50 && (running(child) || running(dnsmasq)); i++) await sleep(100);
  for (const p of [child, dnsmasq]) if (running(p)) p.kill('SIGKILL');
  if (ns) await destroyNetns(ns);
  server.close();
  rmSync(dir, { recursive: true, force: true });
}
