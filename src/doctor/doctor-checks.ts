// `dockgate doctor`'s judgement: pure functions from collected facts to one ok/warn/fail line per
// check. Collecting the facts (processes, /proc, Docker) happens elsewhere, so every verdict here
// can be tested from a table of hand-made facts.
import { type HostFirewallFacts, checkHostFirewall } from './host-firewall-checks.js';
import { type MarkBitFacts, checkMarkBit } from './mark-bit-check.js';
import type { ExternalInterfaces } from '../config/schema.js';
import type { ContainerFacts, Family, Mode, NetworkFacts, RuleSet } from '../model/types.js';
import { bracketed, describeHostPort } from '../model/format.js';
import { familyOf } from '../net/address.js';
import { JUMPS, MARK_TABLE, USER, isManagedChain, isMarkChain } from '../plan/chains.js';
import { jumpLine } from '../plan/render.js';
import { IncompatibleTableError, type KernelState, foreignRules, incompatibleTables, jumpCount, strayJumps } from '../plan/kernel-state.js';
import { DOCKER_CHAINS, dockerChainsIn, familyTable } from '../install/docker-chains.js';
import type { JsonValue } from '../install/json-text.js';
import { type UnfirewalledContainer, describeUnfirewalled } from '../plan/unfirewalled.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  status: CheckStatus;
  name: string;
  detail: string;
}

export type { Backend } from '../dataplane/iptables.js';
import type { Backend } from '../dataplane/iptables.js';
import { checkDockerFirewall } from './docker-firewall-check.js';

/** What one `*-save` command showed. */
export interface SaveFacts {
  command: string;
  /** False when the program is not installed at all. */
  found: boolean;
  /** First line of `--version`, e.g. 'iptables-save v1.8.9 (nf_tables)'. */
  version?: string;
  backend?: Backend;
  state?: KernelState;
  /** Why the save failed, when it did. */
  error?: string;
}

/** dockerd's command-line settings that matter here; undefined = flag not given. */
export interface DockerdFlags {
  pid: number;
  iptables?: boolean;
  ip6tables?: boolean;
  ipForward?: boolean;
  userlandProxy?: boolean;
  configFile?: string;
  /** `--bridge-accept-fwmark MARK[/MASK]` as given. */
  bridgeAcceptFwmark?: string;
}

export type DockerFacts =
  | { host: string; reachable: true; version: string; swarm: string; /** /info FirewallBackend.Driver (API 1.49+). */ firewallBackend?: string }
  | { host: string; reachable: false; error: string };

export type DaemonJsonFacts =
  | { path: string; state: 'absent' }
  | { path: string; state: 'invalid'; error: string }
  | { path: string; state: 'ok'; settings: Record<string, JsonValue> };

/** One interface through which the host's routes reach a network, with the sysctls that decide whether it forwards. */
export interface RouteInterface {
  name: string;
  /** Whether a default route leaves by it (an uplink), not only routes to other networks (a LAN, a VPN). */
  uplink: boolean;
  /** The families whose routes leave by it. */
  families: Family[];
  /** net.ipv4.conf.NAME.forwarding; undefined when unreadable. */
  ipv4Forwarding: string | undefined;
  /** net.ipv6.conf.NAME.force_forwarding (Linux 6.17+); undefined when absent. */
  ipv6ForceForwarding?: string | undefined;
}

export type RouteFacts =
  | {
      ok: true;
      /** Docker's bridges and veths left out. */
      interfaces: RouteInterface[];
      /** Undefined: the host has no IPv6. */
      ipv6?: { allForwarding: string | undefined; forceForwardingKnown: boolean };
    }
  | { ok: false; error: string };

/** What needs the uplink to forward: replies to egress, dnat clients. From the plan of the containers running now. */
export interface ForwardingUse {
  /** Containers whose egress is on. */
  egress: string[];
  /** dnat openings, as `container host:port/proto`. */
  dnat: string[];
  /** Whether a managed network has IPv6 subnets (then IPv6 forwarding counts too). */
  ipv6: boolean;
}

