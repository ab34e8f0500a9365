// Parts 2 and 4: a real dockerd (its iptables off) with dockgate as a real process, in the test
// namespaces of test/e2e/harness.ts. Event to enforcement is measured from Docker's own `start`
// event timestamp (docker events, timeNano) to the moment the kernel committed the container's
// accept line (nft monitor in the host ns: no polling), and also to dockgate's own `applied` log
// line (pino's ISO time, 1 ms resolution, written after the restore returned); dockgate's debug
// log says where its share of the time went. Drift repair is timed the same way: from the
// tampering process's transaction to dockgate's repairing one, both as nft monitor reports them.
import { writeFile } from 'node:fs/promises';
import { HOST_IP, type DockerHost } from '../test/e2e/harness.js';
import { NODE_FLAGS } from '../src/install/install-files.js';
import { OPENINGS, shardChain, shardOf } from '../src/plan/chains.js';
import { checkInterrupted } from './lib/cleanup.js';
import { type NamesAtRest, namesAtRest } from './names-at-rest.js';
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
  /** the larger count for CPU and RSS at rest (0: skip) */
  manyContainers: number;
  idleSeconds: number;
  /** after containers start: wait this long, then measure at rest for restSeconds */
  settleSeconds: number;
  restSeconds: number;
  /**
   * the window at rest with `manyContainers` and with names: whole periods of the daemon's
   * full check (sync.full_check_ms), so its safety-net read is in the figure in due proportion
   */
  longRestSeconds: number;
  /** then every container gets this many DNS names in its allow-list (0: skip) */
  names: number;
  namesTtlS: number;
  /** repetitions of each kind of tampering */
  driftReps: number;
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
    /** where the time from the start event to the kernel went (dockgate's debug log) */
    breakdown: Breakdown;
  };
  /** tampering (another process's transaction) → dockgate's repairing transaction, per kind */
  drift: Array<{ kind: string; repairMs: Summary; restored: boolean }>;
  burst: {
    n: number;
    concurrency: number;
    /** last start event → last container's opening committed */
    lastStartToLastRuleMs: number;
    /** first `docker run` invoked → last opening committed */
    wallMs: number;
    /** first → last start event: how far Docker spread the burst */
    spreadMs: number;
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
    withContainers: AtRest;
    /** the same with `manyContainers` (800 more in dnat mode, claiming ports without -p) */
    withMany?: AtRest;
    /** the same containers, each with an allow-list of `names` DNS names */
    withNames?: NamesAtRest;
  };
  nftMonitorErrors: string;
}

export interface AtRest extends IdleWindow {
  containers: number;
  startWallMs: number;
  lastStartToLastRuleMs: number;
  settleSeconds: number;
  /** dockgate's log lines during the window, by event (what it did while at rest) */
  logEvents: Record<string, number>;
}

/**
 * Where the time from Docker's start event to the kernel goes, as milestones relative to the start
 * event (ms; negative: before it). The sync that writes a container often begins before its start
 * event: Docker's `create` event starts one, and its inspect is answered only once the start is
 * done (Docker holds the container while starting it).
 */
export interface Breakdown {
  n: number;
  /** dockgate logged the start event (the events stream, parsing) */
  read: Summary;
  /** the sync that wrote the container began */
  syncBegan: Summary;
  /** its facts (inspects) were complete */
  factsDone: Summary;
  /** its plan (buildRuleSet) was built */
  planned: Summary;
  /** its render + iptables-restore (both families) returned */
  written: Summary;
  /** nft monitor saw the container's line committed (the headline figure) */
  kernel: Summary;
  /** the sync finished its host work (sysctls, routes, conntrack, footprint) and logged */
  done: Summary;
  /** durations of the writing sync's phases */
  phases: { facts: Summary; plan: Summary; write: Summary; host: Summary };
}

async function runSleeper(h: DockerHost, name: string, port: number): Promise<{ id: string; invoked: number; returned: number }> {
  const invoked = wallNow();
  const r = await h.docker(
    ['run', '-d', '--name', name, '-l', 'dockgate.ports=8000', '-p', `${HOST_IP}:${port}:8000`, h.image, 'sleep', '3600'],
    { timeoutMs: 60_000 },
  );
  return { id: r.stdout.trim(), invoked, returned: wallNow() };
}

/** A user network with room for the many containers (the default bridge is a /24). */
const MANY_NETWORK = 'dg-many';
const MANY_SUBNET = '172.30.0.0/20';

async function runClaimer(h: DockerHost, name: string, port: number): Promise<string> {
  // dnat mode claiming a host port without -p: no docker-proxy process per container
  const r = await h.docker(['run', '-d', '--name', name, '--network', MANY_NETWORK, '-l', `dockgate.ports=${port}:8000`, '-l', 'dockgate.mode=dnat', h.image, 'sleep', '3600'], {
    timeoutMs: 60_000,
  });
  return r.stdout.trim();
}

