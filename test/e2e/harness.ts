// E2E harness: a real dockerd (Debian's docker.io) running inside a test network namespace, an
// "outside" client namespace joined to it by a veth pair, and launchers for the dockgate CLI.
//
//   outside ns (10.0.0.9/24) ──veth── host ns (10.0.0.5/24, dockerd, docker0 172.31.0.1/24)
//
// The host ns gets the "sysadmin's hand-kept firewall": INPUT policy DROP, accept lo, accept
// RELATED,ESTABLISHED. Docker runs with --iptables=false, so nothing else opens anything.
// Nothing here touches the machine's own network namespace. Every process started is tracked and
// killed by stop()/stopAll(), and synchronously on process exit as a last resort; what a crashed
// run left is removed by cleanupLeftovers() (test/support/netns.ts) at the next run.

import { spawn, type ChildProcess } from 'node:child_process';
import { execa } from 'execa';
import { existsSync, openSync, closeSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { WaitAbort, until } from '../support/poll.js';
import {
  createNetns,
  destroyNetns,
  linkNamespaces,
  run,
  sbinPath,
  teardownDockerDir,
  killQuiet,
  waitGone,
  TMP_PREFIX,
  type ExecResult,
  type Netns,
} from '../support/netns.js';
import { ownDropsSocket } from '../support/drops-socket.js';

export const HOST_IP = '10.0.0.5';
export const OUTSIDE_IP = '10.0.0.9';
export const IMAGE = 'dgbox:latest';

/** The docker CLI of the docker.io package (same version as dockerd); falls back to PATH. */
const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const BUSYBOX = existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox';
const APPLETS = ['sh', 'httpd', 'nc', 'echo', 'cat', 'sleep', 'ip', 'wget', 'hostname', 'ls', 'mkdir', 'ps', 'kill', 'true', 'false', 'env'];

/** Repo root, from this file's location (test/e2e/harness.ts). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_PATH = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Process tracking and the exit safety net

const trackedPids = new Set<number>();
let exitHookInstalled = false;

function track(pid: number): void {
  trackedPids.add(pid);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of trackedPids) killQuiet(p, 'SIGKILL');
    });
  }
}

function untrack(pid: number): void {
  trackedPids.delete(pid);
}

interface ExitInfo {
  code: number | null;
  signal: string | null;
}

function exitPromise(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Generic helpers

export { WaitAbort };

/**
 * Bounded polling (support/poll.ts): resolves with the first value of fn() that is not
 * undefined/false. Errors of fn count as "not yet" (the last one is reported on timeout), except
 * WaitAbort, which is rethrown.
 */
export function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  return until(fn, { what, timeoutMs, intervalMs, retryErrors: true });
}

/** `curl -s -f -m` inside `ns`; ok = HTTP 2xx. Never throws. */
export async function httpGet(ns: Netns, url: string, timeoutMs = 2000): Promise<{ ok: boolean; body: string }> {
  const secs = (Math.max(100, timeoutMs) / 1000).toFixed(2);
  try {
    const r = await ns.exec('curl', ['-s', '-f', '--noproxy', '*', '-m', secs, url], {
      reject: false,
      timeoutMs: timeoutMs + 2000,
    });
    return { ok: r.exitCode === 0, body: r.stdout };
  } catch {
    return { ok: false, body: '' };
  }
}

