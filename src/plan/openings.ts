// Turns a container's parsed policy plus what Docker reports into concrete openings: which host
// address/port leads to which container address/port, from which sources. A label never opens
// more than its own container owns: in proxy mode only its own -p bindings, in dnat mode its
// own bindings or a host port it claimed and won (see ownership.ts).
import { byText } from '../util/compare.js';
import type {
  ContainerFacts,
  Family,
  ContainerPolicy,
  DnatOpening,
  LabelError,
  NetworkAttachment,
  NetworkFacts,
  Opening,
  OtherNetwork,
  PortBinding,
  PortSpec,
  Protocol,
  ProxyOpening,
} from '../model/types.js';
import { ANY_HOST, ANY_SOURCE, everyone, hostAddress, sourceCount, sourceList } from '../model/format.js';
import { bypassesHostFirewall, describeUnfirewalled, unfirewalledContainer } from './unfirewalled.js';
import { describeSpec, inFamily, isAnyAddress, mappingPairs, matchBinding } from './mappings.js';

/**
 * Each opening becomes one rule per allowed source. Two labels of under 1 KiB each can ask for a
 * hundred thousand rules (1024 ports × 100 sources), which would stall every write for seconds:
 * above this, the container gets nothing and a warning instead.
 */
export const MAX_RULES_PER_CONTAINER = 4096;

export interface Resolved {
  openings: Opening[];
  warnings: string[];
  /**
   * Reported like label errors. An ownership refusal (`closes: 'entry'`) costs only its own
   * entry; any other error leaves the container without openings.
   */
  errors: LabelError[];
}

/** The container's address of `family` on an attachment; undefined when it has none. */
export const addressOf = (a: NetworkAttachment, family: Family): string | undefined => (family === 4 ? a.ipv4 : a.ipv6);

/** An attachment on a managed bridge, with the container's address of the family asked for there. */
export interface BridgeAttachment {
  attachment: NetworkAttachment;
  network: NetworkFacts;
  address: string;
}

/** Attachments on managed bridges that have an address of `family`, in a stable order. */
export function bridgeAttachments(
  facts: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
  family: Family = 4,
): BridgeAttachment[] {
  const out: BridgeAttachment[] = [];
  for (const a of facts.networks) {
    const address = addressOf(a, family);
    const network = networks.get(a.networkId);
    if (address !== undefined && network !== undefined) out.push({ attachment: a, network, address });
  }
  return out.sort((x, y) => byText(x.network.name, y.network.name));
}

/** Attachments through which a container may be served and may leave: never an internal network. */
export function servingAttachments(
  facts: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
  family: Family = 4,
): BridgeAttachment[] {
  return bridgeAttachments(facts, networks, family).filter((x) => !x.network.internal);
}

function describe(port: number, proto: Protocol): string {
  return `${port}/${proto}`;
}

/** Everything the resolver needs to know beyond the container itself. */
export interface ResolveContext {
  networks: ReadonlyMap<string, NetworkFacts>;
  otherNetworks?: ReadonlyMap<string, OtherNetwork>;
  labelPrefix: string;
  /** Why a claimed host port (dnat, no -p) was refused, by `protocol|hostIp|hostPort`; absent = granted. */
  refusedClaims?: ReadonlyMap<string, string>;
  /** What the container hears about claims it keeps against a host listener (see ownership.ts). */
  claimNotes?: readonly string[];
}

export const claimKey = (p: { protocol: Protocol; hostIp: string | undefined; hostPort: number }): string => `${p.protocol}|${p.hostIp ?? '*'}|${p.hostPort}`;

/** Warnings about networks dockgate does not firewall or does not serve through. */
export function networkWarnings(facts: ContainerFacts, policy: ContainerPolicy | undefined, ctx: ResolveContext): string[] {
  const warnings: string[] = [];
  for (const a of facts.networks) {
    const other = ctx.otherNetworks?.get(a.networkId);
    if (!other) continue;
    if (other.driver === 'host') {
      if (policy?.declared) warnings.push(`uses the host network: its ports are the host's own, dockgate opens nothing for it`);
    } else if (!bypassesHostFirewall(other.driver)) {
      warnings.push(`attached to network ${other.name} (driver ${other.driver}), which dockgate does not firewall`);
    }
  }
  const bypassing = ctx.otherNetworks && unfirewalledContainer(facts, ctx.otherNetworks, ctx.labelPrefix);
  if (bypassing) warnings.push(describeUnfirewalled(bypassing));
  const onBridges = bridgeAttachments(facts, ctx.networks);
  const internal = onBridges.filter((x) => x.network.internal).map((x) => x.network.name);
  if (internal.length > 0 && policy && (policy.declared || policy.egress.kind !== 'none')) {
    const serving = onBridges.filter((x) => !x.network.internal).map((x) => x.network.name);
    warnings.push(
      serving.length > 0
        ? `on internal network ${internal.join(', ')}: nothing crosses it through dockgate; served and egress through ${serving.join(', ')} only`
        : `only on internal network ${internal.join(', ')}: nothing crosses it through dockgate, so no openings and no egress`,
    );
  }
  return warnings;
}

