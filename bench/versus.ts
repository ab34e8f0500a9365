// Part 3: `docker run -d -p` to a port that answers a real HTTP request from the outside
// namespace, with the same dockerd binary and flags, once with Docker's own firewall
// (--iptables=true) and once with --iptables=false plus dockgate (and, in the full run, dockgate's
// dnat mode with --userland-proxy=false). The clock starts when `docker run` is invoked and stops
// when the prober in the outside namespace gets HTTP 200 (bench/probe.ts).
//
// The Docker hosts run side by side and the one-after-another runs are interleaved (container i
// of every mode before container i+1 of any, the order turning each round), so that other work on
// the machine slows every mode alike instead of whichever happened to run at the time.
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
  /** `docker run` returned → HTTP 200 (Docker writes its rules before it returns, dockgate after) */
  afterDockerRun: Summary;
  /** all at once (burstConcurrency docker runs at a time): first invoke → last HTTP 200 */
  burstWallMs: number;
  burstPerContainer: Summary;
  /** containers whose port never answered (within 180 s of `docker run`) */
  failures: number;
  failed: string[];
}

const RESOLUTION = { sequentialEveryMs: 5, burstEveryMs: 25 };

interface Setup {
  mode: Firewall;
  h: DockerHost;
  prober: Prober;
  dockerd: string;
  dockgateConfig?: string;
  stop: () => Promise<void>;
}

async function setup(mode: Firewall): Promise<Setup> {
  const { h, stop } = await startHost({ iptables: mode === 'docker', userlandProxy: mode !== 'dockgate-dnat' });
  try {
    const dockerd = `--iptables=${mode === 'docker'} --userland-proxy=${mode !== 'dockgate-dnat'} (ip-forward: Docker's default)`;
    let dockgateConfig: string | undefined;
    if (mode !== 'docker') {
      dockgateConfig = `log_level: info\nexternal_interfaces: [${h.hostIf}]\n`;
      await startDockgate(h, dockgateConfig);
    }
    const prober = await startProber(h);
    return { mode, h, prober, dockerd, ...(dockgateConfig ? { dockgateConfig } : {}), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function measureOne(s: Setup, name: string, port: number, everyMs: number): Promise<{ name: string; t0: number; returned: number; at?: number }> {
  const labels = ['-l', 'dockgate.ports=8000', ...(s.mode === 'dockgate-dnat' ? ['-l', 'dockgate.mode=dnat'] : [])];
  const t0 = wallNow();
  // the prober starts knocking as `docker run` is invoked
  // generous: under load `docker run` alone can take tens of seconds; a failure is a real failure
  const reach = s.prober.reachable(port, { host: HOST_IP, everyMs, deadlineMs: 180_000 });
  await s.h.docker(['run', '-d', '--name', name, ...labels, '-p', `${HOST_IP}:${port}:8000`, s.h.image, 'httpd', '-f', '-p', '8000', '-h', '/www'], {
    timeoutMs: 60_000,
  });
  const returned = wallNow();
  const ok = await reach;
  return { name, t0, returned, ...(ok ? { at: ok.at } : {}) };
}

export async function benchVersus(o: VersusOptions): Promise<VersusRun[]> {
  const setups: Setup[] = [];
  try {
    for (const mode of o.modes) {
      checkInterrupted();
      o.log(`  ${mode}: starting dockerd ...`);
      setups.push(await setup(mode));
    }
    const seq = new Map(setups.map((s) => [s.mode, [] as Array<{ name: string; t0: number; returned: number; at?: number }>]));
    for (let i = 0; i < o.containers; i++) {
      const order = i % 2 === 0 ? setups : [...setups].reverse();
      for (const s of order) {
        checkInterrupted();
        seq.get(s.mode)!.push(await measureOne(s, `web-seq-${i}`, 9000 + i, RESOLUTION.sequentialEveryMs));
      }
    }
    const out: VersusRun[] = [];
    for (const s of setups) {
      const runs = seq.get(s.mode)!;
      const ok = runs.filter((r) => r.at !== undefined);
      const sequential = summarize(ok.map((r) => r.at! - r.t0));
      o.log(`  ${s.mode}: one after another p50 ${sequential.median} ms, p95 ${sequential.p95} ms`);
      const burstFirst = wallNow();
      const burst = await pool(
        Array.from({ length: o.containers }, (_, i) => i),
        o.burstConcurrency,
        (i) => measureOne(s, `web-burst-${i}`, 9500 + i, RESOLUTION.burstEveryMs),
      );
      const reached = burst.filter((b) => b.at !== undefined);
      const burstWallMs = reached.length > 0 ? Math.max(...reached.map((b) => b.at!)) - burstFirst : Number.NaN;
      o.log(`  ${s.mode}: ${o.containers} at once (${o.burstConcurrency} docker runs at a time): all reachable after ${Math.round(burstWallMs)} ms`);
      out.push({
        mode: s.mode,
        dockerd: s.dockerd,
        ...(s.dockgateConfig ? { dockgateConfig: s.dockgateConfig } : {}),
        sequential,
        dockerRun: summarize(runs.map((r) => r.returned - r.t0)),
        afterDockerRun: summarize(ok.map((r) => r.at! - r.returned)),
        burstWallMs: Math.round(burstWallMs),
        burstPerContainer: summarize(reached.map((b) => b.at! - b.t0)),
        failures: runs.length - ok.length + burst.length - reached.length,
        failed: [...runs, ...burst].filter((r) => r.at === undefined).map((r) => `${r.name} (docker run took ${Math.round(r.returned - r.t0)} ms)`),
      });
    }
    return out;
  } finally {
    for (const s of setups) await s.prober.stop();
    for (const s of setups) await s.stop();
  }
}
