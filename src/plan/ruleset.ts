// (config, facts) → RuleSet. Pure: no I/O, no clock. The whole desired state is computed every
// time (kube-proxy style); the dataplane decides how little of it must be rewritten.
import { type LabelReading, describeImageLabels, readLabels } from '../labels/image.js';
import type {
  BridgePort,
  ChainPlan,
  ContainerFacts,
  ContainerPlan,
  ContainerPolicy,
  EgressPolicy,
  Family,
  FamilyRules,
  GrantedClaim,
  HostSocket,
  Listener,
  NetworkFacts,
  Opening,
  OtherNetwork,
  PolicyDefaults,
  PortRange,
  RuleSet,
} from '../model/types.js';
import { boundAddress } from '../model/format.js';
import * as C from './chains.js';
import { type ResolveContext, addressOf, networkWarnings, resolveAll, servingAttachments } from './openings.js';
import { judgeClaims } from './ownership.js';
import { byText } from '../util/compare.js';
import { rule } from './syntax.js';
import { bridgeFilter, linkLocalOf } from './antispoof.js';
import { type DropLogSettings, containerInputLines, logBefore } from './drop-log.js';
import { isHostNetwork, resolveHostNetwork, socketsOf } from './host-network.js';
import { egressRules } from '../egress/rules.js';
import { planSets } from '../egress/sets.js';

export interface PlanInput {
  labelPrefix: string;
  defaults: PolicyDefaults;
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
  /** Non-bridge networks, so that their containers are reported as not firewalled. */
  otherNetworks?: readonly OtherNetwork[];
  /** Host ports a dnat mapping may claim without -p (default 1024-65535). */
  claimable?: PortRange;
  /** Host sockets; a label never claims a port a host process listens on. Undefined: not checked. */
  listeners?: readonly Listener[];
  /**
   * The sockets listening in the host's network namespace and which host-network container's
   * process holds each (dataplane/host-sockets.ts): all a `--network host` container may open.
   * Undefined: not read, such containers get nothing opened.
   */
  hostSockets?: readonly HostSocket[];
  /**
   * The claims the previous plan granted (`RuleSet.granted`), the caller's memory: a claim among
   * them for the same run of its container keeps its port against a host process that listens on
   * it since. Absent: every claim is judged as at its container's start.
   */
  granted?: readonly GrantedClaim[];
  /** trust_image_labels: labels equal to the image's count as the admin's (default false: they only restrict). */
  trustImageLabels?: boolean;
  /**
   * The host's nameservers (resolv.conf), addresses of either family: a container with an egress
   * allow-list may reach them on port 53. Absent: none.
   */
  resolvers?: readonly string[];
  /**
   * Whether the host has ipset, which a DNS name in an egress list needs (the daemon finds out at
   * its first write). False: names allow nothing, with a warning. Absent: true.
   */
  egressNames?: boolean;
  /** Plan ip6tables rules too (default true; false on hosts booted without IPv6). */
  ipv6?: boolean;
  /** Which IPv6 subnets are masqueraded when they leave (default 'ula': fc00::/7 only; global ones are routed). */
  ipv6Masquerade?: Ipv6Masquerade;
  /**
   * The families in which the host routes between all its interfaces of the admin's accord:
   * net.ipv4.conf.all.forwarding (= ip_forward) or net.ipv6.conf.all.forwarding is 1 (a router,
   * a VPN gateway, Docker's "ip-forward"). In every other family the host was no router before
   * dockgate, and DOCKGATE-FORWARD ends with the routing guard (networkChains). Read by the daemon
   * and the one-shot commands alike (Sysctl.adminRouting). Absent: not known, no guard planned.
   */
  adminRouting?: readonly Family[];
  /**
   * The host end of each container interface on a managed bridge, as the kernel reports it
   * (dataplane/bridge-ports.ts): anti-spoofing holds each port to its container's addresses.
   * Absent or incomplete: those containers' addresses are still known, so only they are cut off.
   */
  bridgePorts?: readonly BridgePort[];
  /** drops.log: NFLOG lines in front of what dockgate refuses (src/plan/drop-log.ts). Absent: none. */
  dropLog?: DropLogSettings;
  /**
   * The families whose kernel has no raw table (LXC/Proxmox, no iptable_raw; the dataplane finds
   * out, dataplane/kernel-limits.ts). Nothing is planned in raw there; its drops stand in filter
   * and nat instead (networkChains, LOOPBACK_GUARD). Absent: raw everywhere.
   */
  rawMissing?: readonly Family[];
}

