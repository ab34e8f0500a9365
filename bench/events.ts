// Parts 2 and 4: a real dockerd (its iptables off) with dockgate as a real process, in the test
// namespaces of test/e2e/harness.ts. Event to enforcement is measured from Docker's own `start`
// event timestamp (docker events, timeNano) to the moment the kernel committed the jump into the
// container's INPUT chain (nft monitor in the host ns: no polling), and also to dockgate's own
// `applied` log line (pino's ISO time, 1 ms resolution, written after the restore returned).
import { writeFile } from 'node:fs/promises';
import { HOST_IP, type DockerHost } from '../test/e2e/harness.js';
import { NODE_FLAGS } from '../src/install/install-files.js';
import { checkInterrupted } from './lib/cleanup.js';
import {
  type DockerEvents,
  type IdleWindow,
  type RuleMonitor,
  idleWindow,
  logLines,
  logTime,
  pool,
  procSample,
  startDockgate,
  startHost,
  until,
  watchDockerEvents,
  watchRules,
} from './lib/docker.js';
import { type Summary, summarize, wallNow } from './lib/stats.js';

export interface EventOptions {
  sequential: number;
  burst: number;
  burstConcurrency: number;
  resourceContainers: number;
  idleSeconds: number;
  log: (msg: string) => void;
  /** write dockgate's log lines (JSON lines) here at the end, for a closer look */
  daemonLogFile?: string;
}

export interface EventResult {
  config: string;
  /** V8 flags dockgate ran with (those of the installed systemd unit) */
  nodeFlags?: string[];
  sequential: {
    n: number;
    /** Docker's start event → kernel committed the container's INPUT opening */
    kernel: Summary;
    /** Docker's start event → dockgate's `applied` log line */
    applied: Summary;
    /** `docker run` invoked → `docker run` returned (Docker's own share, for context) */
    dockerRun: Summary;
  };
  burst: {
    n: number;
    concurrency: number;
    /** last start event → last container's opening committed */
    lastStartToLastRuleMs: number;
    /** first `docker run` invoked → last opening committed */
    wallMs: number;
    /** per container, start event → opening committed */
    perContainer: Summary;
    /** iptables-restore transactions the kernel saw from the first start event to the last rule */
    restoreTransactions: number;
    /** dockgate's `sync` log lines (one per iptables-restore run) in the same window */
    syncLines: number;
    /** distinct iptables-restore processes (transactions are per table; a process may make several) */
    restoreProcesses: number;
  };
  resources: {
    idle: IdleWindow;
    /** CPU time dockgate used while the sequential and burst runs went on */
    cpuDuringEventsMs: number;
    /** … and the iptables processes it ran meanwhile */
    childCpuDuringEventsMs: number;
    afterEvents: IdleWindow;
    withContainers: IdleWindow & { containers: number; startWallMs: number; lastStartToLastRuleMs: number };
  };
  nftMonitorErrors: string;
}

async function runSleeper(h: DockerHost, name: string, port: number): Promise<{ id: string; invoked: number; returned: number }> {
  const invoked = wallNow();
  const r = await h.docker(
    ['run', '-d', '--name', name, '-l', 'dockgate.ports=8000', '-p', `${HOST_IP}:${port}:8000`, h.image, 'sleep', '3600'],
    { timeoutMs: 60_000 },
  );
  return { id: r.stdout.trim(), invoked, returned: wallNow() };
}

async function removeAll(h: DockerHost, names: string[]): Promise<void> {
  for (let i = 0; i < names.length; i += 25) {
    await h.docker(['rm', '-f', ...names.slice(i, i + 25)], { reject: false, timeoutMs: 120_000 });
  }
}

function lastOf(values: number[]): number {
  return values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
}

async function burstRun(
  h: DockerHost,
  events: DockerEvents,
  rules: RuleMonitor,
  prefix: string,
  ports: number[],
  concurrency: number,
  timeoutMs: number,
): Promise<{ ids: string[]; first: number; firstStart: number; lastStart: number; lastRule: number; per: number[] }> {
  const first = wallNow();
  const started = await pool(ports, concurrency, (port, i) => runSleeper(h, `${prefix}-${i}`, port));
  const ids = started.map((s) => s.id);
  await until(`${ids.length} start events`, () => ids.every((id) => events.started.has(id)), timeoutMs);
  await until(`${ids.length} containers' rules`, () => ports.every((port) => rules.opened.has(port)), timeoutMs);
  const starts = ids.map((id) => events.started.get(id)!);
  const opened = ports.map((port) => rules.opened.get(port)!);
  return {
    ids,
    first,
    firstStart: Math.min(...starts),
    lastStart: lastOf(starts),
    lastRule: lastOf(opened),
    per: ids.map((_, i) => opened[i]! - starts[i]!),
  };
}

