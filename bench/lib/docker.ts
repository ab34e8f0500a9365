// Shared pieces of the Docker parts: a Docker host registered for clean-up, Docker's own events
// (with their timestamps), nft monitor in the host ns (when a rule really reaches the kernel and
// how many iptables-restore transactions did it), the outside prober, dockgate's /proc figures.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type DaemonProcess,
  type DockerHost,
  type DockerHostOptions,
  CLI_PATH,
  REPO_ROOT,
  startDockerHost,
  startInHost,
} from '../../test/e2e/harness.js';
import { NODE_FLAGS } from '../../src/install/install-files.js';
import { run } from '../../test/support/netns.js';
import { type LineProcess, checkInterrupted, onCleanup, startLineProcess, wasInterrupted } from './cleanup.js';
import { type CommandTally, commandsInWindow } from './commands.js';
import { wallNow } from './stats.js';

const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

export interface Host {
  h: DockerHost;
  stop: () => Promise<void>;
}

export async function startHost(opts: DockerHostOptions): Promise<Host> {
  const h = await startDockerHost({ startTimeoutMs: 60_000, ...opts });
  const stop = onCleanup(`Docker host ${h.tmpDir}`, () => h.stop());
  if (wasInterrupted()) {
    await stop();
    checkInterrupted();
  }
  return { h, stop };
}