export type Ipv6Masquerade = 'ula' | 'all' | 'none';

export const DEFAULT_CLAIMABLE: PortRange = { start: 1024, end: 65535 };

export function containerComment(facts: Pick<ContainerFacts, 'id' | 'name'>): string {
  return `${facts.name}/${C.shortId(facts.id)}`;
}

/** One rule per source; everyone is one rule without `-s`. */
function sourcesOf(o: Opening): Array<string | undefined> {
  return o.sources.kind === 'any' ? [undefined] : o.sources.cidrs;
}

function proxyRules(openings: Opening[], note: string): string[] {
  const out: string[] = [];
  for (const o of openings) {
    if (o.mode !== 'proxy') continue;
    for (const src of sourcesOf(o)) {
      out.push(
        rule({
          src,
          dst: boundAddress(o.hostIp),
          proto: o.protocol,
          dport: o.hostPort,
          // Bound to every address: accept the host's own addresses only, never a broadcast or
          // multicast destination that happens to carry the port.
          dstType: o.hostIp.kind === 'any' ? 'LOCAL' : undefined,
          ctstate: 'NEW',
          comment: note,
          jump: 'ACCEPT',
        }),
      );
    }
  }
  return out;
}

function dnatRules(openings: Opening[], note: string): string[] {
  // One per allowed source: a source outside `from` is not redirected, so it still reaches
  // whatever the host itself serves on that port.
  return openings
    .filter((o) => o.mode === 'dnat')
    .flatMap((o) =>
      sourcesOf(o).map((src) =>
        rule({
          src,
          dst: boundAddress(o.hostIp),
          proto: o.protocol,
          dport: o.hostPort,
          comment: note,
          jump: `DNAT --to-destination ${o.family === 6 ? `[${o.containerIp}]` : o.containerIp}:${o.containerPort}`,
        }),
      ),
    );
}

function forwardRules(
  facts: ContainerFacts,
  openings: Opening[],
  egress: EgressPolicy,
  resolvers: readonly string[],
  names: boolean,
  networks: ReadonlyMap<string, NetworkFacts>,
  note: string,
  family: Family,
): string[] {
  const out: string[] = [];
  for (const o of openings) {
    if (o.mode !== 'dnat') continue;
    // Only flows conntrack saw being DNATed by our nat rules: a packet sent straight to the
    // container address never matches, so publishing a port never exposes the container IP.
    for (const src of sourcesOf(o)) {
      out.push(
        rule({ src, dst: o.containerIp, proto: o.protocol, dport: o.containerPort, ctstate: 'DNAT', comment: note, jump: 'ACCEPT' }),
      );
    }
  }
  for (const { attachment, network } of servingAttachments(facts, networks, family)) {
    out.push(...egressRules(egress, resolvers, family, { src: addressOf(attachment, family), bridge: network.bridge }, note, names));
  }
  return out;
}

/** fc00::/7, Docker's default for IPv6 networks: not routable, so it must be masqueraded to leave. */
const isUla = (cidr: string): boolean => /^f[cd][0-9a-f]{0,2}:/i.test(cidr);

