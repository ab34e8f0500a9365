// ulogd2 as the NFLOG reader: a supervised child (src/dataplane/supervised.ts) in the daemon's
// network namespace, with a config dockgate writes, sending one JSON object per packet to a unix
// socket the daemon listens on in a private directory. Not its stdout: node's stdio pipes are
// socket pairs, which ulogd's fopen("/dev/stdout") cannot open (ENXIO, measured). No file grows
// anywhere, and a daemon that stops reading blocks ulogd, whose netlink socket then overflows in
// the kernel (bounded) instead of anything growing in memory.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { lstat, readFile, readdir, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CommandQueue } from '../dataplane/command-queue.js';
import { SupervisedMonitor } from '../dataplane/supervised.js';

const JSON_PLUGIN = 'ulogd_output_JSON.so';
const MAX_LINE = 64 * 1024;
const DIR_PREFIX = 'dockgate-ulogd-';
/** The daemon's pid: who owns the directory, read by the next start's sweep. */
const PID_FILE = 'dockgate.pid';
const SOCKET_FILE = 'json.sock';
/** An empty directory younger than this may be a daemon between mkdtemp and listen. */
const SWEEP_MIN_AGE_MS = 60_000;

/** Debian puts the plugins under the multiarch directory (/usr/lib/x86_64-linux-gnu/ulogd); found, not assumed. */
export function findUlogdPlugins(roots: readonly string[] = ['/usr/lib', '/usr/local/lib', '/usr/lib64']): string | undefined {
  for (const root of roots) {
    if (existsSync(join(root, 'ulogd', JSON_PLUGIN))) return join(root, 'ulogd');
    let subdirs: string[];
    try {
      subdirs = readdirSync(root);
    } catch {
      continue;
    }
    for (const d of subdirs.sort()) if (existsSync(join(root, d, 'ulogd', JSON_PLUGIN))) return join(root, d, 'ulogd');
  }
  return undefined;
}

/**
 * ulogd.conf for one NFLOG group. netlink_qthreshold=1: without it the kernel batches a group's
 * messages for up to a second (measured), and an entry would show that much later.
 */
export function ulogdConfig(pluginDir: string, group: number, socket: string): string {
  // HWHDR: the source MAC, by which a spoofed frame is attributed (its IP source is a lie).
  const plugins = ['ulogd_inppkt_NFLOG.so', 'ulogd_raw2packet_BASE.so', 'ulogd_filter_IP2STR.so', 'ulogd_filter_HWHDR.so', JSON_PLUGIN];
  return [
    '# written by dockgate for its drop log; rewritten at every start',
    '[global]',
    // ulogd's own words on its stdout, which the supervisor reads.
    'logfile="stdout"',
    'loglevel=5',
    ...plugins.map((p) => `plugin="${join(pluginDir, p)}"`),
    'stack=log1:NFLOG,base1:BASE,ip2str1:IP2STR,mac2str1:HWHDR,json1:JSON',
    '',
    '[log1]',
    `group=${group}`,
    'netlink_qthreshold=1',
    '',
    '[json1]',
    'mode="unix"',
    `file="${socket}"`,
    'sync=1',
    '',
  ].join('\n');
}

export interface UlogdReaderOptions {
  command: string;
  group: number;
  queue: CommandQueue;
  log: Logger;
  onLine: (line: string) => void;
  /** Where the plugins are; found when absent. */
  pluginDir?: string;
  /**
   * Where ulogd's private directory goes (default the system's temp directory). The daemon puts it
   * beside its drops socket: under /run it goes with a reboot, in a test with the test's own
   * directory, also after a SIGKILL that left no time to remove it.
   */
  parentDir?: string;
}

export class UlogdReader {
  readonly #monitor: SupervisedMonitor;
  readonly #dir: string;
  readonly #server: net.Server;

