// Turns a container's parsed policy plus what Docker reports into concrete openings: which host
// address/port leads to which container address/port, from which sources. A label never opens
// more than its own container owns: in proxy mode only its own -p bindings, in dnat mode its
// own bindings or a host port it claimed and won (see ownership.ts).
import { byText } from './order.js';
import type {
  ContainerFacts,
  ContainerPolicy,
  LabelError,
  NetworkAttachment,
  NetworkFacts,
  Opening,
  OtherNetwork,
  PortBinding,
  PortSpec,
  Protocol,
} from '../model/types.js';

/**
 * Each opening becomes one rule per allowed source. Two labels of under 1 KiB each can ask for a
 * hundred thousand rules (1024 ports × 100 sources), which would stall every write for seconds:
 * above this, the container gets nothing and a warning instead.
 */
export const MAX_RULES_PER_CONTAINER = 4096;

export interface Resolved {
  openings: Opening[];
  warnings: string[];
  /** Ownership refusals: reported like label errors, and the container gets no openings. */
  errors: LabelError[];
}

/** Attachments on managed bridges that have an IPv4 address, in a stable order. */
export function bridgeAttachments(
  facts: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
): Array<{ attachment: NetworkAttachment; network: NetworkFacts }> {
  return facts.networks
    .filter((a) => a.ipv4 !== '' && networks.has(a.networkId))
    .map((a) => ({ attachment: a, network: networks.get(a.networkId)! }))
    .sort((x, y) => byText(x.network.name, y.network.name));
}

/** Attachments through which a container may be served and may leave: never an internal network. */
export function servingAttachments(
  facts: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
): Array<{ attachment: NetworkAttachment; network: NetworkFacts }> {
  return bridgeAttachments(facts, networks).filter((x) => !x.network.internal);
}

export const isAnyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';
const isV6 = (ip: string): boolean => ip.includes(':');

function describe(port: number, proto: Protocol): string {
  return `${port}/${proto}`;
}

/** A label entry as the admin wrote it (canonically), for messages. */
export function describeSpec(spec: PortSpec): string {
  const range = (a: number, b: number): string => (a === b ? `${a}` : `${a}-${b}`);
  const proto = spec.protocol === 'tcp' ? '' : `/${spec.protocol}`;
  if (!spec.host) return `${range(spec.start, spec.end)}${proto}`;
  const ip = spec.host.ip === '' ? '' : isV6(spec.host.ip) ? `[${spec.host.ip}]:` : `${spec.host.ip}:`;
  return `${ip}${range(spec.host.start, spec.host.end)}:${range(spec.start, spec.end)}${proto}`;
}