/** What resolving one family says besides its openings, collected as it goes. */
interface Notes {
  warnings: string[];
  errors: LabelError[];
}

/** The bindings of `family` a mapping entry (`[HOSTIP:]HOSTPORT:PORT`) leads to: -p bindings it names, or host ports it won. */
function mappingBindings(spec: PortSpec, policy: ContainerPolicy, ctx: ResolveContext, family: Family, published: { all: PortBinding[]; mine: PortBinding[] }, notes: Notes): PortBinding[] {
  const portsLabel = `${ctx.labelPrefix}.ports`;
  const out: PortBinding[] = [];
  const unmatched: number[] = [];
  for (const pair of mappingPairs(spec)) {
    const hit = matchBinding(pair, published.mine);
    if (hit) {
      out.push({ ...hit.binding, hostIp: hit.hostIp });
      continue;
    }
    if (policy.mode === 'proxy') {
      // Matched by a binding of the other family, it is no news that this one has none.
      if (!matchBinding(pair, published.all)) unmatched.push(pair.hostPort);
      continue;
    }
    const refused = ctx.refusedClaims?.get(claimKey(pair));
    if (refused !== undefined) {
      // The entry was refused, not the container: its other openings stay, or a refusal
      // decided by someone else (a host process, another container) would close them too.
      notes.errors.push({ label: portsLabel, value: describeSpec(spec), reason: refused, closes: 'entry' });
      continue;
    }
    // As Docker spells every address of the family, so the opening is bound to every address.
    out.push({ containerPort: pair.containerPort, protocol: pair.protocol, hostIp: pair.hostIp ?? (family === 6 ? '::' : '0.0.0.0'), hostPort: pair.hostPort });
  }
  if (unmatched.length > 0) {
    const ports = unmatched.length > 3 ? `${unmatched.length} host ports` : `host port ${unmatched.join(', ')}`;
    notes.warnings.push(
      `${portsLabel} entry ${JSON.stringify(describeSpec(spec))}: ${ports} matches none of this container's -p bindings; proxy mode opens only what Docker published for it: nothing opened for it`,
    );
  }
  return out;
}

/** The bindings of `family` a container-port entry (`80`, `8000-8010/udp`) names: Docker's -p bindings of those ports. */
function portBindings(spec: PortSpec, policy: ContainerPolicy, ctx: ResolveContext, family: Family, published: { all: PortBinding[]; mine: PortBinding[] }, notes: Notes): PortBinding[] {
  const out: PortBinding[] = [];
  for (let i = 0; i <= spec.end - spec.start; i++) {
    const containerPort = spec.start + i;
    const matches = (b: PortBinding): boolean => b.containerPort === containerPort && b.protocol === spec.protocol;
    if (family === 4 && !published.all.some(matches)) {
      notes.warnings.push(
        `${ctx.labelPrefix}.ports entry ${JSON.stringify(describeSpec(spec))}: ${describe(containerPort, spec.protocol)} is not published with -p: nothing opened for it` +
          (policy.mode === 'dnat' ? ' (HOSTPORT:PORT in the label claims a host port through dockgate)' : ''),
      );
    }
    for (const binding of published.mine) if (matches(binding)) out.push(binding);
  }
  return out;
}

/**
 * IPv6 dnat: a port on [::1] cannot be DNATed (refused like a claim: only the entry, so whether
 * the container's other openings stay never depends on which of two refusals came first), and
 * nothing is DNATed to a container without an IPv6 address. Returns the bindings left.
 */
function ipv6Dnat(pairs: PortBinding[], containerIp: string | undefined, ctx: ResolveContext, notes: Notes): PortBinding[] {
  for (const loopback of pairs.filter((p) => p.hostIp === '::1')) {
    notes.errors.push({
      label: `${ctx.labelPrefix}.ports`,
      value: `[::1]:${loopback.hostPort}`,
      reason: 'a port on [::1] cannot be DNATed (IPv6 has no route_localnet); use dockgate.mode=proxy for ports published on [::1]',
      closes: 'entry',
    });
  }
  const left = pairs.filter((p) => p.hostIp !== '::1');
  if (left.length === 0 || containerIp !== undefined) return left;
  // No IPv6 on its networks: the port simply stays closed over IPv6. Worth a word only when an
  // IPv6 address was asked for by name; `::` and label entries without an address mean "wherever
  // it can be served", which on an IPv4-only network is IPv4.
  const named = left.find((p) => !isAnyAddress(p.hostIp));
  if (named) {
    notes.warnings.push(`dnat mode: [${named.hostIp}]:${named.hostPort} needs an IPv6 address on a Docker bridge network (create the network with --ipv6): not opened over IPv6`);
  }
  return [];
}