  private constructor(o: UlogdReaderOptions, pluginDir: string) {
    // mkdtemp makes it 0700: only root reaches the socket ulogd writes to.
    this.#dir = mkdtempSync(join(o.parentDir ?? tmpdir(), DIR_PREFIX));
    writeFileSync(join(this.#dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 });
    const conf = join(this.#dir, 'ulogd.conf');
    const socket = join(this.#dir, SOCKET_FILE);
    writeFileSync(conf, ulogdConfig(pluginDir, o.group, socket), { mode: 0o600 });
    this.#server = net.createServer((c) => {
      let rest = '';
      c.setEncoding('utf8');
      c.on('error', () => c.destroy());
      c.on('data', (chunk: string) => {
        rest += chunk;
        let nl: number;
        while ((nl = rest.indexOf('\n')) >= 0) {
          const line = rest.slice(0, nl);
          rest = rest.slice(nl + 1);
          if (line !== '') o.onLine(line);
        }
        // One packet's JSON is under 1 kB: anything this long without a newline is not ulogd's.
        if (rest.length > MAX_LINE) c.destroy();
      });
    });
    this.#server.on('error', (err) => o.log.error({ event: 'drop-log-failed', err: err.message }, `cannot read ulogd's output on ${socket}: ${err.message}`));
    // Bound before ulogd starts (listen on a path binds at once), so its first connect finds it.
    this.#server.listen(socket);
    this.#monitor = new SupervisedMonitor({
      queue: o.queue,
      log: o.log,
      name: 'drop-log',
      command: o.command,
      args: ['-c', conf],
      onLine: (line) => o.log.debug({ event: 'ulogd', line }, `ulogd: ${line}`),
      onGap: () => undefined,
      onGiveUp: () => undefined,
    });
  }

  /** undefined (and one line said why) when ulogd2 or its JSON plugin is not installed. */
  static start(o: UlogdReaderOptions): UlogdReader | undefined {
    const pluginDir = o.pluginDir ?? findUlogdPlugins();
    if (pluginDir === undefined) {
      o.log.warn(
        { event: 'drop-log-unavailable', reason: 'ulogd2-json missing' },
        `drops.log is on but ulogd2's JSON plugin (${JSON_PLUGIN}) is not installed: the kernel logs drops, nobody reads them (apt-get install ulogd2 ulogd2-json)`,
      );
      return undefined;
    }
    const r = new UlogdReader(o, pluginDir);
    r.#monitor.start();
    o.log.info({ event: 'drop-log-reader', pid: r.pid, group: o.group }, `reading the drop log (NFLOG group ${o.group}) with ${o.command}, pid ${r.pid}`);
    return r;
  }

  get pid(): number | undefined {
    return this.#monitor.pid;
  }

  /** Stops ulogd by its pid and removes its config and socket. */
  async stop(): Promise<void> {
    await this.#monitor.stop();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** Whether a process with this pid exists (EPERM: it does, owned by someone else). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** 'answers', 'refused' (a socket file nobody listens on), or 'unknown' (no file, a timeout, ...). */
function probeSocket(path: string, timeoutMs: number): Promise<'answers' | 'refused' | 'unknown'> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (r: 'answers' | 'refused' | 'unknown'): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('unknown'), timeoutMs);
    c.once('connect', () => done('answers'));
    c.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'unknown'));
  });
}

/**
 * Why a ulogd directory is stale, or undefined while its daemon may still be alive. A live daemon
 * listens on json.sock, so an answer keeps it whatever else is there; a pid file is believed next
 * (a reused pid keeps a dead daemon's directory, never the other way round).
 */
async function staleReason(dir: string, now: number): Promise<string | undefined> {
  const socket = await probeSocket(join(dir, SOCKET_FILE), 1_000);
  if (socket === 'answers') return undefined;
  const pid = Number((await readFile(join(dir, PID_FILE), 'utf8').catch(() => '')).trim());
  if (Number.isInteger(pid) && pid > 0) return processExists(pid) ? undefined : `its daemon (pid ${pid}) is gone`;
  if (socket === 'refused') return 'nobody listens on its socket';
  const st = await lstat(dir);
  return now - st.mtimeMs > SWEEP_MIN_AGE_MS ? 'empty and old' : undefined;
}

/**
 * Removes the ulogd directories in `parentDir` that a daemon killed without stop() (SIGKILL, a
 * crash, a test killing it on purpose) left behind; returns their names. Never throws: a
 * directory it cannot judge stays.
 */
export async function sweepStaleUlogdDirs(parentDir: string, log: Logger, now = Date.now()): Promise<string[]> {
  const names = await readdir(parentDir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names.filter((n) => n.startsWith(DIR_PREFIX))) {
    const dir = join(parentDir, name);
    try {
      if (!(await lstat(dir)).isDirectory()) continue;
      const why = await staleReason(dir, now);
      if (why === undefined) continue;
      await rm(dir, { recursive: true, force: true });
      removed.push(name);
      log.info({ event: 'drop-log-swept', dir, reason: why }, `removed ${dir}, left by a daemon that did not stop (${why})`);
    } catch {
      // gone meanwhile, or not ours to judge
    }
  }
  return removed;
}