/** Where each sequential container's time went, from dockgate's debug lines (1 ms resolution). */
function breakdownOf(
  lines: Array<Record<string, unknown>>,
  runs: Array<{ id: string; startAt: number; kernelAt: number }>,
): Breakdown {
  const m = { read: [] as number[], syncBegan: [] as number[], factsDone: [] as number[], planned: [] as number[], written: [] as number[], kernel: [] as number[], done: [] as number[] };
  const ph = { facts: [] as number[], plan: [] as number[], write: [] as number[], host: [] as number[] };
  for (const r of runs) {
    const short = r.id.slice(0, 12);
    const seen = lines.find((l) => l.event === 'docker-event' && l.action === 'start' && l.id === short);
    // The writing sync: the first one to log after the kernel had the line (log times are whole ms).
    const sync = lines.find((l) => l.event === 'sync' && l.kind !== 'none' && typeof l.phases === 'object' && logTime(l) >= Math.floor(r.kernelAt));
    if (!seen || !sync) continue;
    const p = sync.phases as { factsMs: number; planMs: number; writeMs: number; hostMs: number };
    const end = logTime(sync) - r.startAt;
    const began = end - (p.factsMs + p.planMs + p.writeMs + p.hostMs);
    m.read.push(logTime(seen) - r.startAt);
    m.syncBegan.push(began);
    m.factsDone.push(began + p.factsMs);
    m.planned.push(began + p.factsMs + p.planMs);
    m.written.push(began + p.factsMs + p.planMs + p.writeMs);
    m.kernel.push(r.kernelAt - r.startAt);
    m.done.push(end);
    ph.facts.push(p.factsMs);
    ph.plan.push(p.planMs);
    ph.write.push(p.writeMs);
    ph.host.push(p.hostMs);
  }
  return {
    n: m.kernel.length,
    read: summarize(m.read),
    syncBegan: summarize(m.syncBegan),
    factsDone: summarize(m.factsDone),
    planned: summarize(m.planned),
    written: summarize(m.written),
    kernel: summarize(m.kernel),
    done: summarize(m.done),
    phases: { facts: summarize(ph.facts), plan: summarize(ph.plan), write: summarize(ph.write), host: summarize(ph.host) },
  };
}

/**
 * Tampers with dockgate's rules from another process, as an admin or a firewall script would, and
 * times tampering transaction → dockgate's repairing transaction (both seen by nft monitor), then
 * checks the damaged line is back.
 */
async function driftRepair(h: DockerHost, rules: RuleMonitor, shard: string, reps: number, log: (m: string) => void): Promise<EventResult['drift']> {
  const cases: Array<{ kind: string; args: string[]; back: RegExp; table: string }> = [
    { kind: 'flush DOCKGATE-INPUT', args: ['-F', 'DOCKGATE-INPUT'], back: /^-A DOCKGATE-INPUT .*-j DOCKGATE-OPENINGS$/m, table: 'filter' },
    { kind: `flush ${shard} (a shard of container lines)`, args: ['-F', shard], back: new RegExp(`^-A ${shard} `, 'm'), table: 'filter' },
    { kind: 'delete the jump from INPUT', args: ['-D', 'INPUT', '-m', 'comment', '--comment', 'dockgate', '-j', 'DOCKGATE-INPUT'], back: /^-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT$/m, table: 'filter' },
    { kind: 'flush the whole nat table', args: ['-t', 'nat', '-F'], back: /^-A PREROUTING .*-j DOCKGATE-PREROUTING$/m, table: 'nat' },
  ];
  const out: EventResult['drift'] = [];
  for (const c of cases) {
    const samples: number[] = [];
    let restored = true;
    for (let r = 0; r < reps; r++) {
      checkInterrupted();
      const from = rules.generations.length;
      await h.host.exec('iptables', ['-w', '5', ...c.args], { timeoutMs: 10_000 });
      const gens = () => rules.generations.slice(from);
      await until(`${c.kind}: the tampering transaction`, () => gens().some((g) => g.comm === 'iptables'), 5000);
      const tamper = gens().find((g) => g.comm === 'iptables')!;
      const repaired = () => gens().find((g) => g.comm.startsWith('iptables-rest') && g.at >= tamper.at);
      await until(`${c.kind}: the repair`, () => repaired() !== undefined, 10_000);
      samples.push(repaired()!.at - tamper.at);
      const save = (await h.host.exec('iptables-save', ['-t', c.table], { timeoutMs: 10_000 })).stdout;
      restored &&= c.back.test(save);
      await new Promise((res) => setTimeout(res, 300));
    }
    out.push({ kind: c.kind, repairMs: summarize(samples), restored });
    log(`  drift: ${c.kind}: repaired after median ${summarize(samples).median} ms${restored ? '' : ' (NOT restored)'}`);
  }
  return out;
}