export interface DoctorFacts {
  config: { defaultMode: Mode; externalInterfaces: ExternalInterfaces };
  /** The configured save command: the backend dockgate writes to. */
  iptables: SaveFacts;
  /** iptables-nft-save and iptables-legacy-save, when installed (both exist on Debian). */
  backends: { nf_tables?: SaveFacts; legacy?: SaveFacts };
  docker: DockerFacts;
  /** undefined: no dockerd process serving that socket is visible from here. */
  dockerd: DockerdFlags | undefined;
  daemonJson: DaemonJsonFacts;
  sysctl: {
    /** net.ipv4.conf.all.forwarding: '0', '1', or undefined when unreadable. */
    allForwarding: string | undefined;
    /** net.ipv6.conf.all.forwarding; undefined when the host has no IPv6 (or it is unreadable). */
    ipv6AllForwarding?: string | undefined;
    /** The listed external_interfaces (none in auto mode). undefined forwarding: the interface does not exist. */
    interfaces: Array<{ name: string; forwarding: string | undefined }>;
  };
  /** The interfaces the host's routes lead through and whether they forward. */
  routes: RouteFacts;
  /** Whether egress or dnat is in use; undefined when Docker could not be asked. */
  use?: ForwardingUse;
  /** The configured ip6tables save command; undefined when not probed. */
  ip6tables?: SaveFacts;
  /** Host-port claims the plan refuses (`container: reason`); undefined when Docker could not be asked. */
  ownership?: string[];
  /** Ports Docker publishes on `::` or an IPv6 address, as `container [::]:8080/tcp`; undefined when Docker could not be asked. */
  ipv6Published?: string[];
  /** Other firewalls on the same hooks (nft tables, firewalld, ufw) and the openings' verdicts. */
  hostFirewall?: HostFirewallFacts;
  /** `foreign_chains_mark` and the policy routing rules, for the `mark-bit` check; undefined when not probed. */
  markBit?: MarkBitFacts;
  /** Running containers on macvlan or ipvlan networks; undefined when Docker could not be asked. */
  unfirewalled?: UnfirewalledContainer[];
}

/** What of the plan needs forwarding on the uplink. Pure. */
export function forwardingUse(plan: RuleSet, networks: readonly NetworkFacts[]): ForwardingUse {
  return {
    egress: plan.containers.filter((c) => c.egress).map((c) => c.name),
    dnat: plan.containers.flatMap((c) =>
      c.openings.filter((o) => o.mode === 'dnat').map((o) => `${c.name} ${describeHostPort(o)}`),
    ),
    ipv6: networks.some((n) => !n.internal && n.subnets6.length > 0),
  };
}

const ok = (name: string, detail: string): CheckResult => ({ status: 'ok', name, detail });
const warn = (name: string, detail: string): CheckResult => ({ status: 'warn', name, detail });
const fail = (name: string, detail: string): CheckResult => ({ status: 'fail', name, detail });

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

export function checkIptables(f: DoctorFacts): CheckResult {
  const s = f.iptables;
  if (!s.found) return fail('iptables', `${s.command} not found: install the iptables package (or set iptables.save_command)`);
  if (s.error !== undefined || !s.state) return fail('iptables', `${s.command} failed: ${s.error ?? 'no output'}`);
  const managed = incompatibleTables(s.state);
  if (managed.length > 0) return fail('iptables', `${s.command}: ${new IncompatibleTableError(managed).message}`);
  const others = incompatibleTables(s.state, ['mangle', 'security']);
  if (others.length > 0) {
    return warn('iptables', `${s.version ?? s.command}: cannot show the ${others.join(', ')} table (native nft rules iptables cannot represent); dockgate does not write there`);
  }
  if (s.backend === 'unknown' || s.backend === undefined) return warn('iptables', `${s.version ?? s.command}: cannot tell the backend (nf_tables or legacy)`);
  return ok('iptables', `${s.version ?? s.command}: backend ${s.backend}`);
}

/** Why a check that reads these tables cannot judge them, if it cannot. */
function unreadable(state: KernelState, tables: readonly string[]): string | undefined {
  const bad = incompatibleTables(state, tables);
  return bad.length > 0 ? `not checked: iptables-save cannot show the ${bad.join(', ')} table (see the iptables check)` : undefined;
}

