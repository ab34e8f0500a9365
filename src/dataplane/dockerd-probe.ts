// dockerd as this host runs it, for `dockgate doctor`: its flags from /proc (the one serving our
// Docker socket) and its daemon.json. Reads only.
import { readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { readDaemonSettings } from '../install/daemon-json.js';
import { JsonSyntaxError } from '../install/json-text.js';
import type { DaemonJsonFacts, DockerdFlags } from './host-facts.js';
import { errorMessage } from '../util/errors.js';

function normaliseHost(host: string): string {
  if (host === 'fd://' || host === '') return 'unix:///run/docker.sock';
  return host.replace(/^unix:\/\/\/var\/run\//, 'unix:///run/').replace(/\/+$/, '');
}

function boolFlag(value: string | undefined): boolean | undefined {
  if (value === undefined || value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

/** dockerd's own flags from its command line (pflag syntax: `--flag=value`, `-H x` or `-H=x`). */
export function parseDockerdArgs(argv: readonly string[]): Omit<DockerdFlags, 'pid'> & { hosts: string[] } {
  const out: Omit<DockerdFlags, 'pid'> & { hosts: string[] } = { hosts: [] };
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const takeValue = (): string | undefined => inline ?? argv[++i];
    switch (name) {
      case '-H':
      case '--host': {
        const v = takeValue();
        if (v !== undefined) out.hosts.push(v);
        break;
      }
      case '--config-file':
        out.configFile = takeValue();
        break;
      case '--iptables':
        out.iptables = boolFlag(inline);
        break;
      case '--ip6tables':
        out.ip6tables = boolFlag(inline);
        break;
      case '--ip-forward':
        out.ipForward = boolFlag(inline);
        break;
      case '--userland-proxy':
        out.userlandProxy = boolFlag(inline);
        break;
      case '--bridge-accept-fwmark':
        out.bridgeAcceptFwmark = takeValue();
        break;
      default:
        break;
    }
  }
  return out;
}

/**
 * The dockerd serving `dockerHost`, found through /proc. Undefined when none is visible (another
 * pid namespace, a remote Docker) — doctor then judges daemon.json alone.
 */
export async function findDockerd(procDir: string, dockerHost: string): Promise<DockerdFlags | undefined> {
  const want = normaliseHost(dockerHost);
  // A socket path names the same socket only within one mount namespace: a dockerd in a container
  // (its own `-H fd://`) is not the one behind our /run/docker.sock.
  const mountNs = (pid: string): Promise<string | undefined> => readlink(join(procDir, pid, 'ns/mnt')).catch(() => undefined);
  const ours = await mountNs('self');
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch {
    return undefined;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let comm: string;
    let cmdline: string;
    try {
      comm = (await readFile(join(procDir, e, 'comm'), 'utf8')).trim();
      if (comm !== 'dockerd') continue;
      cmdline = await readFile(join(procDir, e, 'cmdline'), 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const theirs = await mountNs(e);
    if (ours !== undefined && theirs !== undefined && ours !== theirs) continue;
    const parsed = parseDockerdArgs(cmdline.split('\0').filter((a) => a !== ''));
    const hosts = parsed.hosts.length > 0 ? parsed.hosts.map(normaliseHost) : [normaliseHost('')];
    if (!hosts.includes(want)) continue;
    const { hosts: _hosts, ...flags } = parsed;
    return { pid: Number(e), ...flags };
  }
  return undefined;
}

export async function readDaemonJsonFacts(path: string, shownAs: string): Promise<DaemonJsonFacts> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { path: shownAs, state: 'absent' };
    return { path: shownAs, state: 'invalid', error: `cannot read it: ${errorMessage(err)}` };
  }
  try {
    return { path: shownAs, state: 'ok', settings: readDaemonSettings(text) };
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { path: shownAs, state: 'invalid', error: err.message };
    throw err;
  }
}