export async function benchEvents(o: EventOptions): Promise<EventResult> {
  const { h, stop } = await startHost({});
  try {
    const events = await watchDockerEvents(h);
    const rules = await watchRules(h);
    const config = 'log_level: debug\n';
    const dg = await startDockgate(h, config);
    o.log(`  dockgate running (pid ${dg.pid}); idle for ${o.idleSeconds} s`);
    const idle = await idleWindow(dg.pid, o.idleSeconds);

    // sequential: one container at a time, the next once the previous one's rules are in place
    const cpu0 = await procSample(dg.pid);
    const kernel: number[] = [];
    const applied: number[] = [];
    const dockerRun: number[] = [];
    const seqNames: string[] = [];
    for (let i = 0; i < o.sequential; i++) {
      checkInterrupted();
      const name = `ev-seq-${i}`;
      seqNames.push(name);
      const port = 8100 + i;
      const r = await runSleeper(h, name, port);
      await until(`start event of ${name}`, () => events.started.has(r.id), 10_000);
      await until(`rules of ${name}`, () => rules.opened.has(port), 10_000);
      const line = await dg.d.waitForLog((l) => l.event === 'applied' && l.container === name, 10_000);
      const t0 = events.started.get(r.id)!;
      kernel.push(rules.opened.get(port)! - t0);
      applied.push(logTime(line) - t0);
      dockerRun.push(r.returned - r.invoked);
    }
    o.log(`  sequential ${o.sequential}: start event → rule in kernel p50 ${summarize(kernel).median} ms, p99 ${summarize(kernel).p99} ms`);

    // burst: `burst` containers, `burstConcurrency` docker runs at a time
    const linesBefore = logLines(dg.d).length;
    const burstPorts = Array.from({ length: o.burst }, (_, i) => 8300 + i);
    const b = await burstRun(h, events, rules, 'ev-burst', burstPorts, o.burstConcurrency, 60_000);
    await new Promise((r) => setTimeout(r, 100)); // the generation lines follow the rules they commit
    const windowEnd = b.lastRule + 50;
    const restoreGens = rules.generations.filter((g) => g.comm.startsWith('iptables-rest') && g.at >= b.firstStart && g.at <= windowEnd);
    // dockgate logs `sync` after its sysctl work, some ms after the kernel commit: a wider window
    await new Promise((r) => setTimeout(r, 500));
    const syncLines = logLines(dg.d)
      .slice(linesBefore)
      .filter((l) => l.event === 'sync' && l.kind !== 'none' && logTime(l) >= Math.floor(b.firstStart) && logTime(l) <= Math.ceil(b.lastRule + 500));
    const cpu1 = await procSample(dg.pid);
    o.log(`  burst ${o.burst}: last start event → last rule ${Math.round(b.lastRule - b.lastStart)} ms, ${new Set(restoreGens.map((g) => g.pid)).size} iptables-restore runs`);

    const afterEvents = await idleWindow(dg.pid, o.idleSeconds);
    o.log(`  removing ${seqNames.length + b.ids.length} containers`);
    await removeAll(h, [...seqNames, ...b.ids.map((_, i) => `ev-burst-${i}`)]);

    // resources with many containers
    o.log(`  starting ${o.resourceContainers} containers (busybox sleep, one published port each)`);
    const many = await burstRun(
      h,
      events,
      rules,
      'res',
      Array.from({ length: o.resourceContainers }, (_, i) => 10000 + i),
      10,
      300_000,
    );
    const withContainers = await idleWindow(dg.pid, o.idleSeconds);
    o.log(`  ${o.resourceContainers} containers: RSS ${withContainers.rssMiB} MiB, CPU ${withContainers.cpuPercent}% of a core`);
    await dg.stop();
    if (o.daemonLogFile) {
      await writeFile(o.daemonLogFile, dg.d.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
    }
    const nftErrors = rules.errors().trim();
    await rules.stop();
    await events.stop();
    return {
      config,
      nodeFlags: [...NODE_FLAGS],
      sequential: { n: kernel.length, kernel: summarize(kernel), applied: summarize(applied), dockerRun: summarize(dockerRun) },
      burst: {
        n: o.burst,
        concurrency: o.burstConcurrency,
        lastStartToLastRuleMs: Math.round((b.lastRule - b.lastStart) * 100) / 100,
        wallMs: Math.round((b.lastRule - b.first) * 100) / 100,
        perContainer: summarize(b.per),
        restoreTransactions: restoreGens.length,
        restoreProcesses: new Set(restoreGens.map((g) => g.pid)).size,
        syncLines: syncLines.length,
      },
      resources: {
        idle,
        cpuDuringEventsMs: Math.round(cpu1.cpuMs - cpu0.cpuMs),
        childCpuDuringEventsMs: Math.round(cpu1.childCpuMs - cpu0.childCpuMs),
        afterEvents,
        withContainers: {
          ...withContainers,
          containers: o.resourceContainers,
          startWallMs: Math.round(many.lastRule - many.first),
          lastStartToLastRuleMs: Math.round(many.lastRule - many.lastStart),
        },
      },
      nftMonitorErrors: nftErrors.slice(0, 2000),
    };
  } finally {
    await stop();
  }
}
