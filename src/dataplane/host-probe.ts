// Collects the facts `dockgate doctor` judges: iptables in both backends, the forwarding sysctls,
// dockerd's command line and daemon.json (dockerd-probe.ts), policy routing rules; other firewalls
// on the same hooks are host-firewall-probe.ts. Processes run through the CommandQueue, so a queue
// bound to a network namespace probes that namespace (sysctls under /proc/sys/net are per
// namespace and are read by a `cat` running inside it). Reads only; changes nothing.
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { DAEMON_JSON } from '../install/daemon-json.js';
import type { HostFacts, IpRuleFacts, MarkBitFacts, RouteFacts, RouteInterface, SaveFacts } from './host-facts.js';
import { parseSave } from '../plan/kernel-state.js';
import { type Backend, backendOf } from './iptables.js';
import { type CommandQueue, firstErrorLine, howEnded, succeeded } from './command-queue.js';
import { readJsonOutput } from '../util/json-output.js';
import { z } from 'zod';
import { findDockerd, readDaemonJsonFacts } from './dockerd-probe.js';
import { readHostRoutes } from './routes.js';
import { errorMessage } from '../util/errors.js';

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
export async function collectHostFacts(o: ProbeOptions): Promise<HostFacts> {
  const iptables = await probeSave(o.queue, o.config.iptables.saveCommand);
  const backends: HostFacts['backends'] = {};
  for (const b of ['nf_tables', 'legacy'] as const) backends[b] = await probeSave(o.queue, BACKEND_SAVE[b]);
  const dockerd = await findDockerd(o.procDir, o.dockerHost);
  // dockerd's --config-file moves daemon.json; the root prefix still applies (tests).
  const daemonPath = dockerd?.configFile ?? DAEMON_JSON;
  const shown = o.root === '/' ? daemonPath : join(o.root, daemonPath);
  const daemonJson = await readDaemonJsonFacts(join(o.root, daemonPath), shown);
  const allForwarding = await readSysctl(o.queue, o.sysctlDir, 'net/ipv4/conf/all/forwarding');
  const interfaces: HostFacts['sysctl']['interfaces'] = [];
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