/** A real TCP connect (handshake completes) from inside `ns`, bounded by `timeoutMs`. Never throws. */
export async function tcpConnects(ns: Netns, ip: string, port: number, timeoutMs = 1500): Promise<boolean> {
  if (!/^[0-9a-fA-F.:]+$/.test(ip) || !Number.isInteger(port)) return false;
  const secs = (Math.max(100, timeoutMs) / 1000).toFixed(2);
  try {
    // bash's /dev/tcp does a plain connect(); `timeout` bounds a connect into a DROP.
    const r = await ns.exec('timeout', ['-s', 'KILL', secs, 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`], {
      reject: false,
      timeoutMs: timeoutMs + 2000,
    });
    return r.exitCode === 0;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Docker host

export interface DockerHost {
  /** where dockerd runs; veth address HOST_IP/24 */
  host: Netns;
  /** the outside client; OUTSIDE_IP/24; no default route (tests may add routes) */
  outside: Netns;
  /** name of the veth end in `host` / in `outside` */
  hostIf: string;
  outsideIf: string;
  socketPath: string;
  /** 'unix://' + socketPath */
  dockerHost: string;
  dockerdPid: number;
  /** the docker CLI with -H */
  docker(args: string[], opts?: { reject?: boolean; timeoutMs?: number; input?: string }): Promise<ExecResult>;
  image: string;
  tmpDir: string;
  dataRoot: string;
  execRoot: string;
  logFile: string;
  /** last lines of dockerd's log */
  logTail(lines?: number): Promise<string>;
  /** stops everything; never throws; idempotent */
  stop(): Promise<void>;
  /**
   * Restarts dockerd the way a package upgrade or `systemctl restart docker` does: SIGTERM by pid
   * (SIGKILL after `stopTimeoutMs`, default 30s), then the same command line again (same roots,
   * socket, config, namespace); resolves once `docker info` answers. Without live-restore (the
   * default here) its containers die with it; those run with `--restart always` come back.
   * `dockerdPid` changes. Throws (with dockerd's log tail) when it does not come back in time.
   */
  restartDockerd(opts?: { stopTimeoutMs?: number; startTimeoutMs?: number }): Promise<DockerdRestart>;
}

export interface DockerdRestart {
  /** from SIGTERM until the old dockerd was gone */
  stopMs: number;
  /** from SIGTERM until `docker info` answered again */
  downMs: number;
  /** whether the old dockerd had to be SIGKILLed */
  killed: boolean;
  pid: number;
}

export interface DockerHostOptions {
  /** --userland-proxy (default true) */
  userlandProxy?: boolean;
  /** --bip (default '172.31.0.1/24') */
  bip?: string;
  /**
   * --ip-forward. Unset: Docker's default (true), which makes dockerd set net.ipv4.ip_forward=1
   * (= conf.all.forwarding) in the host ns even with --iptables=false.
   */
  ipForward?: boolean;
  /** give up waiting for `docker info` after this long (default 30s) */
  startTimeoutMs?: number;
  /**
   * --iptables (default false: that is dockgate's job; --ip6tables stays false). The benchmark
   * sets true to measure Docker's own firewall; its rules then land in the host ns only.
   */
  iptables?: boolean;
}

const liveHosts = new Set<DockerHost>();
const hostDaemons = new WeakMap<DockerHost, Set<DaemonProcess>>();
const liveDaemons = new Set<DaemonProcess>();

/** Last lines of a log file, without dockerd's chatty grpc lines. */
async function tailFile(file: string, lines: number): Promise<string> {
  try {
    const all = (await readFile(file, 'utf8')).split('\n').filter((l) => !l.includes('module=grpc'));
    return all.slice(-lines - 1).join('\n');
  } catch {
    return '(no log)';
  }
}

async function buildImage(docker: DockerHost['docker'], tmpDir: string): Promise<void> {
  const root = `${tmpDir}/img`;
  await mkdir(`${root}/bin`, { recursive: true });
  for (const d of ['www', 'tmp', 'etc', 'proc', 'sys', 'dev']) await mkdir(`${root}/${d}`, { recursive: true });
  await copyFile(BUSYBOX, `${root}/bin/busybox`);
  for (const a of new Set(APPLETS)) await symlink('busybox', `${root}/bin/${a}`);
  await writeFile(`${root}/www/index.html`, 'dgbox\n');
  await run('tar', ['-C', root, '-cf', `${tmpDir}/img.tar`, '.'], { timeoutMs: 30_000 });
  await docker(['import', '-c', 'ENV PATH=/bin', `${tmpDir}/img.tar`, IMAGE], { timeoutMs: 60_000 });
}

/**
 * Starts dockerd in a fresh namespace pair. On failure everything started is removed again and
 * the error carries the tail of dockerd's log.
 */
export async function startDockerHost(opts: DockerHostOptions = {}): Promise<DockerHost> {
  const userlandProxy = opts.userlandProxy ?? true;
  const bip = opts.bip ?? '172.31.0.1/24';
  const startTimeoutMs = opts.startTimeoutMs ?? 30_000;

  // short: unix socket paths (containerd's socket lives under the exec root) are limited to 108 bytes
  const tmpDir = await mkdtemp(`${TMP_PREFIX}${process.pid}-`);
  const dataRoot = `${tmpDir}/d`;
  const execRoot = `${tmpDir}/e`;
  const socketPath = `${tmpDir}/docker.sock`;
  const logFile = `${tmpDir}/dockerd.log`;
  const pidFile = `${tmpDir}/dockerd.pid`;
  const configFile = `${tmpDir}/daemon.json`;
  const dockerHost = `unix://${socketPath}`;

  let host: Netns | undefined;
  let outside: Netns | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<ExitInfo> | undefined;
  let stopping: Promise<void> | undefined;
  let launch: ((timeoutMs: number) => Promise<void>) | undefined;
  const daemons = new Set<DaemonProcess>();

  const docker: DockerHost['docker'] = (args, o = {}) =>
    run(DOCKER_CLI, ['-H', dockerHost, ...args], {
      reject: o.reject ?? true,
      timeoutMs: o.timeoutMs ?? 30_000,
      ...(o.input !== undefined ? { input: o.input } : {}),
    });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      liveHosts.delete(h);
      try {
        for (const d of daemons) await d.stop('SIGKILL').catch(() => undefined);
        const pid = child?.pid;
        const alive = child !== undefined && child.exitCode === null && child.signalCode === null;
        if (alive) {
          // containers first, while dockerd still answers
          const ps = await docker(['ps', '-aq'], { reject: false, timeoutMs: 10_000 }).catch(() => undefined);
          const ids = ps?.exitCode === 0 ? ps.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '') : [];
          if (ids.length > 0) await docker(['rm', '-f', ...ids], { reject: false, timeoutMs: 30_000 }).catch(() => undefined);
        }
        if (pid !== undefined && alive && exited) {
          killQuiet(pid, 'SIGTERM');
          if ((await withTimeout(exited, 10_000)) === undefined) {
            killQuiet(pid, 'SIGKILL');
            await withTimeout(exited, 5_000);
          }
        }
        if (pid !== undefined) {
          await waitGone([pid], 2_000);
          untrack(pid);
        }
        // containerd, shims, container processes, mounts, the temp dir
        await teardownDockerDir(tmpDir);
        if (outside) await destroyNetns(outside);
        if (host) await destroyNetns(host);
        // once more: anything that was still busy before the namespaces went away
        await teardownDockerDir(tmpDir);
      } catch {
        // never throws
      }
    })();
    return stopping;
  };

  const restartDockerd = async (o: { stopTimeoutMs?: number; startTimeoutMs?: number } = {}): Promise<DockerdRestart> => {
    const c = child;
    const ex = exited;
    const pid = c?.pid;
    if (stopping) throw new Error('restartDockerd: the Docker host is stopping');
    if (!launch || !c || !ex || pid === undefined || c.exitCode !== null || c.signalCode !== null) {
      throw new Error('restartDockerd: dockerd is not running');
    }
    const t0 = Date.now();
    let killed = false;
    killQuiet(pid, 'SIGTERM');
    if ((await withTimeout(ex, o.stopTimeoutMs ?? 30_000)) === undefined) {
      killed = true;
      killQuiet(pid, 'SIGKILL');
      await withTimeout(ex, 5_000);
    }
    await waitGone([pid], 5_000);
    untrack(pid);
    const stopMs = Date.now() - t0;
    try {
      await launch(o.startTimeoutMs ?? startTimeoutMs);
    } catch (err) {
      const tail = await tailFile(logFile, 40);
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`restartDockerd failed: ${msg}\n--- dockerd log (tail) ---\n${tail}`);
    }
    return { stopMs, downMs: Date.now() - t0, killed, pid: h.dockerdPid };
  };

  const h: DockerHost = {
    get host(): Netns {
      if (!host) throw new Error('no host ns');
      return host;
    },
    get outside(): Netns {
      if (!outside) throw new Error('no outside ns');
      return outside;
    },
    hostIf: '',
    outsideIf: '',
    socketPath,
    dockerHost,
    dockerdPid: 0,
    docker,
    image: IMAGE,
    tmpDir,
    dataRoot,
    execRoot,
    logFile,
    logTail: (lines = 40) => tailFile(logFile, lines),
    stop,
    restartDockerd: (o) => restartDockerd(o),
  };
  hostDaemons.set(h, daemons);
  liveHosts.add(h);

  try {
    host = await createNetns('host');
    outside = await createNetns('out');
    const link = await linkNamespaces(host, `${HOST_IP}/24`, outside, `${OUTSIDE_IP}/24`);
    h.hostIf = link.aIf;
    h.outsideIf = link.bIf;

    // the sysadmin's hand-kept firewall in the host ns
    await host.exec('iptables', ['-w', '-P', 'INPUT', 'DROP']);
    await host.exec('iptables', ['-w', '-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
    await host.exec('iptables', ['-w', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);

    // an empty config file, so that a /etc/docker/daemon.json on the machine plays no part
    await writeFile(configFile, '{}\n');
    const args = [
      `--net=${host.path}`,
      'dockerd',
      '--config-file', configFile,
      '--data-root', dataRoot,
      '--exec-root', execRoot,
      '--pidfile', pidFile,
      '-H', dockerHost,
      `--iptables=${opts.iptables ?? false}`,
      '--ip6tables=false',
      '--bip', bip,
      `--userland-proxy=${userlandProxy}`,
      '--storage-driver', 'overlay2',
      '--log-level', 'info',
      ...(opts.ipForward === undefined ? [] : [`--ip-forward=${opts.ipForward}`]),
    ];
    // Spawns dockerd and waits (bounded) until it answers; used again by restartDockerd().
    launch = async (timeoutMs: number): Promise<void> => {
      const logFd = openSync(logFile, 'a');
      let c: ChildProcess;
      try {
        c = spawn('nsenter', args, {
          detached: true, // own process group: a ^C of the test run does not reach it
          stdio: ['ignore', logFd, logFd],
          env: { ...process.env, PATH: sbinPath(), DOCKER_HOST: '' },
        });
      } finally {
        closeSync(logFd);
      }
      child = c;
      const ex = exitPromise(c);
      exited = ex;
      await new Promise<void>((resolve, reject) => {
        c.once('spawn', () => resolve());
        c.once('error', reject);
      });
      if (c.pid === undefined) throw new Error('dockerd did not start');
      track(c.pid);
      h.dockerdPid = c.pid;

      let dead: ExitInfo | undefined;
      void ex.then((e) => {
        dead = e;
      });
      await waitFor(
        'docker info',
        async () => {
          if (dead) throw new WaitAbort(`dockerd exited (code ${dead.code}, signal ${dead.signal})`);
          const r = await docker(['info', '--format', '{{.ServerVersion}}'], { reject: false, timeoutMs: 5_000 });
          return r.exitCode === 0 && r.stdout.trim() !== '' ? true : undefined;
        },
        timeoutMs,
        200,
      );
    };
    await launch(startTimeoutMs);
    await buildImage(docker, tmpDir);
    return h;
  } catch (err) {
    const tail = await tailFile(logFile, 40);
    await stop();
    const msg = err instanceof Error ? err.message : String(err);
    throw new Error(`startDockerHost failed: ${msg}\n--- dockerd log (tail) ---\n${tail}`);
  }
}

export { saveClean } from '../support/netns.js';

/** Stops every Docker host (and its dockgate daemons) still running, and every spawnIn process. Never throws. */
export async function stopAll(): Promise<void> {
  for (const c of [...spawned]) if (c.pid !== undefined) killQuiet(c.pid, 'SIGKILL');
  for (const h of [...liveHosts]) await h.stop();
  for (const d of [...liveDaemons]) await d.stop('SIGKILL').catch(() => undefined);
}

const spawned = new Set<ChildProcess>();

/**
 * A long-running helper process (a server, a client) in the namespace at `nsPath`; its stdout
 * lines collect in `out`. stopAll() kills it by pid.
 */
export function spawnIn(nsPath: string, argv: string[]): { child: ChildProcess; out: string[] } {
  const child = spawn('nsenter', [`--net=${nsPath}`, ...argv], { stdio: ['ignore', 'pipe', 'ignore'] });
  spawned.add(child);
  const out: string[] = [];
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (d: string) => out.push(...d.split('\n').filter(Boolean)));
  child.on('exit', () => spawned.delete(child));
  return { child, out };
}

/**
 * An HTTP server in the namespace at `nsPath`, listening on `listen` (`IP:PORT`, `[IPv6]:PORT`),
 * whose /cgi-bin/ip answers with the client address it sees: the far end of egress tests.
 */
export async function startAddressEcho(h: DockerHost, nsPath: string, listen: string): Promise<void> {
  const www = await mkdtemp(`${h.tmpDir}/echo-`);
  await mkdir(`${www}/cgi-bin`, { recursive: true });
  await writeFile(`${www}/cgi-bin/ip`, '#!/bin/sh\necho Content-Type: text/plain\necho\necho $REMOTE_ADDR\n', { mode: 0o755 });
  spawnIn(nsPath, ['busybox', 'httpd', '-f', '-p', listen, '-h', www]);
}

/** A container whose /cgi-bin/ip answers with the client address it sees; resolves once httpd answers. */
export async function startSeer(h: DockerHost, name: string, args: string[]): Promise<string> {
  const script = [
    'mkdir -p /www/cgi-bin',
    `echo ${name} > /www/index.html`,
    "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip",
    'busybox chmod +x /www/cgi-bin/ip',
    'exec httpd -f -p 80 -h /www',
  ].join(' && ');
  const id = (await h.docker(['run', '-d', '--name', name, ...args, h.image, 'sh', '-c', script])).stdout.trim();
  await waitFor(
    `httpd in ${name}`,
    async () => {
      const e = await h.docker(['exec', id, 'busybox', 'timeout', '3', 'wget', '-q', '-O', '-', 'http://127.0.0.1:80/'], { reject: false, timeoutMs: 5_000 });
      return e.stdout.trim() === name ? true : undefined;
    },
    10_000,
    100,
  );
  return id;
}


// ---------------------------------------------------------------------------------------------
// Containers

export interface WebContainerOptions {
  name: string;
  /** `docker run -p` values, e.g. ['10.0.0.5:8000:8000'] */
  ports?: string[];
  labels?: Record<string, string>;
  /** port httpd listens on inside the container (default 8000) */
  port?: number;
  /** --network */
  network?: string;
  /** more `docker run` arguments, before the image */
  extraArgs?: string[];
  /** wait (bounded, 10s) until httpd answers inside the container (default true) */
  waitReady?: boolean;
}

/**
 * Runs busybox httpd serving `/www/index.html` = "<name>\n" on `port`. Returns the container id.
 */
export async function startWebContainer(h: DockerHost, o: WebContainerOptions): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]+$/.test(o.name)) throw new Error(`bad container name ${o.name}`);
  const port = o.port ?? 8000;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`bad port ${port}`);
  const args = ['run', '-d', '--name', o.name];
  for (const p of o.ports ?? []) args.push('-p', p);
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('-l', `${k}=${v}`);
  if (o.network !== undefined) args.push('--network', o.network);
  args.push(...(o.extraArgs ?? []));
  args.push(h.image, 'sh', '-c', `mkdir -p /www && echo ${o.name} > /www/index.html && exec httpd -f -p ${port} -h /www`);
  const r = await h.docker(args, { timeoutMs: 30_000 });
  const id = r.stdout.trim();
  if (o.waitReady ?? true) {
    await waitFor(
      `httpd in container ${o.name}`,
      async () => {
        const e = await h.docker(['exec', id, 'wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`], {
          reject: false,
          timeoutMs: 5_000,
        });
        return e.exitCode === 0 ? true : undefined;
      },
      10_000,
      100,
    );
  }
  return id;
}

