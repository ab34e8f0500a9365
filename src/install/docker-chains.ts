// Docker's own chains, left behind once Docker runs with "iptables": false: found for doctor, and
// removed (with the rules that jump to them, Docker's raw-table rules, and nothing else) by
// `install --flush-docker-chains`. One family's state at a time: Docker 27 and later write the
// same chains into ip6tables (`ip6tables` defaults to on), so callers read both.
import type { Family } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';

/** How a table is named to the admin: IPv6 tables are named like IPv4 ones, so say which firewall. */
export function familyTable(family: Family, table: string): string {
  return family === 6 ? `ip6tables ${table}` : table;
}

/**
 * The chains dockerd creates (20.10 to 29.x; DOCKER-INGRESS is swarm's, DOCKER-INTERNAL is 29's).
 * A fixed list, not a prefix, so that an admin's own chain that happens to start with DOCKER is
 * never touched.
 */
export const DOCKER_CHAINS: ReadonlySet<string> = new Set([
  'DOCKER',
  'DOCKER-USER',
  'DOCKER-ISOLATION-STAGE-1',
  'DOCKER-ISOLATION-STAGE-2',
  'DOCKER-INGRESS',
  'DOCKER-FORWARD',
  'DOCKER-BRIDGE',
  'DOCKER-CT',
  'DOCKER-INTERNAL',
]);

/** The admin's chain in Docker's set: its content is theirs, so removing it needs --force. */
export const DOCKER_USER = 'DOCKER-USER';

export interface FoundChain {
  table: string;
  chain: string;
  rules: number;
}

export interface RuleRef {
  table: string;
  chain: string;
  /** The rule as iptables-save prints it, without `-A CHAIN `. */
  line: string;
}

/**
 * The rule's jump or goto target, if any. Quoted text (comments, log prefixes) is blanked first so
 * that a comment spelling out "-j DOCKER" never makes an admin's rule look like Docker's jump.
 */
export function ruleTarget(line: string): string | undefined {
  const bare = line.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const all = [...bare.matchAll(/(?:^|\s)-[jg]\s+(\S+)/g)];
  return all.at(-1)?.[1];
}

export function dockerChainsIn(state: KernelState): FoundChain[] {
  const out: FoundChain[] = [];
  for (const [table, t] of state) {
    for (const [chain, rules] of t.chains) {
      if (DOCKER_CHAINS.has(chain)) out.push({ table, chain, rules: rules.length });
    }
  }
  return out;
}

/**
 * What the admin put in or into DOCKER-USER: every rule in it except Docker's default last
 * `-j RETURN` (dockerd before 28 adds it; 28 and later leave the chain empty), and every jump into
 * it other than Docker's own from FORWARD.
 */
export function dockerUserAdminRules(state: KernelState): RuleRef[] {
  const out: RuleRef[] = [];
  for (const [table, t] of state) {
    const own = t.chains.get(DOCKER_USER);
    if (own) {
      const rules = own.at(-1) === '-j RETURN' ? own.slice(0, -1) : own;
      for (const line of rules) out.push({ table, chain: DOCKER_USER, line });
    }
    for (const [chain, rules] of t.chains) {
      if (DOCKER_CHAINS.has(chain)) continue;
      for (const line of rules) {
        if (ruleTarget(line) !== DOCKER_USER) continue;
        if (table === 'filter' && chain === 'FORWARD' && line === `-j ${DOCKER_USER}`) continue;
        out.push({ table, chain, line });
      }
    }
  }
  return out;
}

// The exact raw PREROUTING rules of Docker 28's bridge driver, as iptables-save prints them:
// - direct-access filtering, per address since 28.0.2: -d IP/32 ! -i BRIDGE -j DROP
// - the same, per published port in 28.0.0/28.0.1:    -d IP/32 ! -i BRIDGE -p P -m P --dport N -j DROP
// - trusted_host_interfaces, before the drop:         -d IP/32 -i IFACE -j ACCEPT
// Docker's loopback filtering (-d 127.0.0.1/32 ! -i lo ... -j DROP) is left alone on purpose: it only
// protects, dockgate's DOCKGATE-RAW drops the same packets, and admins write that rule too.
const HOST_ADDR = String.raw`(?:\d{1,3}(?:\.\d{1,3}){3}/32|[0-9a-f:]+/128)`;
const DIRECT_DROP_RE = new RegExp(String.raw`^-d (${HOST_ADDR}) ! -i (\S+)(?: -p (tcp|udp|sctp) -m \3 --dport \d{1,5})? -j DROP$`);
const TRUSTED_ACCEPT_RE = new RegExp(String.raw`^-d (${HOST_ADDR}) -i \S+ -j ACCEPT$`);
/** The names dockerd gives bridges: docker0, and br- plus 12 hex of the network id. */
const DOCKER_BRIDGE_NAME_RE = /^(docker0|br-[0-9a-f]{12})$/;

