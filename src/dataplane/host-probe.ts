// Collects the facts `dockgate doctor` judges: iptables in both backends, the forwarding sysctls,
// dockerd's command line and daemon.json. Processes run through the CommandQueue, so a queue
// bound to a network namespace probes that namespace (sysctls under /proc/sys/net are per
// namespace and are read by a `cat` running inside it). Reads only; changes nothing.
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { DAEMON_JSON, readDaemonSettings } from '../install/daemon-json.js';
import type { Backend, DaemonJsonFacts, DockerdFlags, DoctorFacts, RouteFacts, RouteInterface, SaveFacts } from '../doctor/doctor-checks.js';
import { JsonSyntaxError } from '../install/json-text.js';
import { parseSave } from '../plan/kernel-state.js';
import type { HostFirewallFacts } from '../doctor/host-firewall-checks.js';
import type { IpRuleFacts, MarkBitFacts } from '../doctor/mark-bit-check.js';
import type { RuleSet } from '../model/types.js';
import { footprintFor } from './footprint.js';
import { Iptables, backendOf } from './iptables.js';
import { Nft, NftError } from './nft.js';
import { type CommandQueue, firstErrorLine, howEnded, succeeded } from './command-queue.js';
import { readHostRoutes } from './routes.js';
import { errorMessage } from '../util/errors.js';
import { readJsonOutput } from '../util/json-output.js';
import { z } from 'zod';

/** The save tools of both backends as Debian names them. */
export const BACKEND_SAVE: Readonly<Record<'nf_tables' | 'legacy', string>> = {
  nf_tables: 'iptables-nft-save',
  legacy: 'iptables-legacy-save',
};

export async function probeSave(queue: CommandQueue, command: string): Promise<SaveFacts> {
  const v = await queue.run(command, ['--version'], { timeoutMs: 10_000 });
  if (v.kind === 'not-found') return { command, found: false };
  const version = succeeded(v) ? (v.stdout.trim().split('\n')[0] ?? '') : '';
  const backend: Backend = backendOf(version);
  const r = await queue.run(command, [], { timeoutMs: 30_000 });
  if (!succeeded(r)) return { command, found: true, version, backend, error: `${howEnded(r)}: ${firstErrorLine(r)}` };
  return { command, found: true, version, backend, state: parseSave(r.stdout) };
}

/** A sysctl, read by a process in the queue's namespace; undefined when it does not exist. */
export async function readSysctl(queue: CommandQueue, sysctlDir: string, key: string): Promise<string | undefined> {
  const r = await queue.run('cat', [join(sysctlDir, key)], { timeoutMs: 10_000 });
  return succeeded(r) ? r.stdout.trim() : undefined;
}

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

export interface ProbeOptions {
  queue: CommandQueue;
  config: Config;
  /** Prefix for /etc/docker/daemon.json (and dockerd's --config-file): '/' on a real host. */
  root: string;
  /** Where the sysctls are: '/proc/sys' on a real host (read from inside the queue's namespace). */
  sysctlDir: string;
  /** Where dockerd processes are looked for; '/proc' on a real host. */
  procDir: string;
  dockerHost: string;
}

/**
 * The routes of the queue's namespace (main table) and, per interface through which they reach a
 * network (Docker's own interfaces by name left out), the sysctls that decide whether packets
 * arriving there are forwarded.
 */