/** Docker's or dockgate's chains, and rules that jump to them, in one backend's state. */
function foreignChains(state: KernelState): string[] {
  const out = new Set<string>();
  for (const [table, t] of state) {
    for (const [chain, rules] of t.chains) {
      // dockgate's by exact name (DOCKGATE-USER too: dockgate creates it); an admin's DOCKGATE-USER-BANS is not.
      const dockgate = isManagedChain(chain) || chain === USER || ((table as string) === MARK_TABLE && isMarkChain(chain));
      if (DOCKER_CHAINS.has(chain) || dockgate) out.add(`${table}/${chain}`);
      else if (rules.length > 0 && /^DOCKER/.test(chain)) out.add(`${table}/${chain}`);
    }
  }
  return [...out];
}

export function checkBackends(f: DoctorFacts): CheckResult {
  const active = f.iptables.backend;
  if (active !== 'nf_tables' && active !== 'legacy') return warn('iptables-backends', 'not checked: the active backend is unknown');
  const otherName = active === 'nf_tables' ? 'legacy' : 'nf_tables';
  const other = f.backends[otherName];
  if (!other || !other.found) return ok('iptables-backends', `only ${active} is installed`);
  if (!other.state) return warn('iptables-backends', `cannot read the ${otherName} backend with ${other.command}: ${other.error ?? 'no output'}`);
  const found = foreignChains(other.state);
  if (found.length === 0) return ok('iptables-backends', `${otherName} backend holds no Docker or dockgate chains`);
  return fail(
    'iptables-backends',
    `${otherName} backend holds ${found.join(', ')} while dockgate writes to ${active}: the kernel runs both, so those rules still decide packets. ` +
      `Remove them (${other.command} shows them), or point iptables.save_command/restore_command at the ${otherName} tools`,
  );
}

export function checkDocker(f: DoctorFacts): CheckResult {
  const d = f.docker;
  if (!d.reachable) return fail('docker', `cannot reach Docker at ${d.host}: ${d.error}`);
  return ok('docker', `Docker ${d.version} at ${d.host}`);
}

export function checkSwarm(f: DoctorFacts): CheckResult {
  const d = f.docker;
  if (!d.reachable) return warn('swarm', 'not checked: Docker not reachable');
  if (d.swarm === 'inactive' || d.swarm === '') return ok('swarm', 'inactive');
  return fail('swarm', `swarm is ${d.swarm}: swarm needs Docker's own iptables; dockgate refuses to run there (leave the swarm, or do not use dockgate on this host)`);
}

type Setting = { value: boolean | undefined; source: string };

/**
 * The value dockerd runs with: a command-line flag wins (dockerd refuses to start when the same
 * setting is also in daemon.json), then daemon.json, else undefined (Docker's default).
 */
function effective(f: DoctorFacts, key: string, flag: keyof Omit<DockerdFlags, 'pid' | 'configFile' | 'bridgeAcceptFwmark'>): Setting {
  const fromFlag = f.dockerd?.[flag];
  if (fromFlag !== undefined) return { value: fromFlag, source: `dockerd flag --${key}=${fromFlag}` };
  if (f.daemonJson.state === 'ok' && Object.hasOwn(f.daemonJson.settings, key)) {
    const v = f.daemonJson.settings[key];
    if (typeof v === 'boolean') return { value: v, source: `${f.daemonJson.path}` };
    return { value: undefined, source: `${f.daemonJson.path} has ${JSON.stringify(v)}, not true or false` };
  }
  return { value: undefined, source: f.dockerd ? 'set neither in daemon.json nor by dockerd flags' : "not set in daemon.json (dockerd's flags not visible from here)" };
}

const FIX = 'set it to false in daemon.json (`dockgate install` does) and restart Docker';

export function checkDockerIptables(f: DoctorFacts): CheckResult {
  const s = effective(f, 'iptables', 'iptables');
  if (s.value === false) return ok('docker-iptables', `off (${s.source})`);
  if (s.value === true) return fail('docker-iptables', `Docker manages iptables itself (${s.source}): ${FIX}`);
  return fail('docker-iptables', `${s.source}, and Docker's default is on: ${FIX}`);
}

function majorVersion(version: string): number | undefined {
  const m = /^(\d+)\./.exec(version);
  return m ? Number(m[1]) : undefined;
}