// ---------------------------------------------------------------------------------------------
// dockgate itself

export interface DaemonProcess {
  pid: number;
  /** parsed pino JSON lines from stdout, in order (a line that is not JSON is kept as a string) */
  lines: unknown[];
  stderr: string;
  waitForLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** sends `signal` (default SIGTERM), waits up to 5s, then SIGKILL */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: string | null; ms: number }>;
  exited: Promise<ExitInfo>;
}

function cliPathOrThrow(): string {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} does not exist; run \`npm run build\` first`);
  return CLI_PATH;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `dockgate run --config FILE` in the host ns, once it has logged `ready` (its first rules are in). */
export async function startReadyDaemon(h: DockerHost, configFile: string, timeoutMs = 20_000): Promise<DaemonProcess> {
  const d = await startDaemon(h, ['run', '--config', configFile]);
  await d.waitForLog((l) => l.event === 'ready', timeoutMs);
  return d;
}

/** Runs `nsenter --net=<host ns> node dist/cli/main.js ...args` with DOCKER_HOST set. */
export async function startDaemon(h: DockerHost, args: string[], env: Record<string, string> = {}): Promise<DaemonProcess> {
  return startInHost(h, [process.execPath, cliPathOrThrow(), ...args], env);
}

/**
 * Starts any long-running command inside the host ns (cwd = repo root, DOCKER_HOST set), with its
 * stdout parsed as JSON lines. startDaemon() is this with `node dist/cli/main.js`.
 */