/** Runs fn over items with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      checkInterrupted();
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Resolves when pred() is true, polling every `everyMs`; throws after timeoutMs. */
export async function until(what: string, pred: () => boolean, timeoutMs: number, everyMs = 2): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (let i = 0; i < 10_000_000; i++) {
    if (pred()) return;
    checkInterrupted();
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------------------------
// docker events

export interface DockerEvents {
  /** container id → Docker's timestamp of its last `start` event, in wall-clock ms */
  started: Map<string, number>;
  died: Map<string, number>;
  stop: () => Promise<void>;
}

export async function watchDockerEvents(h: DockerHost): Promise<DockerEvents> {
  const p = await startLineProcess('docker events', DOCKER_CLI, [
    '-H', h.dockerHost, 'events', '--format', '{{json .}}', '--filter', 'type=container', '--filter', 'event=start', '--filter', 'event=die',
  ]);
  const started = new Map<string, number>();
  const died = new Map<string, number>();
  p.onLine((line) => {
    try {
      const e = JSON.parse(line) as { Action?: string; id?: string; Actor?: { ID?: string }; timeNano?: number };
      const id = e.Actor?.ID ?? e.id;
      if (!id || typeof e.timeNano !== 'number') return;
      if (e.Action === 'start') started.set(id, e.timeNano / 1e6);
      if (e.Action === 'die') died.set(id, e.timeNano / 1e6);
    } catch {
      // not JSON
    }
  });
  await sleep(300); // the subscription is made before the first container starts
  return { started, died, stop: p.stop };
}

// ---------------------------------------------------------------------------------------------
// nft monitor in the host ns

export interface RuleMonitor {
  /**
   * host port → wall-clock ms when the INPUT accept (proxy mode, a DOCKGATE-OPENINGS-xx shard) or
   * the DNAT (dnat mode, a DOCKGATE-DNAT-xx shard) for it was committed. nft does not print iptables
   * comments, so the port says whose it is: every benchmark container has its own.
   */
  opened: Map<number, number>;
  /** every committed transaction: when, and the process that made it */
  generations: Array<{ at: number; pid: number; comm: string }>;
  errors(): string;
  stop: () => Promise<void>;
}

/** A container's proxy accept or its DNAT committed (nft prints neither iptables comments nor `-p`). */
const OPEN_RE = /^add rule ip (?:filter DOCKGATE-OPENINGS-[0-9a-f]{2} .*\btcp dport (\d+)\b.* accept|nat DOCKGATE-DNAT-[0-9a-f]{2} .*\btcp dport (\d+)\b.* dnat to )/;
const GEN_RE = /^# new generation \d+ by process (\d+) \((.*)\)/;

export async function watchRules(h: DockerHost): Promise<RuleMonitor> {
  const p: LineProcess = await startLineProcess('nft monitor', 'nsenter', [`--net=${h.host.path}`, 'nft', 'monitor']);
  const opened = new Map<number, number>();
  const generations: RuleMonitor['generations'] = [];
  p.onLine((line, at) => {
    let m = OPEN_RE.exec(line);
    if (m) {
      const port = Number(m[1] ?? m[2]);
      if (!opened.has(port)) opened.set(port, at);
      return;
    }
    m = GEN_RE.exec(line);
    if (m) generations.push({ at, pid: Number(m[1]), comm: m[2]! });
  });
  await sleep(300);
  return { opened, generations, errors: () => p.stderr(), stop: p.stop };
}

// ---------------------------------------------------------------------------------------------
// the outside prober (bench/probe.ts)

export interface Prober {
  /** resolves with the wall-clock ms when the port first answered HTTP 200, undefined on deadline */
  reachable(port: number, opts: { host: string; everyMs: number; deadlineMs: number; attemptTimeoutMs?: number }): Promise<{ at: number; attempts: number } | undefined>;
  stop: () => Promise<void>;
}

export async function startProber(h: DockerHost): Promise<Prober> {
  const p = await startLineProcess(
    'prober',
    'nsenter',
    [`--net=${h.outside.path}`, process.execPath, '--import', 'tsx', `${REPO_ROOT}bench/probe.ts`],
    { cwd: REPO_ROOT },
  );
  const waiting = new Map<string, (r: { at: number; ok: boolean; attempts: number }) => void>();
  let answered = 0;
  p.onLine((line, at) => {
    answered++;
    try {
      const r = JSON.parse(line) as { id?: string; ok?: boolean; attempts?: number };
      if (r.id !== undefined) waiting.get(r.id)?.({ at, ok: r.ok === true, attempts: r.attempts ?? 0 });
    } catch {
      // not JSON
    }
  });
  let seq = 0;
  const reachable: Prober['reachable'] = (port, o) =>
    new Promise((resolve) => {
      const id = `p${++seq}`;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(undefined);
      }, o.deadlineMs + 3000);
      waiting.set(id, (r) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(r.ok ? { at: r.at, attempts: r.attempts } : undefined);
      });
      p.write(JSON.stringify({ id, host: o.host, port, everyMs: o.everyMs, deadlineMs: o.deadlineMs, attemptTimeoutMs: o.attemptTimeoutMs ?? 300 }));
    });
  // warm-up: port 1 on the outside ns's own loopback refuses at once; an answer proves the prober runs
  await reachable(1, { host: '127.0.0.1', everyMs: 50, deadlineMs: 200 });
  if (answered === 0) throw new Error(`the prober does not answer: ${p.stderr().slice(0, 2000)}`);
  return { reachable, stop: p.stop };
}

// ---------------------------------------------------------------------------------------------
// dockgate as a process

export interface Dockgate {
  d: DaemonProcess;
  /** pid of the node process itself (nsenter execs it, so normally d.pid) */
  pid: number;
  /** writes a new config and sends SIGHUP: the running daemon reloads it */
  reload: (configYaml: string) => Promise<void>;
  stop: () => Promise<void>;
}

