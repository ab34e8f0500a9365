// Part 3: `docker run -d -p` to a port that answers a real HTTP request from the outside
// namespace, with the same dockerd binary and flags, once with Docker's own firewall
// (--iptables=true) and once with --iptables=false plus dockgate (and optionally dockgate's dnat
// mode with --userland-proxy=false). The clock starts when `docker run` is invoked and stops
// when the prober in the outside namespace gets HTTP 200 (bench/probe.ts).
import { HOST_IP, type DockerHost } from '../test/e2e/harness.js';
import { checkInterrupted } from './lib/cleanup.js';
import { type Prober, pool, startDockgate, startHost, startProber } from './lib/docker.js';
import { type Summary, summarize, wallNow } from './lib/stats.js';

export type Firewall = 'docker' | 'dockgate' | 'dockgate-dnat';

export interface VersusOptions {
  containers: number;
  burstConcurrency: number;
  modes: Firewall[];
  log: (msg: string) => void;
}

export interface VersusRun {
  mode: Firewall;
  dockerd: string;
  dockgateConfig?: string;
  /** one after another: invoke → HTTP 200 from outside */
  sequential: Summary;
  /** of which `docker run` itself (invoke → returned) */
  dockerRun: Summary;
  /** wall time of the sequential run: first invoke → last 200 */
  sequentialWallMs: number;
  /** all at once (burstConcurrency docker runs at a time): first invoke → last 200 */
  burstWallMs: number;
  burstPerContainer: Summary;
  failures: number;
}

const RESOLUTION = { sequentialEveryMs: 5, burstEveryMs: 25 };

async function runWeb(h: DockerHost, mode: Firewall, name: string, port: number): Promise<{ invoked: number; returned: number }> {
  const invoked = wallNow();
  const labels = ['-l', 'dockgate.ports=8000', ...(mode === 'dockgate-dnat' ? ['-l', 'dockgate.mode=dnat'] : [])];
  await h.docker(['run', '-d', '--name', name, ...labels, '-p', `${HOST_IP}:${port}:8000`, h.image, 'httpd', '-f', '-p', '8000', '-h', '/www'], {
    timeoutMs: 60_000,
  });
  return { invoked, returned: wallNow() };
}

async function measureOne(h: DockerHost, prober: Prober, mode: Firewall, name: string, port: number, everyMs: number) {
  const t0 = wallNow();
  // the prober starts knocking before `docker run` is even invoked
  const reach = prober.reachable(port, { host: HOST_IP, everyMs, deadlineMs: 30_000 });
  const r = await runWeb(h, mode, name, port);
  const ok = await reach;
  return { t0, ran: r.returned - r.invoked, at: ok?.at };
}

async function oneMode(mode: Firewall, o: VersusOptions): Promise<VersusRun> {
  const { h, stop } = await startHost({ iptables: mode === 'docker', userlandProxy: mode !== 'dockgate-dnat' });
  try {
    const dockerd = `--iptables=${mode === 'docker'} --userland-proxy=${mode !== 'dockgate-dnat'} (ip-forward: Docker's default)`;
    let dockgateConfig: string | undefined;
    if (mode !== 'docker') {
      dockgateConfig = `log_level: info\nexternal_interfaces: [${h.hostIf}]\n`;
      await startDockgate(h, dockgateConfig);
    }
    const prober = await startProber(h);
    let failures = 0;
    const seq: number[] = [];
    const ran: number[] = [];
    const first = wallNow();
    let last = first;
    for (let i = 0; i < o.containers; i++) {
      checkInterrupted();
      const m = await measureOne(h, prober, mode, `web-seq-${i}`, 9000 + i, RESOLUTION.sequentialEveryMs);
      ran.push(m.ran);
      if (m.at === undefined) {
        failures++;
        continue;
      }
      seq.push(m.at - m.t0);
      last = m.at;
    }
    const sequentialWallMs = last - first;
    o.log(`  ${mode}: sequential p50 ${summarize(seq).median} ms, p95 ${summarize(seq).p95} ms`);

    const burstFirst = wallNow();
    const burst = await pool(
      Array.from({ length: o.containers }, (_, i) => i),
      o.burstConcurrency,
      (i) => measureOne(h, prober, mode, `web-burst-${i}`, 9500 + i, RESOLUTION.burstEveryMs),
    );
    failures += burst.filter((b) => b.at === undefined).length;
    const ats = burst.flatMap((b) => (b.at === undefined ? [] : [b.at]));
    const burstWallMs = Math.max(...ats) - burstFirst;
    o.log(`  ${mode}: ${o.containers} at once (${o.burstConcurrency} at a time): all reachable after ${Math.round(burstWallMs)} ms`);
    await prober.stop();
    return {
      mode,
      dockerd,
      ...(dockgateConfig ? { dockgateConfig } : {}),
      sequential: summarize(seq),
      dockerRun: summarize(ran),
      sequentialWallMs: Math.round(sequentialWallMs),
      burstWallMs: Math.round(burstWallMs),
      burstPerContainer: summarize(burst.flatMap((b) => (b.at === undefined ? [] : [b.at - b.t0]))),
      failures,
    };
  } finally {
    await stop();
  }
}

export async function benchVersus(o: VersusOptions): Promise<VersusRun[]> {
  const out: VersusRun[] = [];
  for (const mode of o.modes) {
    checkInterrupted();
    o.log(`  ${mode}: starting dockerd ...`);
    out.push(await oneMode(mode, o));
  }
  return out;
}