export async function probeRoutes(queue: CommandQueue, sysctlDir: string): Promise<RouteFacts> {
  const v6All = await readSysctl(queue, sysctlDir, 'net/ipv6/conf/all/forwarding');
  // No /proc/sys/net/ipv6 at all: the kernel runs without IPv6.
  const ipv6 = v6All === undefined ? undefined : { allForwarding: v6All, forceForwardingKnown: (await readSysctl(queue, sysctlDir, 'net/ipv6/conf/all/force_forwarding')) !== undefined };
  let routes;
  try {
    routes = await readHostRoutes(queue, ipv6 !== undefined);
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
  const interfaces: RouteInterface[] = [];
  for (const name of routes.reach) {
    const families = [...new Set([...routes.routes, ...routes.networks].filter((r) => r.devs.includes(name)).map((r) => r.family))].sort();
    const uplink = routes.interfaces.includes(name);
    const entry: RouteInterface = { name, uplink, families, ipv4Forwarding: await readSysctl(queue, sysctlDir, `net/ipv4/conf/${name}/forwarding`) };
    if (families.includes(6) && ipv6?.forceForwardingKnown) {
      entry.ipv6ForceForwarding = await readSysctl(queue, sysctlDir, `net/ipv6/conf/${name}/force_forwarding`);
    }
    interfaces.push(entry);
  }
  return ipv6 ? { ok: true, interfaces, ipv6 } : { ok: true, interfaces };
}

/** Everything but Docker's own answers (those come from src/docker/info.ts and src/cli/doctor.ts). */
export async function collectHostFacts(o: ProbeOptions): Promise<Omit<DoctorFacts, 'docker' | 'use'>> {
  const iptables = await probeSave(o.queue, o.config.iptables.saveCommand);
  const backends: DoctorFacts['backends'] = {};
  for (const b of ['nf_tables', 'legacy'] as const) backends[b] = await probeSave(o.queue, BACKEND_SAVE[b]);
  const dockerd = await findDockerd(o.procDir, o.dockerHost);
  // dockerd's --config-file moves daemon.json; the root prefix still applies (tests).
  const daemonPath = dockerd?.configFile ?? DAEMON_JSON;
  const shown = o.root === '/' ? daemonPath : join(o.root, daemonPath);
  const daemonJson = await readDaemonJsonFacts(join(o.root, daemonPath), shown);
  const allForwarding = await readSysctl(o.queue, o.sysctlDir, 'net/ipv4/conf/all/forwarding');
  const interfaces: DoctorFacts['sysctl']['interfaces'] = [];
  const listed = o.config.externalInterfaces.kind === 'list' ? o.config.externalInterfaces.names : [];
  for (const name of listed) {
    interfaces.push({ name, forwarding: await readSysctl(o.queue, o.sysctlDir, `net/ipv4/conf/${name}/forwarding`) });
  }
  // A host booted without IPv6 has no /proc/sys/net/ipv6: its ip6tables is not a firewall to judge.
  const ipv6AllForwarding = await readSysctl(o.queue, o.sysctlDir, 'net/ipv6/conf/all/forwarding');
  const ipv6 = ipv6AllForwarding !== undefined;
  const ip6tables: SaveFacts = ipv6
    ? await probeSave(o.queue, o.config.iptables.ip6SaveCommand)
    : { command: o.config.iptables.ip6SaveCommand, found: false, error: 'IPv6 is disabled on this host' };
  return {
    config: { defaultMode: o.config.defaults.mode, externalInterfaces: o.config.externalInterfaces },
    markBit: await probeMarkBit(o.queue, o.config, ipv6),
    ip6tables,
    iptables,
    backends,
    dockerd,
    daemonJson,
    sysctl: { allForwarding, ipv6AllForwarding, interfaces },
    routes: await probeRoutes(o.queue, o.sysctlDir),
  };
}

/** What the mark-bit check reads of each rule is judged there; here only: a list of objects. */
const ipRuleList = z.array(z.record(z.string(), z.unknown()));

/** Policy routing rules of both families (`ip -j rule`), for the mark-bit check. */
export async function probeMarkBit(queue: CommandQueue, config: Config, ipv6: boolean): Promise<MarkBitFacts> {
  const ipRules: IpRuleFacts[] = [];
  for (const family of ipv6 ? ([4, 6] as const) : ([4] as const)) {
    const r = await queue.run('ip', ['-j', `-${family}`, 'rule', 'show'], { timeoutMs: 10_000 });
    if (!succeeded(r)) {
      ipRules.push({ family, ok: false, error: r.kind === 'not-found' ? 'ip not found' : `${howEnded(r)}: ${firstErrorLine(r)}` });
      continue;
    }
    const rules = readJsonOutput(r.stdout, ipRuleList, `ip -j -${family} rule show`, []);
    ipRules.push(rules.ok ? { family, ok: true, rules: rules.value } : { family, ok: false, error: rules.error });
  }
  return { bit: config.foreignChainsMark, ipRules };
}

// ---- other firewalls on the same hooks (doctor's host-firewall, foreign-chains, firewalld) ----

/** Inode of a network namespace, from an nsfs path or a /proc/PID/ns/net link text `net:[N]`. */
async function netnsInode(path: string): Promise<number | undefined> {
  try {
    const link = await readlink(path).catch(() => undefined);
    const m = link ? /^net:\[(\d+)\]$/.exec(link) : null;
    if (m) return Number(m[1]);
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

/**
 * firewalld processes in the network namespace the queue probes (a firewalld in another namespace
 * filters other packets). firewalld is a Python program: its comm is `firewalld`.
 */
async function firewalldProcesses(procDir: string, queue: CommandQueue): Promise<number[]> {
  const ours = await netnsInode(queue.options.netns ?? join(procDir, 'self/ns/net'));
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if ((await readFile(join(procDir, e, 'comm'), 'utf8')).trim() !== 'firewalld') continue;
    } catch {
      continue;
    }
    const theirs = await netnsInode(join(procDir, e, 'ns/net'));
    if (ours === undefined || theirs === undefined || ours === theirs) out.push(Number(e));
  }
  return out;
}

export interface HostFirewallProbe {
  queue: CommandQueue;
  config: Config;
  /** '/' on a real host (for /etc/ufw/ufw.conf). */
  root: string;
  procDir: string;
  /** The plan of the containers running now; undefined (with why) when Docker could not be asked. */
  plan: RuleSet | undefined;
  planError?: string;
}

/** The whole nft ruleset, ufw's and firewalld's state, and every opening judged against them. */
export async function collectHostFirewall(o: HostFirewallProbe): Promise<HostFirewallFacts> {
  const nft = new Nft(o.queue);
  let nftFacts: HostFirewallFacts['nft'];
  try {
    nftFacts = { ok: true, ruleset: await nft.listRuleset() };
  } catch (err) {
    nftFacts = { ok: false, error: errorMessage(err), missing: err instanceof NftError && err.missing };
  }
  let ufw: HostFirewallFacts['ufw'];
  try {
    const text = await readFile(join(o.root, 'etc/ufw/ufw.conf'), 'utf8');
    ufw = { enabled: /^\s*ENABLED\s*=\s*"?yes"?\s*$/im.test(text) };
  } catch {
    ufw = undefined;
  }
  const firewalld: string[] = [];
  if (nftFacts.ok && nftFacts.ruleset.tables.some((t) => t.family === 'inet' && t.name === 'firewalld')) firewalld.push('table inet firewalld');
  const pids = await firewalldProcesses(o.procDir, o.queue);
  if (pids.length > 0) firewalld.push(`process ${pids.join(', ')}`);
  const facts: HostFirewallFacts = { mode: o.config.foreignChains, nft: nftFacts, ufw, firewalld };
  if (!nftFacts.ok) return facts;
  if (!o.plan) return { ...facts, notJudged: o.planError ?? 'Docker could not be asked for the running containers' };
  try {
    const state = await (await footprintFor(o.config, o.queue)).inspect(o.plan, o.config.foreignChains, o.config.foreignChainsMark);
    return { ...facts, footprint: { needed: state.needed, footprints: state.footprints, marksInPlace: state.marksInPlace, verdicts: state.verdicts } };
  } catch (err) {
    return { ...facts, notJudged: errorMessage(err) };
  }
}
