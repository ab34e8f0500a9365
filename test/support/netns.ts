// Test support: network namespaces made by tests, and cleanup of what a crashed test run left.
//
// Safety rules (see /work/shared/DESIGN.md, "Testing on a real kernel"):
// - nothing here ever changes the firewall, routes, sysctls or interfaces of the machine's own
//   network namespace; every command that does networking runs via `nsenter --net=PATH` inside a
//   namespace created here (never `ip netns exec`, which remounts /sys);
// - every command has a timeout; every loop has a limit.
//
// Naming: namespaces are `dgt-<prefix>-<pid>-<n>`, temp dirs of Docker hosts are
// `/tmp/dgt-<pid>-XXXXXX`; <pid> is the test process that made them, so `cleanupLeftovers()` can
// tell a dead run's leftovers from those of a run still going (possibly someone else's).

import { execa } from 'execa';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from './poll.js';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface ExecOptions {
  /** written to the command's stdin */
  input?: string;
  /** throw when the exit code is not 0 (default true) */
  reject?: boolean;
  /** kill the command (SIGKILL) after this long; default 30s */
  timeoutMs?: number;
}

export interface Netns {
  name: string;
  /** /var/run/netns/NAME */
  path: string;
  exec(cmd: string, args: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export const NETNS_DIR = '/var/run/netns';
export const NETNS_PREFIX = 'dgt-';
/** Docker hosts' temp dirs are `${TMP_PREFIX}<pid>-XXXXXX` */
export const TMP_PREFIX = '/tmp/dgt-';

const DEFAULT_TIMEOUT_MS = 30_000;
const NAME_RE = /^dgt-(.+)-(\d+)-(\d+)$/;
const TMP_RE = /^dgt-(\d+)-[A-Za-z0-9]{6}$/;

/** PATH with the sbin dirs, where ip, iptables, dockerd, docker-proxy live. */
export function sbinPath(): string {
  const parts = (process.env.PATH ?? '').split(':').filter((p) => p !== '');
  for (const p of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']) {
    if (!parts.includes(p)) parts.push(p);
  }
  return parts.join(':');
}

/**
 * Runs a command in the test process's own namespaces. Only for things that do not touch the
 * network (ip netns add/del, umount, tar, the docker CLI talking to a unix socket).
 */
export async function run(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const r = await execa(cmd, args, {
    input: opts.input ?? '',
    reject: false,
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    env: { PATH: sbinPath() },
    stripFinalNewline: false,
  });
  let stderr = typeof r.stderr === 'string' ? r.stderr : '';
  if (r.timedOut) stderr += `\n[timed out after ${timeoutMs}ms]`;
  else if (r.failed && r.exitCode === undefined) stderr += `\n[${r.shortMessage}]`;
  const res: ExecResult = {
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr,
    exitCode: r.exitCode ?? -1,
  };
  if ((opts.reject ?? true) && res.exitCode !== 0) {
    throw new Error(
      `command failed (exit ${res.exitCode}): ${[cmd, ...args].join(' ')}\n${res.stderr.trim()}\n${res.stdout.trim()}`.trim(),
    );
  }
  return res;
}

/** The Netns object for an existing namespace name (no check that it exists). */
export function netnsFromName(name: string): Netns {
  const path = `${NETNS_DIR}/${name}`;
  return {
    name,
    path,
    exec: (cmd, args, opts) => run('nsenter', [`--net=${path}`, cmd, ...args], opts),
  };
}

let nsCounter = 0;
let linkCounter = 0;

export async function createNetns(prefix = 't'): Promise<Netns> {
  if (!/^[A-Za-z0-9_]{1,16}$/.test(prefix)) throw new Error(`bad netns prefix ${JSON.stringify(prefix)}`);
  nsCounter += 1;
  const ns = netnsFromName(`${NETNS_PREFIX}${prefix}-${process.pid}-${nsCounter}`);
  await run('ip', ['netns', 'add', ns.name], { timeoutMs: 10_000 });
  try {
    await ns.exec('ip', ['link', 'set', 'lo', 'up'], { timeoutMs: 10_000 });
  } catch (err) {
    await destroyNetns(ns);
    throw err;
  }
  return ns;
}

/** Pids of the processes whose network namespace is the nsfs file at `nsPath` (like `ip netns pids`). */
export async function pidsInNetns(nsPath: string): Promise<number[]> {
  let target: { dev: number; ino: number };
  try {
    target = await stat(nsPath);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    try {
      const s = await stat(`/proc/${entry}/ns/net`);
      if (s.ino === target.ino && s.dev === target.dev) out.push(pid);
    } catch {
      // gone, or a zombie
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when the pid is gone or only a zombie left. */
export async function isGoneOrZombie(pid: number): Promise<boolean> {
  if (!isAlive(pid)) return true;
  try {
    const st = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ..." — comm may contain spaces and parentheses; the state follows the last ')'.
    const state = st.slice(st.lastIndexOf(')') + 2, st.lastIndexOf(')') + 3);
    return state === 'Z' || state === 'X';
  } catch {
    return true;
  }
}

export function killQuiet(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Waits (bounded) until every pid is gone or a zombie; returns those still alive. */
export async function waitGone(pids: number[], timeoutMs: number): Promise<number[]> {
  let left = pids;
  const allGone = async (): Promise<boolean> => {
    const still: number[] = [];
    for (const pid of left) if (!(await isGoneOrZombie(pid))) still.push(pid);
    left = still;
    return left.length === 0;
  };
  await until(allGone, { what: 'the processes gone', timeoutMs, intervalMs: 50 }).catch(() => undefined);
  return left;
}

/** SIGKILLs every process in the namespace file, waits (bounded) until they are gone. Never throws. */
export async function killNetnsPids(nsPath: string, timeoutMs = 3000): Promise<number[]> {
  const killed: number[] = [];
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 20; round++) {
    const pids = (await pidsInNetns(nsPath)).filter((p) => !killed.includes(p));
    const live: number[] = [];
    for (const p of pids) if (!(await isGoneOrZombie(p))) live.push(p);
    if (live.length === 0) break;
    for (const p of live) killQuiet(p);
    killed.push(...live);
    await waitGone(live, Math.max(0, deadline - Date.now()));
    if (Date.now() >= deadline) break;
  }
  return killed;
}

/** Kills the processes left in it and deletes it. Never throws. */
export async function destroyNetns(ns: Netns): Promise<void> {
  try {
    await killNetnsPids(ns.path);
  } catch {
    // best effort
  }
  for (let i = 0; i < 5; i++) {
    try {
      await stat(ns.path);
    } catch {
      return; // already gone
    }
    const r = await run('ip', ['netns', 'del', ns.name], { reject: false, timeoutMs: 10_000 }).catch(() => undefined);
    if (r?.exitCode === 0) return;
    await sleep(200);
  }
}

/**
 * A veth pair between two namespaces (created directly inside `a`, the peer born in `b`; it never
 * exists in the machine's own namespace), with addresses, up. Address format: '10.0.0.5/24'.
 */
export async function linkNamespaces(
  a: Netns,
  aAddr: string,
  b: Netns,
  bAddr: string,
): Promise<{ aIf: string; bIf: string }> {
  linkCounter += 1;
  const aIf = `dgv${linkCounter}a`;
  const bIf = `dgv${linkCounter}b`;
  await a.exec('ip', ['link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.path], { timeoutMs: 10_000 });
  await a.exec('ip', ['addr', 'add', aAddr, 'dev', aIf], { timeoutMs: 10_000 });
  await b.exec('ip', ['addr', 'add', bAddr, 'dev', bIf], { timeoutMs: 10_000 });
  await a.exec('ip', ['link', 'set', aIf, 'up'], { timeoutMs: 10_000 });
  await b.exec('ip', ['link', 'set', bIf, 'up'], { timeoutMs: 10_000 });
  return { aIf, bIf };
}

// ---------------------------------------------------------------------------------------------
// Mounts and Docker temp dirs

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points (of this process's mount namespace) at or below `dir`, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const base = dir.replace(/\/+$/, '');
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescapeMount(mp);
    if (p === base || p.startsWith(`${base}/`)) out.push(p);
  }
  // deepest first; the same point may be stacked several times
  return out.sort((x, y) => y.split('/').length - x.split('/').length || y.length - x.length);
}

/** Lazily unmounts everything at or below dir, deepest first, in bounded passes; returns what is left. */
export async function unmountUnder(dir: string): Promise<string[]> {
  for (let pass = 0; pass < 10; pass++) {
    const mounts = await mountsUnder(dir);
    if (mounts.length === 0) return [];
    for (const m of mounts) {
      await run('umount', ['-l', m], { reject: false, timeoutMs: 10_000 }).catch(() => undefined);
    }
  }
  return mountsUnder(dir);
}

async function cmdlineOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return '';
  }
}

/** Docker's own programs; only these are killed by command line. */
const DOCKER_COMMS = /^(dockerd|containerd|containerd-shim.*|docker-proxy|runc|docker-init)$/;

/** Pids of Docker's programs (dockerd, containerd, shims, ...) whose command line mentions `needle`. */
export async function dockerPidsWithCmdline(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let comm = '';
    try {
      comm = (await readFile(`/proc/${entry}/comm`, 'utf8')).trim();
    } catch {
      continue;
    }
    if (!DOCKER_COMMS.test(comm)) continue;
    if ((await cmdlineOf(pid)).includes(needle)) out.push(pid);
  }
  return out;
}

/**
 * Tears down whatever a Docker host under `dir` (a `/tmp/dgt-*` temp dir) left: the processes of
 * its containers (found by the netns files dockerd keeps under the exec root), every process whose
 * command line names the dir (dockerd, containerd, shims), then unmounts everything below it and
 * removes it. The dir is removed only when no mount is left below it. Never throws.
 */
export async function teardownDockerDir(dir: string): Promise<void> {
  if (!dir.startsWith(TMP_PREFIX) || dir.includes('..')) return; // never anything else
  try {
    // 1. container processes: every netns file under <dir>/**/netns/ (dockerd's sandboxes).
    const nsFiles: string[] = [];
    for (const m of await mountsUnder(dir)) if (/\/netns\/[^/]+$/.test(m)) nsFiles.push(m);
    for (const f of nsFiles) await killNetnsPids(f, 3000);
    // 2. dockerd, containerd, shims (their command lines name the dir): TERM, then KILL.
    const procs = await dockerPidsWithCmdline(`${dir}/`);
    for (const p of procs) killQuiet(p, 'SIGTERM');
    const left = await waitGone(procs, 3000);
    for (const p of left) killQuiet(p, 'SIGKILL');
    await waitGone(left, 3000);
    // 3. mounts and the dir
    const stuck = await unmountUnder(dir);
    if (stuck.length === 0) await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    // best effort
  }
}

/**
 * Removes what dead test runs left: netns `dgt-*` whose creating pid is gone (killing what is
 * still inside), and Docker hosts under `/tmp/dgt-<pid>-*` whose pid is gone. Never throws.
 */
export async function cleanupLeftovers(): Promise<void> {
  // Docker hosts first: their dockerd lives in one of the namespaces.
  let tmpEntries: string[] = [];
  try {
    tmpEntries = await readdir('/tmp');
  } catch {
    // none
  }
  for (const e of tmpEntries) {
    const m = TMP_RE.exec(e);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    await teardownDockerDir(`/tmp/${e}`);
  }
  let nsEntries: string[] = [];
  try {
    nsEntries = await readdir(NETNS_DIR);
  } catch {
    // no namespaces at all
  }
  for (const e of nsEntries) {
    const m = NAME_RE.exec(e);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || isAlive(pid)) continue;
    await destroyNetns(netnsFromName(e));
  }
}

/** Namespace names `dgt-*` that exist now. */
export async function listTestNetns(): Promise<string[]> {
  try {
    return (await readdir(NETNS_DIR)).filter((e) => e.startsWith(NETNS_PREFIX));
  } catch {
    return [];
  }
}

/**
 * `iptables-save` (or ip6tables-save) of a namespace, one table or all, without its timestamp
 * comments and packet counters: what compares equal before and after.
 */
export async function saveClean(ns: Netns, command: 'iptables-save' | 'ip6tables-save' = 'iptables-save', table?: string): Promise<string> {
  const r = await ns.exec(command, table ? ['-t', table] : []);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'))
    .join('\n');
}