function networkChains(
  networks: readonly NetworkFacts[],
  family: Family,
  masquerade6: Ipv6Masquerade,
  adminRouting: readonly Family[] | undefined,
  log: DropLogSettings | undefined,
  hasRaw: boolean,
): ChainPlan[] {
  const bridges = [...networks].sort((a, b) => byText(a.bridge, b.bridge));
  const masqueraded = (n: NetworkFacts, subnet: string): boolean =>
    !n.internal && (family === 4 || masquerade6 === 'all' || (masquerade6 === 'ula' && isUla(subnet)));
  // The admin's chain first: a DROP there (a fail2ban ban) wins over everything below, replies included.
  const forward: string[] = [rule({ comment: C.JUMP_COMMENT, jump: C.USER })];
  for (const n of bridges) {
    for (const subnet of family === 4 ? n.subnets : n.subnets6) {
      if (hasRaw && (masqueraded(n, subnet) || n.internal)) continue;
      // A routed subnet's replies arrive addressed to the container itself, and raw runs before
      // conntrack could tell them from direct access: its direct-access drop lives here instead.
      // So does every subnet's on a kernel without raw: conntrack state gives the same verdict
      // (replies, de-masqueraded before FORWARD, are ESTABLISHED; published flows are DNAT; a
      // packet sent straight to a container is NEW or INVALID), at the cost of a conntrack entry
      // per refused packet, which the raw drop spared.
      const direct = { dst: subnet, notIn: n.bridge, notCtstate: 'RELATED,ESTABLISHED,DNAT', comment: `dockgate no direct access to ${n.name}` };
      // Standing in for raw's drop, it is logged as that one was.
      forward.push(...(hasRaw ? [] : logBefore(log, 'direct-access', direct)), rule({ ...direct, jump: 'DROP' }));
    }
  }
  for (const n of bridges) {
    // Nothing dockgate writes lets a flow cross an internal network's boundary, so it has no
    // replies to let back either.
    if (n.internal) continue;
    forward.push(rule({ out: n.bridge, ctstate: 'RELATED,ESTABLISHED', comment: `dockgate replies into ${n.name}`, jump: 'ACCEPT' }));
    forward.push(rule({ in: n.bridge, ctstate: 'RELATED,ESTABLISHED', comment: `dockgate replies from ${n.name}`, jump: 'ACCEPT' }));
  }
  for (const n of bridges) {
    forward.push(rule({ in: n.bridge, out: n.bridge, comment: `dockgate inside ${n.name}`, jump: 'ACCEPT' }));
  }
  for (const a of bridges) {
    for (const b of bridges) {
      if (a === b) continue;
      // A published (DNATed) port stays reachable from other networks; direct traffic does not.
      const isolate = { in: a.bridge, out: b.bridge, notCtstate: 'DNAT', comment: `dockgate isolate ${a.name} from ${b.name}` };
      forward.push(...logBefore(log, 'isolation', isolate), rule({ ...isolate, jump: 'DROP' }));
    }
  }
  forward.push(rule({ comment: C.JUMP_COMMENT, jump: C.CONTAINERS }));
  for (const n of bridges) {
    // New flows only: what else reaches here from a container (invalid packets) is no attempt to go out.
    forward.push(...logBefore(log, 'egress-denied', { in: n.bridge, ctstate: 'NEW', comment: `dockgate fail closed from ${n.name}` }));
    forward.push(rule({ in: n.bridge, comment: `dockgate fail closed from ${n.name}`, jump: 'DROP' }));
    forward.push(...logBefore(log, 'direct-access', { out: n.bridge, ctstate: 'NEW', comment: `dockgate fail closed into ${n.name}` }));
    forward.push(rule({ out: n.bridge, comment: `dockgate fail closed into ${n.name}`, jump: 'DROP' }));
  }
  // Whatever is still here touches no managed bridge. Linux forwards by the interface a packet
  // arrives on, so the forwarding dockgate turns on for an uplink (and leaves on once the default
  // route has moved away) would route it to any other interface, a LAN or a VPN, whatever the
  // admin's FORWARD policy (Debian's is ACCEPT). On a host that was no router (all.forwarding=0)
  // every such flow exists only because of dockgate: no list of interfaces, so a former uplink
  // and a restart are covered too. Flows already established when the guard appeared go on.
  if (adminRouting !== undefined && !adminRouting.includes(family)) {
    forward.push(rule({ notCtstate: 'RELATED,ESTABLISHED', comment: 'dockgate no routing between host interfaces', jump: 'DROP' }));
  }

  const postrouting: string[] = [];
  const raw: string[] = [];
  for (const n of bridges) {
    for (const subnet of family === 4 ? n.subnets : n.subnets6) {
      // A global IPv6 subnet is routed as it is (the upstream router must know the route);
      // masquerading it would hide every container behind the host for nothing.
      const masquerade = masqueraded(n, subnet);
      // Replies to a masqueraded subnet reach raw addressed to the host (conntrack undoes the
      // masquerade after raw), and an internal network has no flows out: raw drops direct access
      // before conntrack spends an entry on it. A routed subnet's drop is in FORWARD, above.
      if (hasRaw && (masquerade || n.internal)) {
        const direct = { dst: subnet, notIn: n.bridge, comment: `dockgate no direct access to ${n.name}` };
        raw.push(...logBefore(log, 'direct-access', direct), rule({ ...direct, jump: 'DROP' }));
      }
      if (n.internal) continue;
      if (masquerade) postrouting.push(rule({ src: subnet, notOut: n.bridge, comment: `dockgate egress of ${n.name}`, jump: 'MASQUERADE' }));
      // Hairpin: a container reaching a published port of its own network must see replies come
      // back through the host, not straight from the peer.
      postrouting.push(
        rule({ src: subnet, out: n.bridge, ctstate: 'DNAT', comment: `dockgate hairpin in ${n.name}`, jump: 'MASQUERADE' }),
      );
    }
    if (n.internal || family === 6) continue;
    // Ports published on 127.0.0.1 in dnat mode are DNATed out of the loopback range.
    postrouting.push(rule({ src: '127.0.0.0/8', out: n.bridge, comment: `dockgate localhost into ${n.name}`, jump: 'MASQUERADE' }));
  }
  // DNAT happens before the routing code's martian check, so without this a neighbour (or a
  // container, with route_localnet on) could reach ports published on 127.0.0.1. IPv6 has no
  // route_localnet and [::1] is never DNATed, so it needs no such rule.
  // Without raw, LOOPBACK_GUARD stands in for it at the top of DOCKGATE-INPUT and -PREROUTING.
  if (family === 4) raw.push(rule({ ...LOOPBACK_GUARD, jump: 'DROP' }));

  return [
    { table: 'filter', name: C.FORWARD, kind: 'ordered', rules: forward },
    { table: 'nat', name: C.POSTROUTING, kind: 'ordered', rules: postrouting },
    ...(hasRaw ? [{ table: 'raw', name: C.RAW, kind: 'ordered', rules: raw } satisfies ChainPlan] : []),
  ];
}