export async function startInHost(h: DockerHost, argv: string[], env: Record<string, string> = {}): Promise<DaemonProcess> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined) throw new Error('startInHost: empty argv');
  // `dockgate run`: its drop log in the test's temp dir, so that a daemon killed on purpose leaves
  // nothing under /run/dockgate.
  const cli = argv.indexOf(CLI_PATH);
  if (cli >= 0) ownDropsSocket(argv.slice(cli + 1));
  const child = spawn('nsenter', [`--net=${h.host.path}`, cmd, ...rest], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PATH: sbinPath(), DOCKER_HOST: h.dockerHost, ...env },
  });
  const exited = exitPromise(child);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', reject);
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('dockgate did not start');
  track(pid);

  const lines: unknown[] = [];
  const waiters = new Set<() => void>();
  const notify = (): void => {
    for (const w of [...waiters]) w();
  };
  let buf = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buf += chunk;
    let i = buf.indexOf('\n');
    for (let n = 0; i >= 0 && n < 100_000; n++) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim() !== '') {
        try {
          lines.push(JSON.parse(line) as unknown);
        } catch {
          lines.push(line);
        }
      }
      i = buf.indexOf('\n');
    }
    notify();
  });
  const d: DaemonProcess = {
    pid,
    lines,
    stderr: '',
    exited,
    waitForLog(pred, timeoutMs) {
      return new Promise((resolve, reject) => {
        let seen = 0;
        let done = false;
        const finish = (fn: () => void): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        const describe = (): string =>
          `\n--- last stdout lines ---\n${lines
            .slice(-15)
            .map((l) => (typeof l === 'string' ? l : JSON.stringify(l)))
            .join('\n')}\n--- stderr ---\n${d.stderr.slice(-2000)}`;
        const check = (): void => {
          for (; seen < lines.length; seen++) {
            const l = lines[seen];
            if (isRecord(l) && pred(l)) {
              finish(() => resolve(l));
              return;
            }
          }
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out after ${timeoutMs}ms waiting for a log line${describe()}`))),
          timeoutMs,
        );
        waiters.add(check);
        check();
        void exited.then((e) => {
          // let the last stdout chunks arrive first
          setTimeout(() => {
            check();
            finish(() =>
              reject(new Error(`dockgate exited (code ${e.code}, signal ${e.signal}) before the log line came${describe()}`)),
            );
          }, 50);
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const t0 = Date.now();
      const already = child.exitCode !== null || child.signalCode !== null;
      if (!already) {
        killQuiet(pid, signal);
        if ((await withTimeout(exited, 5_000)) === undefined) {
          killQuiet(pid, 'SIGKILL');
          await withTimeout(exited, 5_000);
        }
      }
      const e = await withTimeout(exited, 1_000);
      untrack(pid);
      liveDaemons.delete(d);
      hostDaemons.get(h)?.delete(d);
      return { code: e?.code ?? null, signal: e?.signal ?? null, ms: Date.now() - t0 };
    },
  };
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    d.stderr += chunk;
    if (d.stderr.length > 1_000_000) d.stderr = d.stderr.slice(-500_000);
  });
  void exited.then(() => {
    untrack(pid);
    setTimeout(notify, 0);
  });
  liveDaemons.add(d);
  hostDaemons.get(h)?.add(d);
  return d;
}

/** One-shot dockgate CLI inside the host ns, DOCKER_HOST set, timeout 30s. */
export async function runCli(h: DockerHost, args: string[], env: Record<string, string> = {}): Promise<ExecResult> {
  return runInHost(h, [process.execPath, cliPathOrThrow(), ...args], env);
}

/** Any one-shot command inside the host ns (cwd = repo root, DOCKER_HOST set); never rejects on exit code. */
export async function runInHost(
  h: DockerHost,
  argv: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<ExecResult> {
  const r = await execa('nsenter', [`--net=${h.host.path}`, ...argv], {
    cwd: REPO_ROOT,
    reject: false,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    input: '',
    env: { PATH: sbinPath(), DOCKER_HOST: h.dockerHost, ...env },
    stripFinalNewline: false,
  });
  let stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.timedOut) stderr += `\n[timed out after ${timeoutMs}ms]`;
  else if (r.failed && r.exitCode === undefined) stderr += `\n[${r.shortMessage}]`;
  return { stdout: typeof r.stdout === 'string' ? r.stdout : '', stderr, exitCode: r.exitCode ?? -1 };
}

/** The client address a busybox CGI reports; httpd listens dual-stack, so IPv4 shows as [::ffff:a.b.c.d]. */
export const clientIp = (body: string): string => body.trim().replace(/^\[::ffff:(.*)\]$/, '$1');