/** Waits for the start's tail (inspects, GC, keep-alive sockets) to pass, then measures at rest. */
async function atRest(
  dg: { pid: number; d: Parameters<typeof logLines>[0] },
  o: EventOptions,
  started: { first: number; lastStart: number; lastRule: number },
  containers: number,
  restSeconds = o.restSeconds,
): Promise<AtRest> {
  await new Promise((res) => setTimeout(res, o.settleSeconds * 1000));
  const before = logLines(dg.d).length;
  const w = await idleWindow(dg.pid, restSeconds, dg.d);
  const logEvents: Record<string, number> = {};
  // The `command` lines are tallied apart, per program and verb (w.commands).
  for (const l of logLines(dg.d).slice(before)) if (l.event !== 'command') logEvents[String(l.event ?? l.msg)] = (logEvents[String(l.event ?? l.msg)] ?? 0) + 1;
  return {
    ...w,
    containers,
    startWallMs: Math.round(started.lastRule - started.first),
    lastStartToLastRuleMs: Math.round(started.lastRule - started.lastStart),
    settleSeconds: o.settleSeconds,
    logEvents,
  };
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
  run: (h: DockerHost, name: string, port: number) => Promise<string> = async (h, name, port) => (await runSleeper(h, name, port)).id,
): Promise<{ ids: string[]; first: number; firstStart: number; lastStart: number; lastRule: number; per: number[] }> {
  const first = wallNow();
  const ids = await pool(ports, concurrency, (port, i) => run(h, `${prefix}-${i}`, port));
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
    const idle = await idleWindow(dg.pid, o.idleSeconds, dg.d);

    // sequential: one container at a time, the next once the previous one's rules are in place
    const cpu0 = await procSample(dg.pid);
    const kernel: number[] = [];
    const applied: number[] = [];
    const dockerRun: number[] = [];
    const seqNames: string[] = [];
    const seqRuns: Array<{ id: string; startAt: number; kernelAt: number }> = [];
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
      seqRuns.push({ id: r.id, startAt: t0, kernelAt: rules.opened.get(port)! });
    }
    o.log(`  sequential ${o.sequential}: start event → rule in kernel p50 ${summarize(kernel).median} ms, p99 ${summarize(kernel).p99} ms`);
    const breakdown = breakdownOf(logLines(dg.d), seqRuns);

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

    const afterEvents = await idleWindow(dg.pid, o.idleSeconds, dg.d);

    // drift repair, with the sequential and burst containers in place
    const drift = await driftRepair(h, rules, shardChain(OPENINGS, shardOf(seqRuns[0]!.id)), o.driftReps, o.log);
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
    const withContainers = await atRest(dg, o, many, o.resourceContainers);
    o.log(`  ${o.resourceContainers} containers, at rest: RSS ${withContainers.rssMiB} MiB, CPU ${withContainers.cpuPercent}% + ${withContainers.childCpuPercent}% of a core`);
    let withMany: AtRest | undefined;
    if (o.manyContainers > o.resourceContainers) {
      const more = o.manyContainers - o.resourceContainers;
      o.log(`  starting ${more} more (dnat mode, each claiming a host port without -p) on ${MANY_NETWORK} (${MANY_SUBNET})`);
      await h.docker(['network', 'create', '--subnet', MANY_SUBNET, MANY_NETWORK], { timeoutMs: 60_000 });
      const m = await burstRun(h, events, rules, 'many', Array.from({ length: more }, (_, i) => 20000 + i), 10, 900_000, runClaimer);
      o.log(`  at rest for ${o.longRestSeconds} s (whole full-check periods)`);
      withMany = await atRest(dg, o, m, o.manyContainers, o.longRestSeconds);
      o.log(`  ${o.manyContainers} containers, at rest: RSS ${withMany.rssMiB} MiB, CPU ${withMany.cpuPercent}% + ${withMany.childCpuPercent}% of a core`);
    }
    let withNames: NamesAtRest | undefined;
    if (o.names > 0) {
      const running = Math.max(o.manyContainers, o.resourceContainers);
      withNames = await namesAtRest(h, dg, running, config, { names: o.names, ttlS: o.namesTtlS, settleSeconds: o.settleSeconds, restSeconds: o.longRestSeconds, log: o.log });
      o.log(`  ${running} containers with ${o.names} names each, at rest: CPU ${withNames.cpuPercent}% + ${withNames.childCpuPercent}% of a core`);
    }
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
      sequential: { n: kernel.length, kernel: summarize(kernel), applied: summarize(applied), dockerRun: summarize(dockerRun), breakdown },
      drift,
      burst: {
        n: o.burst,
        concurrency: o.burstConcurrency,
        lastStartToLastRuleMs: Math.round((b.lastRule - b.lastStart) * 100) / 100,
        wallMs: Math.round((b.lastRule - b.first) * 100) / 100,
        spreadMs: Math.round(b.lastStart - b.firstStart),
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
        withContainers,
        ...(withMany ? { withMany } : {}),
        ...(withNames ? { withNames } : {}),
      },
      nftMonitorErrors: nftErrors.slice(0, 2000),
    };
  } finally {
    await stop();
  }
}