export function checkDockerIp6tables(f: DoctorFacts): CheckResult {
  const s = effective(f, 'ip6tables', 'ip6tables');
  if (s.value === false) return ok('docker-ip6tables', `off (${s.source})`);
  if (s.value === true) return fail('docker-ip6tables', `Docker manages ip6tables itself (${s.source}): ${FIX}`);
  const major = f.docker.reachable ? majorVersion(f.docker.version) : undefined;
  if (major === undefined) return warn('docker-ip6tables', `${s.source}; Docker 27 and later default to on: ${FIX}`);
  if (major >= 27) return fail('docker-ip6tables', `${s.source}, and Docker ${major} defaults to on: ${FIX}`);
  return ok('docker-ip6tables', `${s.source} (off by default before Docker 27)`);
}

export function checkDockerIpForward(f: DoctorFacts): CheckResult {
  const s = effective(f, 'ip-forward', 'ipForward');
  if (s.value === false) return ok('docker-ip-forward', `off (${s.source})`);
  const why = s.value === true ? s.source : `${s.source}, default on`;
  return warn('docker-ip-forward', `Docker turns on forwarding for every interface at start (${why}): set "ip-forward": false and restart Docker; dockgate enables it only on bridges and external_interfaces`);
}

export function checkUserlandProxy(f: DoctorFacts): CheckResult {
  const s = effective(f, 'userland-proxy', 'userlandProxy');
  const on = s.value !== false;
  const where = s.value === undefined ? `${s.source}, default on` : s.source;
  if (f.config.defaultMode === 'dnat') {
    if (on) return warn('userland-proxy', `defaults.mode is dnat but docker-proxy still runs (${where}): set "userland-proxy": false and restart Docker`);
    return ok('userland-proxy', `off (${where}), as dnat mode wants`);
  }
  if (!on) return fail('userland-proxy', `defaults.mode is proxy but Docker runs without docker-proxy (${where}): nothing listens on published ports. Use defaults.mode: dnat, or drop "userland-proxy": false`);
  return ok('userland-proxy', `on (${where}), as proxy mode needs`);
}

export function checkDaemonJson(f: DoctorFacts): CheckResult {
  const d = f.daemonJson;
  if (d.state === 'absent') return warn('daemon.json', `${d.path} does not exist: Docker uses its defaults unless dockerd flags say otherwise (\`dockgate install\` writes it)`);
  if (d.state === 'invalid') return fail('daemon.json', `${d.path}: ${d.error}; Docker will not start with it`);
  const keys = ['iptables', 'ip6tables', 'ip-forward', 'userland-proxy'].filter((k) => Object.hasOwn(d.settings, k));
  const shown = keys.map((k) => `${k}=${JSON.stringify(d.settings[k])}`).join(' ');
  const missing = ['iptables', 'ip6tables', 'ip-forward'].filter((k) => d.settings[k] !== false);
  if (missing.length === 0) return ok('daemon.json', `${d.path}: ${shown}`);
  return warn('daemon.json', `${d.path}: ${missing.map((k) => `"${k}": false`).join(', ')} not set${shown ? ` (has ${shown})` : ''}`);
}

/**
 * Docker's chains in both families: Docker 27 and later write ip6tables rules too, and an IPv6
 * DOCKER chain DNATs and accepts around dockgate exactly as an IPv4 one does.
 */
export function checkDockerChains(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('docker-chains', 'not checked: cannot read iptables');
  // Not found: the host runs without IPv6 (or without ip6tables), so there is nothing to check.
  const six = f.ip6tables?.found ? f.ip6tables : undefined;
  const found = [
    ...dockerChainsIn(state).map((c) => ({ ...c, where: `${familyTable(4, c.table)}/${c.chain}` })),
    ...(six?.state ? dockerChainsIn(six.state).map((c) => ({ ...c, where: `${familyTable(6, c.table)}/${c.chain}` })) : []),
  ];
  const rules = found.filter((c) => c.rules > 0);
  const unread = six && !six.state ? `; IPv6 not checked: ${six.command} failed: ${six.error ?? 'no output'}` : '';
  if (rules.length > 0) {
    return fail(
      'docker-chains',
      `Docker's rules are in the firewall: ${rules.map((c) => `${c.where} (${plural(c.rules, 'rule')})`).join(', ')}. ` +
        'Either Docker still runs with iptables on, or they are leftovers: restart Docker with "iptables": false and "ip6tables": false, then `dockgate install --flush-docker-chains`' +
        unread,
    );
  }
  if (found.length > 0) return warn('docker-chains', `empty leftover chains ${found.map((c) => c.where).join(', ')}: \`dockgate install --flush-docker-chains\` removes them${unread}`);
  if (unread !== '') return warn('docker-chains', `no Docker chains in iptables${unread}`);
  return ok('docker-chains', six?.state ? 'no Docker chains (iptables and ip6tables)' : 'no Docker chains');
}