/** One host port a mapping entry asks for, before ownership is decided. */
export interface MappingPair {
  spec: PortSpec;
  protocol: Protocol;
  /** '' for every local address. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
}

export function mappingPairs(spec: PortSpec): MappingPair[] {
  if (!spec.host) return [];
  // Equal-length ranges map port by port; a host range onto one container port maps every host
  // port to it (the label grammar allows nothing else).
  const single = spec.start === spec.end;
  const out: MappingPair[] = [];
  for (let i = 0; i <= spec.host.end - spec.host.start; i++) {
    out.push({ spec, protocol: spec.protocol, hostIp: spec.host.ip, hostPort: spec.host.start + i, containerPort: single ? spec.start : spec.start + i });
  }
  return out;
}

/**
 * The container's own binding that a mapping pair names, if any, and the address the opening
 * gets: the narrower of the label's and the binding's (a label may narrow 0.0.0.0 to one
 * address, never widen one address to all).
 */
export function matchBinding(pair: MappingPair, bindings: readonly PortBinding[]): { binding: PortBinding; hostIp: string } | undefined {
  for (const b of bindings) {
    if (b.protocol !== pair.protocol || b.hostPort !== pair.hostPort || b.containerPort !== pair.containerPort) continue;
    if (pair.hostIp !== '' && isV6(pair.hostIp) !== isV6(b.hostIp)) continue;
    if (pair.hostIp === '') return { binding: b, hostIp: b.hostIp };
    if (isAnyAddress(b.hostIp) || b.hostIp === pair.hostIp) return { binding: b, hostIp: pair.hostIp };
  }
  return undefined;
}

/** Everything the resolver needs to know beyond the container itself. */
export interface ResolveContext {
  networks: ReadonlyMap<string, NetworkFacts>;
  otherNetworks?: ReadonlyMap<string, OtherNetwork>;
  labelPrefix: string;
  /** Why a claimed host port (dnat, no -p) was refused, by `protocol|hostIp|hostPort`; absent = granted. */
  refusedClaims?: ReadonlyMap<string, string>;
}

export const claimKey = (p: { protocol: Protocol; hostIp: string; hostPort: number }): string => `${p.protocol}|${p.hostIp}|${p.hostPort}`;

/** Warnings about networks dockgate does not firewall or does not serve through. */
export function networkWarnings(facts: ContainerFacts, policy: ContainerPolicy | undefined, ctx: ResolveContext): string[] {
  const warnings: string[] = [];
  for (const a of facts.networks) {
    const other = ctx.otherNetworks?.get(a.networkId);
    if (!other) continue;
    if (other.driver === 'host') {
      if (policy?.declared) warnings.push(`uses the host network: its ports are the host's own, dockgate opens nothing for it`);
    } else {
      warnings.push(`attached to network ${other.name} (driver ${other.driver}), which dockgate does not firewall`);
    }
  }
  const onBridges = bridgeAttachments(facts, ctx.networks);
  const internal = onBridges.filter((x) => x.network.internal).map((x) => x.network.name);
  if (internal.length > 0 && policy && (policy.declared || policy.egress)) {
    const serving = onBridges.filter((x) => !x.network.internal).map((x) => x.network.name);
    warnings.push(
      serving.length > 0
        ? `on internal network ${internal.join(', ')}: nothing crosses it through dockgate; served and egress through ${serving.join(', ')} only`
        : `only on internal network ${internal.join(', ')}: nothing crosses it through dockgate, so no openings and no egress`,
    );
  }
  return warnings;
}

export function resolveOpenings(facts: ContainerFacts, policy: ContainerPolicy, ctx: ResolveContext): Resolved {
  const warnings: string[] = [];
  const errors: LabelError[] = [];
  const labelPrefix = ctx.labelPrefix;
  const portsLabel = `${labelPrefix}.ports`;
  const published = facts.ports.filter((b) => b.hostPort > 0);
  const nothing = (): Resolved => ({ openings: [], warnings, errors });

  if (!policy.declared) {
    const list = [...new Set(published.map((b) => describe(b.containerPort, b.protocol)))];
    if (list.length > 0) {
      warnings.push(`publishes ${list.join(', ')} but has no ${portsLabel} label: nothing opened`);
    }
    return nothing();
  }

  const sources = policy.from.filter((c) => c.family === 4).map((c) => c.text);
  if (sources.length === 0) {
    warnings.push(`no IPv4 source in ${labelPrefix}.from (IPv6 is not handled yet): nothing opened`);
    return nothing();
  }
  // 0.0.0.0/0 means everyone: render no -s at all rather than a match that costs per packet.
  const sourceList = sources.includes('0.0.0.0/0') ? [''] : sources;

  const serving = servingAttachments(facts, ctx.networks);
  const primary = serving[0];
  const containerIp = primary?.attachment.ipv4 ?? '';
  if (policy.ports.length > 0 && containerIp === '') {
    warnings.push(
      bridgeAttachments(facts, ctx.networks).length > 0
        ? 'only on internal networks: nothing opened'
        : `${policy.mode === 'dnat' ? 'dnat mode needs' : 'needs'} an IPv4 address on a Docker bridge network: nothing opened`,
    );
    return nothing();
  }

  const pairs: PortBinding[] = [];
  for (const spec of policy.ports) {
    const entry = JSON.stringify(describeSpec(spec));
    if (spec.host) {
      const unmatched: number[] = [];
      for (const pair of mappingPairs(spec)) {
        const hit = matchBinding(pair, published);
        if (hit) {
          pairs.push({ ...hit.binding, hostIp: hit.hostIp });
          continue;
        }
        if (policy.mode === 'proxy') {
          unmatched.push(pair.hostPort);
          continue;
        }
        const refused = ctx.refusedClaims?.get(claimKey(pair));
        if (refused !== undefined) {
          errors.push({ label: portsLabel, value: describeSpec(spec), reason: refused });
          continue;
        }
        pairs.push({ containerPort: pair.containerPort, protocol: pair.protocol, hostIp: pair.hostIp, hostPort: pair.hostPort });
      }
      if (unmatched.length > 0) {
        const ports = unmatched.length > 3 ? `${unmatched.length} host ports` : `host port ${unmatched.join(', ')}`;
        warnings.push(
          `${portsLabel} entry ${entry}: ${ports} matches none of this container's -p bindings; proxy mode opens only what Docker published for it: nothing opened for it`,
        );
      }
      continue;
    }
    for (let i = 0; i <= spec.end - spec.start; i++) {
      const containerPort = spec.start + i;
      const bound = published.filter((b) => b.containerPort === containerPort && b.protocol === spec.protocol);
      if (bound.length === 0) {
        warnings.push(
          `${portsLabel} entry ${entry}: ${describe(containerPort, spec.protocol)} is not published with -p: nothing opened for it` +
            (policy.mode === 'dnat' ? ' (HOSTPORT:PORT in the label claims a host port through dockgate)' : ''),
        );
      }
      for (const binding of bound) pairs.push(binding);
    }
  }
  if (errors.length > 0) return nothing();

  const openings: Opening[] = [];
  const seen = new Set<string>();
  let skippedV6 = false;
  for (const binding of pairs) {
    // Docker reports every -p twice on dual-stack hosts ('0.0.0.0' and '::'); IPv6 has no rules yet.
    if (isV6(binding.hostIp)) {
      skippedV6 ||= binding.hostIp !== '::';
      continue;
    }
    const hostIp = isAnyAddress(binding.hostIp) ? '' : binding.hostIp;
    const key = `${binding.protocol}|${hostIp}|${binding.hostPort}|${binding.containerPort}`;
    if (seen.has(key)) continue;
    seen.add(key);
    openings.push({
      protocol: binding.protocol,
      hostIp,
      hostPort: binding.hostPort,
      containerIp,
      containerPort: binding.containerPort,
      mode: policy.mode,
      sources: sourceList,
    });
  }
  if (skippedV6) warnings.push('IPv6 host addresses are not handled yet: those bindings were skipped');
  const rules = openings.length * sourceList.length;
  if (rules > MAX_RULES_PER_CONTAINER) {
    warnings.push(
      `${openings.length} ports × ${sourceList.length} sources would need ${rules} rules; at most ${MAX_RULES_PER_CONTAINER} per container: nothing opened`,
    );
    return nothing();
  }
  return { openings, warnings, errors };
}