/**
 * 127.0.0.0/8 arriving on any interface but lo (CVE-2020-8558: route_localnet is on for bridges
 * that carry a 127.0.0.1 dnat port). Where the kernel has no raw table, the same match RETURNs at
 * the top of DOCKGATE-PREROUTING, so that dockgate DNATs none of it, and DROPs at the top of
 * DOCKGATE-INPUT, where what is not DNATed would reach the host's loopback services: every packet
 * raw would have dropped meets one of the two, since a DNATed one is by dockgate's rules only.
 */
const LOOPBACK_GUARD = { dst: '127.0.0.0/8', notIn: 'lo', comment: 'dockgate loopback only from lo' } as const;

type ParentKey = 'openings' | 'containers' | 'dnat' | 'drops';

/** One container's rules in one family. */
interface FamilyPart {
  /** The container's lines in its shard of the shared set chains (its accepts, DNATs and egress). */
  jumps: Array<{ parent: ParentKey; line: string }>;
  /** Lines that keep this container (egress off) from reaching published ports through the host. */
  guards: string[];
}

/** A set chain (jumps only) and its non-empty shards (containers' lines), see `shardOf`. */
class Shards {
  readonly #lines = new Map<string, string[]>();
  constructor(
    readonly table: ChainPlan['table'],
    readonly name: string,
  ) {}
  add(shard: string, line: string): void {
    const lines = this.#lines.get(shard);
    if (lines) lines.push(line);
    else this.#lines.set(shard, [line]);
  }
  chains(): ChainPlan[] {
    const shards = [...this.#lines.keys()].sort();
    const names = shards.map((s) => C.shardChain(this.name, s));
    return [
      { table: this.table, name: this.name, kind: 'set', rules: names.map((n) => rule({ comment: C.JUMP_COMMENT, jump: n })) },
      ...shards.map((s, i): ChainPlan => ({ table: this.table, name: names[i]!, kind: 'set', rules: this.#lines.get(s)! })),
    ];
  }
}

/** One container's share of the plan; what the memo keeps. */
interface ContainerPart {
  plan: ContainerPlan;
  families: Record<Family, FamilyPart>;
}

/**
 * Remembers each container's part between plans, keyed by everything it depends on. Purely an
 * optimisation: with or without it the plan is the same, but at thousands of containers a
 * change to one no longer re-renders all the others.
 */
export class PlanCache {
  readonly #parts = new Map<string, { key: string; part: ContainerPart }>();
  readonly #policies = new Map<string, { key: string; parsed: LabelReading }>();
  get(id: string, key: string): ContainerPart | undefined {
    const hit = this.#parts.get(id);
    return hit?.key === key ? hit.part : undefined;
  }
  set(id: string, key: string, part: ContainerPart): void {
    this.#parts.set(id, { key, part });
  }
  parsed(id: string, key: string, parse: () => LabelReading): LabelReading {
    const hit = this.#policies.get(id);
    if (hit?.key === key) return hit.parsed;
    const parsed = parse();
    this.#policies.set(id, { key, parsed });
    return parsed;
  }
  /** Drops containers that are gone, so a long churn does not grow memory. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#parts.keys()) if (!ids.has(id)) this.#parts.delete(id);
    for (const id of this.#policies.keys()) if (!ids.has(id)) this.#policies.delete(id);
  }
  get size(): number {
    return this.#parts.size;
  }
}

function containerPart(
  facts: ContainerFacts,
  parsed: LabelReading,
  input: PlanInput,
  ctx: ResolveContext,
  families: readonly Family[],
): ContainerPart {
  const note = containerComment(facts);
  const empty = (): Record<Family, FamilyPart> => ({ 4: { jumps: [], guards: [] }, 6: { jumps: [], guards: [] } });
  const imageWarning = describeImageLabels(facts.image, parsed.imageLabels);
  const fromImage = imageWarning === undefined ? [] : [imageWarning];
  if (!parsed.ok) {
    // Fail closed: a container with any bad label gets nothing, not even egress.
    const part: ContainerPart = {
      plan: {
        id: facts.id,
        name: facts.name,
        mode: input.defaults.mode,
        egress: false,
        openings: [],
        errors: parsed.errors,
        warnings: [...fromImage, ...networkWarnings(facts, undefined, ctx)],
        imageLabels: parsed.imageLabels,
      },
      families: empty(),
    };
    for (const f of families) {
      part.families[f].guards = guardLines(facts, ctx.networks, note, f);
      if (input.dropLog) for (const line of containerInputLines(input.dropLog, facts, undefined, [], f, note)) part.families[f].jumps.push({ parent: 'drops', line });
    }
    return part;
  }
  const { policy } = parsed;
  if (isHostNetwork(facts)) {
    // Its servers are sockets on the host itself: INPUT accepts, and no address of its own to
    // DNAT to, guard or lead out.
    const { openings, warnings, errors } = resolveHostNetwork(facts, policy, input.hostSockets, input.labelPrefix, families);
    const part: ContainerPart = {
      plan: { id: facts.id, name: facts.name, mode: 'proxy', egress: true, openings, errors, warnings: [...fromImage, ...warnings], imageLabels: parsed.imageLabels, hostNetwork: true },
      families: empty(),
    };
    for (const f of families) {
      const mine = openings.filter((o) => o.family === f);
      for (const line of proxyRules(mine, note)) part.families[f].jumps.push({ parent: 'openings', line });
      if (input.dropLog) for (const line of containerInputLines(input.dropLog, facts, policy, openings, f, note)) part.families[f].jumps.push({ parent: 'drops', line });
    }
    return part;
  }
  const { openings, warnings, errors } = resolveAll(facts, policy, ctx, families);
  const part: ContainerPart = {
    plan: {
      id: facts.id,
      name: facts.name,
      mode: policy.mode,
      egress: policy.egress.kind !== 'none',
      ...(policy.egress.kind === 'list' ? { egressTo: policy.egress.entries } : {}),
      openings,
      errors,
      warnings: [...fromImage, ...networkWarnings(facts, policy, ctx), ...warnings, ...(ctx.claimNotes ?? []), ...namesWithoutIpset(policy.egress, input.egressNames ?? true)],
      imageLabels: parsed.imageLabels,
    },
    families: empty(),
  };
  for (const family of families) {
    const fp = part.families[family];
    const mine = openings.filter((o) => o.family === family);
    // An allow-list denies everything it does not name, the host's published ports included.
    fp.guards = policy.egress.kind === 'all' ? [] : guardLines(facts, ctx.networks, note, family);
    // A container's rules go straight into its shard of the shared set chains, one line each:
    // every one of them is an ACCEPT, or a DNAT to this container on a host port only it owns, so
    // their order never matters, and each line carries the container's comment, so a change adds
    // and deletes exactly its own lines. No chain per container: on the nf_tables backend every
    // chain costs (10,007 chains at 5,000 containers made a full write ~8x slower).
    const add = (rules: string[], parents: ParentKey[]): void => {
      for (const parent of parents) for (const line of rules) fp.jumps.push({ parent, line });
    };
    add(proxyRules(mine, note), ['openings']);
    add(forwardRules(facts, mine, policy.egress, input.resolvers ?? [], input.egressNames ?? true, ctx.networks, note, family), ['containers']);
    add(dnatRules(mine, note), ['dnat']);
    if (input.dropLog) add(containerInputLines(input.dropLog, facts, policy, openings, family, note), ['drops']);
  }
  return part;
}

/**
 * A container without egress may not leave its networks through the host either: its packets
 * to the host's addresses skip dockgate's accepts (proxy) and DNATs (dnat), so only the admin's
 * own rules decide about them, as for any other source.
 */
function guardLines(facts: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>, note: string, family: Family): string[] {
  const own = servingAttachments(facts, networks, family).map(({ attachment, network }) =>
    rule({ src: addressOf(attachment, family), in: network.bridge, comment: note, jump: 'RETURN' }),
  );
  return family === 6 ? [...own, ...linkLocalGuards(facts, networks, note)] : own;
}

/**
 * Besides its global address, a container sends IPv6 from its link-local address on every
 * network, IPv4-only ones included, and the host answers there on every address of the bridge
 * (fe80::…%eth0 reaches a proxy port bound to ::). Anti-spoofing (antispoof.ts) lets it send from
 * the one link-local address its MAC gives, so that one is guarded; without a MAC, every
 * link-local source on that bridge is.
 */
function linkLocalGuards(facts: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>, note: string): string[] {
  const byNetwork = new Map([...servingAttachments(facts, networks, 4), ...servingAttachments(facts, networks, 6)].map((x) => [x.attachment.networkId, x]));
  return [...byNetwork.values()].map(({ attachment, network }) => {
    const ll = attachment.mac === undefined ? undefined : linkLocalOf(attachment.mac);
    return rule({ src: ll ?? 'fe80::/10', in: network.bridge, comment: note, jump: 'RETURN' });
  });
}

export function buildRuleSet(input: PlanInput, cache?: PlanCache): RuleSet {
  const networkById = new Map(input.networks.map((n) => [n.id, n]));
  const families: Family[] = input.ipv6 === false ? [4] : [4, 6];
  const masquerade6 = input.ipv6Masquerade ?? 'ula';
  const parents = (): Record<ParentKey, Shards> => ({
    openings: new Shards('filter', C.OPENINGS),
    containers: new Shards('filter', C.CONTAINERS),
    dnat: new Shards('nat', C.DNAT),
    drops: new Shards('filter', C.DROPS),
  });
  const acc = Object.fromEntries(families.map((f) => [f, { parents: parents(), guards: [] as string[] }])) as Record<
    Family,
    { parents: Record<ParentKey, Shards>; guards: string[] }
  >;
  const plans: ContainerPlan[] = [];
  const trustImageLabels = input.trustImageLabels ?? false;
  const context = cache ? JSON.stringify([input.labelPrefix, input.defaults, trustImageLabels, input.networks, input.otherNetworks ?? [], families, input.resolvers ?? [], input.egressNames ?? true, input.dropLog ?? null]) : '';

  const containers = [...input.containers].sort((a, b) => byText(a.name, b.name) || byText(a.id, b.id));
  const parse = (facts: ContainerFacts) => readLabels(facts, { prefix: input.labelPrefix, defaults: input.defaults, trustImageLabels });
  const labelContext = cache ? JSON.stringify([input.labelPrefix, input.defaults, trustImageLabels]) : '';
  const parsedAll = containers.map((facts) => ({
    facts,
    parsed: cache ? cache.parsed(facts.id, labelContext + JSON.stringify([facts.labels, facts.image]), () => parse(facts)) : parse(facts),
  }));
  const claims = judgeClaims({
    // A host-network container has no port mapping to claim: its label only opens its own sockets.
    containers: parsedAll.map(({ facts, parsed }) => ({ facts, policy: parsed.ok && !isHostNetwork(facts) ? parsed.policy : undefined })),
    claimable: input.claimable ?? DEFAULT_CLAIMABLE,
    listeners: input.listeners,
    granted: input.granted ?? [],
  });
  const otherById = new Map((input.otherNetworks ?? []).map((n) => [n.id, n]));

  for (const { facts, parsed } of parsedAll) {
    const mine = claims.refused.get(facts.id);
    const notes = claims.notes.get(facts.id);
    const sockets = isHostNetwork(facts) ? (socketsOf(facts.id, input.hostSockets) ?? null) : [];
    const key = cache ? context + JSON.stringify(facts) + JSON.stringify([mine ? [...mine] : [], notes ?? [], sockets]) : '';
    let part = cache?.get(facts.id, key);
    if (!part) {
      const ctx: ResolveContext = { networks: networkById, otherNetworks: otherById, labelPrefix: input.labelPrefix, refusedClaims: mine, claimNotes: notes };
      part = containerPart(facts, parsed, input, ctx, families);
      cache?.set(facts.id, key, part);
    }
    plans.push(part.plan);
    for (const f of families) {
      const a = acc[f];
      const fp = part.families[f];
      a.guards.push(...fp.guards);
      const shard = C.shardOf(facts.id);
      for (const j of fp.jumps) a.parents[j.parent].add(shard, j.line);
    }
  }
  cache?.retain(new Set(containers.map((c) => c.id)));

  // Internal networks first: nothing that enters from one is accepted or DNATed by dockgate.
  const internalGuards = [...input.networks]
    .filter((n) => n.internal)
    .sort((a, b) => byText(a.bridge, b.bridge))
    .map((n) => rule({ in: n.bridge, comment: `dockgate internal ${n.name}`, jump: 'RETURN' }));
  const rulesOf = (f: Family): FamilyRules => {
    const a = acc[f];
    const hasRaw = !(input.rawMissing ?? []).includes(f);
    const loopback = (jump: 'DROP' | 'RETURN'): string[] => (f === 4 && !hasRaw ? [rule({ ...LOOPBACK_GUARD, jump })] : []);
    const guarded = (next: string): string[] => [...internalGuards, ...a.guards, rule({ comment: C.JUMP_COMMENT, jump: next })];
    return {
      chains: [
        // Created when missing, never edited: its rules are the admin's.
        { table: 'filter', name: C.USER, kind: 'ordered', rules: [] },
        {
          table: 'filter',
          name: C.INPUT,
          kind: 'ordered',
          rules: [
            ...loopback('DROP'),
            rule({ comment: C.JUMP_COMMENT, jump: C.USER }),
            ...guarded(C.OPENINGS),
            // Last: only what no opening accepted returns here.
            ...(input.dropLog ? [rule({ comment: C.JUMP_COMMENT, jump: C.DROPS })] : []),
          ],
        },
        ...a.parents.openings.chains(),
        ...(input.dropLog ? a.parents.drops.chains() : []),
        ...a.parents.containers.chains(),
        { table: 'nat', name: C.PREROUTING, kind: 'ordered', rules: [...loopback('RETURN'), ...guarded(C.DNAT)] },
        ...a.parents.dnat.chains(),
        { table: 'nat', name: C.OUTPUT, kind: 'ordered', rules: [rule({ comment: C.JUMP_COMMENT, jump: C.DNAT })] },
        ...networkChains(input.networks, f, masquerade6, input.adminRouting, input.dropLog, hasRaw),
      ],
      jumps: hasRaw ? [...C.JUMPS] : C.JUMPS.filter((j) => j.table !== 'raw'),
    };
  };
  const v4 = rulesOf(4);
  return { ...v4, ...(families.includes(6) ? { ipv6: rulesOf(6) } : {}), containers: plans, bridge: { ...bridgeFilter(containers, networkById, input.bridgePorts ?? [], containerComment), ...(input.dropLog ? { log: input.dropLog } : {}) }, granted: claims.granted, ...egressSetsOf(plans, families, input.egressNames ?? true) };
}

/** A warning for the names of a list on a host without ipset: they allow nothing. */
function namesWithoutIpset(egress: EgressPolicy, names: boolean): string[] {
  if (names || egress.kind !== 'list') return [];
  const listed = egress.entries.flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : []));
  return listed.length === 0 ? [] : [`egress names ${[...new Set(listed)].join(', ')} allow nothing: ipset is not installed (apt-get install ipset)`];
}

/** The ipsets of the plan's DNS names; absent when there are none, as in every plan without names. */
function egressSetsOf(plans: readonly ContainerPlan[], families: readonly Family[], names: boolean): Pick<RuleSet, 'egressSets'> {
  const sets = names ? planSets(plans, families) : [];
  return sets.length > 0 ? { egressSets: sets } : {};
}

/** The rules of one family as a RuleSet of its own, for the per-family dataplane and renderers. */
export function familyRuleSet(plan: RuleSet, family: Family): RuleSet | undefined {
  if (family === 4) return { chains: plan.chains, jumps: plan.jumps, containers: plan.containers };
  return plan.ipv6 ? { chains: plan.ipv6.chains, jumps: plan.ipv6.jumps, containers: plan.containers } : undefined;
}