export function checkForwarding(f: DoctorFacts): CheckResult {
  const v = f.sysctl.allForwarding;
  if (v === undefined) return warn('forwarding', 'cannot read net.ipv4.conf.all.forwarding');
  if (v.trim() === '1') {
    return warn(
      'forwarding',
      'net.ipv4.conf.all.forwarding=1: every interface forwards, not only the Docker bridges and external_interfaces (Docker\'s "ip-forward" does this), and dockgate takes the host for a router: what is routed between its own interfaces is left to your FORWARD rules',
    );
  }
  return ok('forwarding', 'net.ipv4.conf.all.forwarding=0');
}

export function checkInterfaces(f: DoctorFacts): CheckResult[] {
  if (f.config.externalInterfaces.kind === 'auto') {
    const r = f.routes;
    if (!r.ok) return [warn('external-interfaces', `auto, but the routes cannot be read: ${r.error}`)];
    if (r.interfaces.length === 0) {
      return [warn('external-interfaces', 'auto, but the host has no route to any network: only the Docker bridges forward until one appears')];
    }
    const names = r.interfaces.map((i) => (i.uplink ? `${i.name} (default route)` : i.name)).join(', ');
    return [ok('external-interfaces', `auto: ${names} (every interface the host's routes lead through, Docker's bridges left out, followed as they change)`)];
  }
  const list = f.sysctl.interfaces;
  if (list.length === 0) {
    if (f.sysctl.allForwarding?.trim() === '1') return [ok('external-interfaces', 'none configured (all.forwarding=1 forwards everywhere)')];
    return [
      warn(
        'external-interfaces',
        "none configured: packets arriving from outside (replies to containers' connections, dnat-mode clients) are not forwarded; list the uplinks in external_interfaces",
      ),
    ];
  }
  return list.map(({ name, forwarding }) => {
    const check = `forwarding:${name}`;
    if (forwarding === undefined) return fail(check, `interface ${name} (in external_interfaces) does not exist`);
    if (forwarding.trim() === '1') return ok(check, `net.ipv4.conf.${name}.forwarding=1`);
    return warn(check, `net.ipv4.conf.${name}.forwarding=0: dockgate turns it on when it runs; if it is running, something turned it off`);
  });
}

/**
 * Linux forwards a packet only if the interface it arrives on forwards (IPv4:
 * net.ipv4.conf.IFACE.forwarding; IPv6: all.forwarding, or force_forwarding on Linux 6.17+).
 * Replies to containers' outbound connections and dnat clients arrive on the interfaces the
 * host's routes lead through: the uplinks, and a LAN or a VPN besides. Where one of them does not
 * forward, egress and dnat break for that network. With a list of external_interfaces only the
 * uplinks are judged: leaving a LAN out of the list is the admin's choice.
 */