/** Where an opening's host port leads: its mode, and the container address that mode needs or has. */
type OpeningTarget = Pick<DnatOpening, 'mode' | 'containerIp'> | Pick<ProxyOpening, 'mode' | 'containerIp'>;

/** dnat needs the container's address; proxy carries it where the container has one. */
function targetOf(mode: ContainerPolicy['mode'], containerIp: string | undefined): OpeningTarget | undefined {
  if (mode === 'dnat') return containerIp === undefined ? undefined : { mode, containerIp };
  return containerIp === undefined ? { mode } : { mode, containerIp };
}

/** One opening per distinct binding (a plain entry and a mapping may name the same one). */
function openingsOf(pairs: readonly PortBinding[], family: Family, target: OpeningTarget, sources: Opening['sources']): Opening[] {
  const openings: Opening[] = [];
  const seen = new Set<string>();
  for (const binding of pairs) {
    const any = isAnyAddress(binding.hostIp);
    const key = `${binding.protocol}|${any ? '' : binding.hostIp}|${binding.hostPort}|${binding.containerPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    openings.push({ family, protocol: binding.protocol, hostIp: any ? ANY_HOST : hostAddress(binding.hostIp), hostPort: binding.hostPort, containerPort: binding.containerPort, sources, ...target });
  }
  return openings;
}

/**
 * The openings of one address family. `family` 6 opens the `::` and IPv6 bindings (docker-proxy
 * serves IPv6 clients of a plain -p too) from the IPv6 sources of `from`; an IPv4-only `from`
 * therefore closes IPv6 for the container, and the other way round.
 */
export function resolveOpenings(facts: ContainerFacts, policy: ContainerPolicy, ctx: ResolveContext, family: Family = 4): Resolved {
  const notes: Notes = { warnings: [], errors: [] };
  const { warnings } = notes;
  const all = facts.ports.filter((b) => b.hostPort > 0);
  const published = { all, mine: all.filter((b) => inFamily(b.hostIp, family)) };
  const nothing = (): Resolved => ({ openings: [], ...notes });
  const v = `IPv${family}`;

  if (!policy.declared) {
    const list = [...new Set(all.map((b) => describe(b.containerPort, b.protocol)))];
    if (list.length > 0) warnings.push(`publishes ${list.join(', ')} but has no ${ctx.labelPrefix}.ports label: nothing opened`);
    return nothing();
  }

  const serving = servingAttachments(facts, ctx.networks, family);
  const containerIp = serving[0]?.address;
  let pairs = policy.ports.flatMap((spec) =>
    !spec.host ? portBindings(spec, policy, ctx, family, published, notes) : inFamily(spec.host.ip, family) ? mappingBindings(spec, policy, ctx, family, published, notes) : [],
  );
  if (family === 4 && policy.ports.length > 0 && containerIp === undefined) {
    warnings.push(
      bridgeAttachments(facts, ctx.networks).length > 0
        ? 'only on internal networks: nothing opened'
        : `${policy.mode === 'dnat' ? 'dnat mode needs' : 'needs'} an IPv4 address on a Docker bridge network: nothing opened`,
    );
    return nothing();
  }
  if (family === 6 && policy.mode === 'dnat' && pairs.length > 0) pairs = ipv6Dnat(pairs, containerIp, ctx, notes);
  // A dnat target without an address has already said why above (and left no pairs).
  const target = targetOf(policy.mode, containerIp);
  if (pairs.length === 0 || target === undefined) return nothing();

  const sources = policy.from.filter((c) => c.family === family).map((c) => c.text);
  if (sources.length === 0) {
    warnings.push(`no ${v} source in ${ctx.labelPrefix}.from: nothing opened over ${v}`);
    return nothing();
  }
  // Everyone: render no -s at all rather than a match that costs per packet.
  const allowed = sources.includes(everyone(family)) ? ANY_SOURCE : sourceList(sources);
  return { openings: openingsOf(pairs, family, target, allowed), ...notes };
}

/** Both families, with the rule cap over their sum. */
export function resolveAll(facts: ContainerFacts, policy: ContainerPolicy, ctx: ResolveContext, families: readonly Family[]): Resolved {
  const all = families.map((f) => resolveOpenings(facts, policy, ctx, f));
  const warnings = [...new Set(all.flatMap((r) => r.warnings))];
  const errors = all.flatMap((r) => r.errors).filter((e, i, list) => list.findIndex((x) => x.reason === e.reason && x.value === e.value) === i);
  if (errors.some((e) => e.closes !== 'entry')) return { openings: [], warnings, errors };
  const openings = all.flatMap((r) => r.openings);
  const rules = openings.reduce((n, o) => n + sourceCount(o.sources), 0);
  if (rules > MAX_RULES_PER_CONTAINER) {
    warnings.push(`${openings.length} openings × their sources would need ${rules} rules; at most ${MAX_RULES_PER_CONTAINER} per container: nothing opened`);
    return { openings: [], warnings, errors };
  }
  return { openings, warnings, errors };
}