/** Interfaces that Docker's own chains name: bridges, including ones named by the admin. */
function bridgesInDockerChains(state: KernelState): Set<string> {
  const out = new Set<string>();
  for (const t of state.values()) {
    for (const [chain, rules] of t.chains) {
      if (!DOCKER_CHAINS.has(chain) || chain === DOCKER_USER) continue;
      for (const line of rules) {
        for (const m of line.matchAll(/(?:^|\s)-[io] (\S+)/g)) out.add(m[1]!);
      }
    }
  }
  return out;
}

/**
 * Docker's direct-access rules in raw PREROUTING. A drop counts only when its interface is a Docker
 * bridge (named like one, or named by Docker's own chains), and an accept only when a Docker drop
 * for the same address is there too: a lookalike of the admin's stays.
 */
export function dockerRawRules(state: KernelState): RuleRef[] {
  const rules = state.get('raw')?.chains.get('PREROUTING') ?? [];
  const named = bridgesInDockerChains(state);
  const dropped = new Set<string>();
  const drops = new Set<number>();
  rules.forEach((line, i) => {
    const m = DIRECT_DROP_RE.exec(line);
    if (!m || m[1]!.startsWith('127.')) return;
    if (!DOCKER_BRIDGE_NAME_RE.test(m[2]!) && !named.has(m[2]!)) return;
    drops.add(i);
    dropped.add(m[1]!);
  });
  const out: RuleRef[] = [];
  rules.forEach((line, i) => {
    const accept = TRUSTED_ACCEPT_RE.exec(line);
    if (drops.has(i) || (accept && dropped.has(accept[1]!))) out.push({ table: 'raw', chain: 'PREROUTING', line });
  });
  return out;
}

export interface DockerFlush {
  /** iptables-restore --noflush input; '' when there is nothing to remove, or when refused. */
  text: string;
  chains: FoundChain[];
  /** Rules outside Docker's chains that jump into them (removed too, else the chains cannot go). */
  jumps: RuleRef[];
  /** Docker's rules in built-in chains that are not jumps: its raw-table direct-access filtering. */
  rules: RuleRef[];
  /** The admin's rules in or into DOCKER-USER (see dockerUserAdminRules); removed only with force. */
  adminRules: RuleRef[];
  /** adminRules exist and force was not given: text is '', nothing may be removed. */
  refused: boolean;
}

/**
 * Per table: delete Docker's raw rules and every rule elsewhere that jumps into a Docker chain,
 * then flush and delete the Docker chains (flush all before deleting any: they jump to each
 * other). One COMMIT per table, so each table changes atomically. With admin rules in DOCKER-USER
 * and no force, nothing at all: half a flush would leave DOCKER-USER's rules unreachable anyway.
 */
export function renderDockerFlush(state: KernelState, options: { force?: boolean } = {}): DockerFlush {
  const parts: string[] = [];
  const chains: FoundChain[] = [];
  const jumps: RuleRef[] = [];
  const rules = dockerRawRules(state);
  const adminRules = dockerUserAdminRules(state);
  for (const [table, t] of state) {
    const ours = [...t.chains.keys()].filter((c) => DOCKER_CHAINS.has(c));
    const own = rules.filter((r) => r.table === table);
    if (ours.length === 0 && own.length === 0) continue;
    const lines = [`*${table}`];
    for (const [chain, chainRules] of t.chains) {
      if (DOCKER_CHAINS.has(chain)) continue;
      for (const line of chainRules) {
        const target = ruleTarget(line);
        if (target !== undefined && DOCKER_CHAINS.has(target)) {
          lines.push(`-D ${chain} ${line}`);
          jumps.push({ table, chain, line });
        }
      }
    }
    for (const r of own) lines.push(`-D ${r.chain} ${r.line}`);
    for (const c of ours) lines.push(`-F ${c}`);
    for (const c of ours) lines.push(`-X ${c}`);
    lines.push('COMMIT');
    parts.push(`${lines.join('\n')}\n`);
    for (const c of ours) chains.push({ table, chain: c, rules: t.chains.get(c)?.length ?? 0 });
  }
  const refused = adminRules.length > 0 && !options.force;
  return { text: refused ? '' : parts.join(''), chains, jumps, rules, adminRules, refused };
}