export function checkExternalForwarding(f: DoctorFacts): CheckResult {
  const name = 'external-forwarding';
  const r = f.routes;
  if (!r.ok) return warn(name, `not checked: cannot read the routes: ${r.error}`);
  const judged = f.config.externalInterfaces.kind === 'auto' ? r.interfaces : r.interfaces.filter((i) => i.uplink);
  if (judged.length === 0) return ok(name, f.config.externalInterfaces.kind === 'auto' ? 'no route to any network: no interface to forward from' : 'no default route: no uplink to forward from');
  const countV6 = f.use === undefined || f.use.ipv6;
  const problems: string[] = [];
  for (const i of judged) {
    if (i.families.includes(4) && i.ipv4Forwarding?.trim() !== '1') {
      problems.push(`net.ipv4.conf.${i.name}.forwarding=${i.ipv4Forwarding?.trim() ?? '(unreadable)'}`);
    }
    if (i.families.includes(6) && countV6 && r.ipv6 && r.ipv6.allForwarding?.trim() !== '1') {
      if (!r.ipv6.forceForwardingKnown) {
        problems.push(`net.ipv6.conf.all.forwarding=${r.ipv6.allForwarding?.trim() ?? '(unreadable)'} (IPv6 routes via ${i.name}; before Linux 6.17 IPv6 cannot be forwarded per interface)`);
      } else if (i.ipv6ForceForwarding?.trim() !== '1') {
        problems.push(`net.ipv6.conf.${i.name}.force_forwarding=${i.ipv6ForceForwarding?.trim() ?? '(unreadable)'}`);
      }
    }
  }
  const uplinks = judged.map((i) => `${i.name} (IPv${i.families.join('/IPv')}${i.uplink ? ', default route' : ''})`).join(', ');
  if (problems.length === 0) return ok(name, `${uplinks} forward${judged.length === 1 ? 's' : ''}`);
  // Before Linux 6.17 only all.forwarding forwards IPv6, and dockgate never sets it (that would
  // make the host an IPv6 router between all its interfaces): the admin must, knowingly.
  const oldKernelV6 = problems.some((p) => p.startsWith('net.ipv6.conf.all.forwarding='));
  const dockgateFixes = problems.some((p) => !p.startsWith('net.ipv6.conf.all.forwarding='));
  const fix = [
    ...(dockgateFixes
      ? [f.config.externalInterfaces.kind === 'auto'
          ? 'dockgate turns it on while it runs with external_interfaces: auto; if it is running, something turned it off'
          : 'add the interface to external_interfaces (or use external_interfaces: auto) and dockgate turns it on']
      : []),
    ...(oldKernelV6
      ? ['dockgate does not set net.ipv6.conf.all.forwarding (on this kernel it makes the host an IPv6 router between all its interfaces): if containers need IPv6 egress or dnat, set it to 1 yourself (sysctl.d) with the ip6tables FORWARD policy DROP, and dockgate\'s chains accept their flows']
      : []),
  ].join('; ');
  const use = f.use;
  if (use === undefined) return warn(name, `${problems.join(', ')}; whether egress or dnat is in use is unknown (Docker not reachable): if so, ${fix}`);
  if (use.egress.length === 0 && use.dnat.length === 0) {
    return ok(name, `no running container uses egress or dnat; ${problems.join(', ')} would drop their replies and clients`);
  }
  const inUse = [
    ...(use.egress.length > 0 ? [`egress (${plural(use.egress.length, 'container')}, e.g. ${use.egress[0]})`] : []),
    ...(use.dnat.length > 0 ? [`dnat (${plural(use.dnat.length, 'opening')}, e.g. ${use.dnat[0]})`] : []),
  ];
  return fail(
    name,
    `${inUse.join(' and ')} in use, but ${problems.join(', ')}: replies to containers' connections and dnat clients arriving there are dropped; ${fix}`,
  );
}

/**
 * FORWARD's policy decides what dockgate's chains leave alone: traffic that touches no Docker
 * bridge. Where all.forwarding is 0, only the interfaces dockgate turns on forward, and its chains
 * drop every new flow that touches no Docker network (the routing guard), so ACCEPT is harmless
 * there. Where all.forwarding is 1 the host is a router of its own accord: dockgate leaves its
 * routing alone, and policy ACCEPT routes everything between the interfaces.
 */
function judgeForwardPolicy(name: string, family: Family, state: KernelState, allForwarding: string | undefined): CheckResult {
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const sysctl = `net.ipv${family}.conf.all.forwarding`;
  // No filter table at all (nf_tables before anyone wrote to it) forwards like policy ACCEPT.
  const policy = state.get('filter')?.policies.get('FORWARD') ?? 'ACCEPT';
  if (policy !== 'ACCEPT') return ok(name, `${tool} FORWARD policy is ${policy}`);
  const all = allForwarding?.trim();
  if (all === '1') {
    return warn(
      name,
      `${tool} FORWARD policy is ACCEPT and ${sysctl}=1: this host routes ${family === 6 ? 'IPv6 ' : ''}between all its interfaces, and dockgate leaves that routing to your rules (it fails closed only for the Docker bridges); set the FORWARD policy to DROP unless routing everything is meant`,
    );
  }
  const where = family === 4 ? 'only the Docker bridges and external interfaces forward' : 'IPv6 forwards only where dockgate sets force_forwarding (Linux 6.17+; not at all before)';
  return ok(name, `${tool} FORWARD policy is ACCEPT, ${sysctl}=${all ?? '(unreadable)'}: ${where}, and dockgate's chains drop what that would route between the host's own interfaces`);
}