export async function startDockgate(h: DockerHost, configYaml: string): Promise<Dockgate> {
  const file = `${h.tmpDir}/dockgate-bench.yaml`;
  await writeFile(file, configYaml);
  // exactly as the installed systemd unit runs it: node with the daemon's V8 flags, then the CLI;
  // DOCKGATE_CPU_PROF=DIR adds a V8 CPU profile, written there when it stops (for analysis only:
  // the sampling costs CPU of its own, so figures taken with it are not the file of record);
  // DOCKGATE_TRACE_GC=1 adds V8's --trace-gc (its lines land in the daemon's log file)
  const profile = [
    ...(process.env.DOCKGATE_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DOCKGATE_CPU_PROF}`] : []),
    ...(process.env.DOCKGATE_TRACE_GC === '1' ? ['--trace-gc'] : []),
  ];
  const d = await startInHost(h, [process.execPath, ...NODE_FLAGS, ...profile, CLI_PATH, 'run', '--config', file]);
  const stop = onCleanup(`dockgate (pid ${d.pid})`, async () => {
    await d.stop('SIGTERM');
  });
  await d.waitForLog((l) => l.event === 'ready', 30_000);
  let pid = d.pid;
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
  if (comm === 'nsenter') {
    const kids = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '')).trim().split(/\s+/);
    if (kids[0]) pid = Number(kids[0]);
  }
  const reload = async (configYaml: string): Promise<void> => {
    await writeFile(file, configYaml);
    process.kill(pid, 'SIGHUP');
  };
  return { d, pid, reload, stop };
}

export interface ProcSample {
  at: number;
  rssKiB: number;
  hwmKiB: number;
  /** utime + stime, in ms */
  cpuMs: number;
  /** cutime + cstime: the processes it ran and waited for (iptables-save, iptables-restore), in ms */
  childCpuMs: number;
}

let clkTck: number | undefined;

export async function procSample(pid: number): Promise<ProcSample> {
  clkTck ??= Number((await run('getconf', ['CLK_TCK'])).stdout.trim()) || 100;
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime, stime, cutime, cstime are fields 14 to 17
  const ticks = Number(fields[11]) + Number(fields[12]);
  const childTicks = Number(fields[13]) + Number(fields[14]);
  return { at: wallNow(), rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM'), cpuMs: (ticks * 1000) / clkTck, childCpuMs: (childTicks * 1000) / clkTck };
}

export interface IdleWindow {
  seconds: number;
  rssMiB: number;
  peakRssMiB: number;
  /** CPU time used in the window, as a percentage of one core */
  cpuPercent: number;
  /** the same for the iptables processes it ran in the window */
  childCpuPercent: number;
  /** total CPU time since dockgate started, ms */
  cpuTotalMs: number;
  /** total CPU time of the iptables processes it ran since it started, ms */
  childCpuTotalMs: number;
  /**
   * the commands dockgate ran in the window, from its `command` debug lines, per program and verb
   * (absent in results from before dockgate logged them, or when the window was given no log)
   */
  commands?: CommandTally[];
  /** the machine's 1-minute load average as the window began and ended (the end covers most of a long window) */
  load?: { start: number; end: number };
}

const load1 = (): number => Math.round(os.loadavg()[0]! * 100) / 100;

/**
 * RSS at the end of a quiet window and the CPU share used during it; with the daemon's `log`
 * (at debug), also the commands it ran in the window.
 */
export async function idleWindow(pid: number, seconds: number, log?: DaemonProcess): Promise<IdleWindow> {
  const loadStart = load1();
  const a = await procSample(pid);
  for (let i = 0; i < seconds * 10; i++) {
    checkInterrupted();
    await sleep(100);
  }
  const b = await procSample(pid);
  const mib = (k: number): number => Math.round((k / 1024) * 10) / 10;
  return {
    seconds: Math.round((b.at - a.at) / 100) / 10,
    rssMiB: mib(b.rssKiB),
    peakRssMiB: mib(b.hwmKiB),
    cpuPercent: Math.round(((b.cpuMs - a.cpuMs) / (b.at - a.at)) * 1000) / 10,
    childCpuPercent: Math.round(((b.childCpuMs - a.childCpuMs) / (b.at - a.at)) * 1000) / 10,
    cpuTotalMs: Math.round(b.cpuMs),
    childCpuTotalMs: Math.round(b.childCpuMs),
    load: { start: loadStart, end: load1() },
    ...(log ? { commands: commandsInWindow(logLines(log), a.at, b.at) } : {}),
  };
}

export function logTime(l: Record<string, unknown>): number {
  return typeof l.time === 'string' ? Date.parse(l.time) : Number.NaN;
}

export function logLines(d: DaemonProcess): Array<Record<string, unknown>> {
  return d.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l !== null && !Array.isArray(l));
}