export function checkForwardPolicy(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('forward-policy', 'not checked: cannot read iptables');
  const why = unreadable(state, ['filter']);
  if (why) return warn('forward-policy', why);
  return judgeForwardPolicy('forward-policy', 4, state, f.sysctl.allForwarding);
}

/** The same for ip6tables: many admins keep an IPv4 firewall only, and IPv6 routes as freely. */
export function checkForwardPolicy6(f: DoctorFacts): CheckResult {
  const name = 'forward-policy-ipv6';
  const six = f.ip6tables;
  if (six === undefined) return ok(name, 'not checked');
  if (!six.found || six.state === undefined) return ok(name, `no IPv6 firewall to check (${six.error ?? `${six.command} not installed`})`);
  const bad = incompatibleTables(six.state, ['filter']);
  if (bad.length > 0) return warn(name, `not checked: ${six.command} cannot show the filter table`);
  const all = f.sysctl.ipv6AllForwarding ?? (f.routes.ok ? f.routes.ipv6?.allForwarding : undefined);
  return judgeForwardPolicy(name, 6, six.state, all);
}

export function checkJumps(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('jumps', 'not checked: cannot read iptables');
  const why = unreadable(state, [...new Set(JUMPS.map((j) => j.table))]);
  if (why) return warn('jumps', why);
  const counts = JUMPS.map((j) => ({ j, n: jumpCount(state, j) }));
  const label = (j: (typeof JUMPS)[number]): string => `${j.table}/${j.builtin} -> ${j.target}`;
  const strays = strayJumps(state, JUMPS);
  const foreign = foreignRules(state);
  if (counts.every((c) => c.n === 0)) {
    return warn('jumps', "none of dockgate's jump rules are in place: dockgate is not running (yet), or `dockgate flush` ran");
  }
  const missing = counts.filter((c) => c.n === 0).map((c) => label(c.j));
  const doubled = counts.filter((c) => c.n > 1).map((c) => `${label(c.j)} (${c.n} times)`);
  const problems = [
    ...(missing.length ? [`missing ${missing.join(', ')}`] : []),
    ...(doubled.length ? [`duplicated ${doubled.join(', ')}`] : []),
  ];
  if (problems.length > 0) return fail('jumps', `${problems.join('; ')}: something removed or copied them; dockgate repairs this within sync.drift_check_ms if it is running`);
  const first = JUMPS.filter((j) => state.get(j.table)?.chains.get(j.builtin)?.[0] !== jumpLine(j)).map(label);
  if (strays.length > 0) return warn('jumps', `all ${JUMPS.length} in place, but older or misplaced dockgate jumps remain (dockgate removes them when it runs): ${strays.map((s) => `${s.table}/${s.builtin}: ${s.line}`).join('; ')}`);
  if (foreign.length > 0) {
    const shown = foreign.map((r) => (r.line === '' ? `${r.table}/${r.chain} (a dockgate chain)` : `${r.table}/${r.chain}: ${r.line}`));
    return warn('jumps', `all ${JUMPS.length} in place; rules dockgate did not write name its chains, and are left alone: ${shown.join('; ')}`);
  }
  if (first.length > 0) return warn('jumps', `all ${JUMPS.length} in place, but not first in ${first.join(', ')}: earlier rules can shadow them`);
  return ok('jumps', `all ${JUMPS.length} in place`);
}

/** Every check, in the order doctor prints them. */
/** The ports Docker binds on IPv6 addresses (a plain -p binds `::` too), labelled or not. */
export function ipv6Published(containers: readonly ContainerFacts[]): string[] {
  return containers.flatMap((c) =>
    c.ports.filter((b) => b.hostPort > 0 && familyOf(b.hostIp) === 6).map((b) => `${c.name} ${bracketed(b.hostIp)}:${b.hostPort}/${b.protocol}`),
  );
}

/**
 * A host whose ip6tables INPUT policy is ACCEPT exposes every port docker-proxy publishes on `::`
 * to the world over IPv6, labelled or not, `from` or not: many admins firewall IPv4 only.
 */
export function checkIpv6Exposure(f: DoctorFacts): CheckResult {
  const name = 'ipv6-exposure';
  const six = f.ip6tables;
  if (six === undefined) return { status: 'ok', name, detail: 'not checked' };
  if (!six.found || six.state === undefined) {
    return { status: 'ok', name, detail: `no IPv6 firewall to check (${six.error ?? `${six.command} not installed`}); dockgate runs IPv4-only` };
  }
  const policy = six.state.get('filter')?.policies.get('INPUT') ?? 'ACCEPT';
  const published = f.ipv6Published;
  if (published === undefined) return { status: 'warn', name, detail: `ip6tables INPUT policy ${policy}; Docker could not be asked which ports it publishes on IPv6` };
  const list = published.length > 6 ? `${published.slice(0, 6).join(', ')} and ${published.length - 6} more` : published.join(', ');
  if (policy === 'ACCEPT' && published.length > 0) {
    return {
      status: 'fail',
      name,
      detail: `ip6tables INPUT policy is ACCEPT, so these ports are open to everyone over IPv6 whatever their labels say: ${list}; set the IPv6 INPUT policy to DROP (accepting ICMPv6 and established flows) and let dockgate open what labels allow`,
    };
  }
  return {
    status: 'ok',
    name,
    detail: published.length === 0 ? `ip6tables INPUT policy ${policy}; nothing published on IPv6` : `ip6tables INPUT policy ${policy}; ${published.length} port(s) published on IPv6, opened by labels only`,
  };
}

/** The ownership refusals of a plan, as `container: reason` (claims lost to a -p binding, an older claimant, a host listener, the range). */
export function ownershipConflicts(plan: RuleSet): string[] {
  return plan.containers.flatMap((c) =>
    c.errors.filter((e) => /claimable_ports|published with -p by|also claimed by|listens on|own -p binding/.test(e.reason)).map((e) => `${c.name}: ${e.reason}`),
  );
}

/** A label that claims a host port it cannot have opens nothing: the admin should hear it here too, not only in status. */
export function checkPortOwnership(f: DoctorFacts): CheckResult {
  const name = 'port-ownership';
  if (f.ownership === undefined) return { status: 'ok', name, detail: 'not checked (Docker could not be asked)' };
  if (f.ownership.length === 0) return { status: 'ok', name, detail: 'every host port a label asks for belongs to its container' };
  return { status: 'warn', name, detail: `claims refused, nothing opened for them: ${f.ownership.join('; ')}` };
}

export function runChecks(f: DoctorFacts): CheckResult[] {
  return [
    checkIptables(f),
    checkBackends(f),
    checkDocker(f),
    checkSwarm(f),
    checkDaemonJson(f),
    checkDockerIptables(f),
    checkDockerIp6tables(f),
    checkDockerFirewall({
      driver: f.docker.reachable ? f.docker.firewallBackend : undefined,
      ruleset: f.hostFirewall?.nft.ok ? f.hostFirewall.nft.ruleset : undefined,
    }),
    checkIpv6Exposure(f),
    checkPortOwnership(f),
    ...checkUnfirewalled(f),
    checkDockerIpForward(f),
    checkUserlandProxy(f),
    checkDockerChains(f),
    checkForwarding(f),
    ...checkInterfaces(f),
    checkExternalForwarding(f),
    checkForwardPolicy(f),
    checkForwardPolicy6(f),
    checkJumps(f),
    ...checkHostFirewall(f),
    ...checkMarkBit(f),
  ];
}

/**
 * One line per container on a macvlan or ipvlan network: its traffic there never passes the
 * host's firewall. A warning when it carries dockgate labels, which then do nothing there.
 */
export function checkUnfirewalled(f: DoctorFacts): CheckResult[] {
  return (f.unfirewalled ?? []).map((u) => (u.labels.length > 0 ? warn : ok)(`unfirewalled:${u.container}`, describeUnfirewalled(u)));
}

export function formatChecks(results: readonly CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.name.length));
  return results.map((r) => `${r.status.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}\n`).join('');
}
