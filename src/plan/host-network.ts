// A `--network host` container shares the host's network namespace: Docker publishes nothing for
// it (-p is discarded) and has no address of its own to DNAT to or to lead out, so its servers
// are plain sockets on the host's addresses. Its `dockgate.ports` opens INPUT for those sockets,
// under the rule every opening follows: a label opens only what its own container owns, here a
// socket one of its own processes listens on, never a port some other process serves. Which
// process holds which socket is the dataplane's finding (dataplane/host-sockets.ts); this stays pure.
import type { ContainerFacts, ContainerPolicy, Family, HostSocket, Opening, PortSpec, Protocol } from '../model/types.js';
import { ANY_HOST, ANY_SOURCE, everyone, hostAddress, sourceCount, sourceList } from '../model/format.js';
import { MAX_RULES_PER_CONTAINER, type Resolved } from './openings.js';
import { describeSpec } from './mappings.js';
import { byText } from '../util/compare.js';
import { familyOf } from '../net/address.js';

export const isHostNetwork = (facts: ContainerFacts): boolean => facts.hostNetwork === true;

/** Whether any running container needs the host's sockets read: a host-network one with a ports label. */
export function wantsHostSockets(containers: readonly ContainerFacts[], labelPrefix: string): boolean {
  return containers.some((c) => isHostNetwork(c) && Object.hasOwn(c.labels, `${labelPrefix}.ports`));
}

const ownedBy = (s: HostSocket, id: string): boolean => s.owner.kind === 'container' && s.owner.id === id;

/**
 * The families a socket takes connections in. A wildcard in tcp6/udp6 counts for IPv4 too: it is
 * dual-stack unless the program set IPV6_V6ONLY, which /proc/net does not show. Counting it is
 * the careful side for sockets of others (their port stays closed) and costs the owner at most an
 * IPv4 accept on a port nothing of it serves, which no other process can serve either without
 * being seen at the next check.
 */
function reaches(s: HostSocket): Family[] {
  if (s.ip !== undefined) return [familyOf(s.ip)];
  return s.table === 6 ? [4, 6] : [4];
}

/** Whether two sockets' local addresses can take the same connection. */
const overlaps = (a: string | undefined, b: string | undefined): boolean => a === undefined || b === undefined || a === b;

/**
 * What a host-network container's plan depends on beyond its own facts: its sockets and anyone
 * else's on the same ports. The plan cache keys on it, so a new listener re-plans this container only.
 */
export function socketsOf(id: string, sockets: readonly HostSocket[] | undefined): readonly HostSocket[] | undefined {
  if (sockets === undefined) return undefined;
  const ports = new Set(sockets.filter((s) => ownedBy(s, id)).map((s) => `${s.protocol}/${s.port}`));
  // In a stable order: the kernel's table order is no change.
  const text = (s: HostSocket): string => JSON.stringify([s.protocol, s.port, s.table, s.ip ?? '', s.owner.kind === 'container' ? s.owner.id : '']);
  return sockets.filter((s) => ports.has(`${s.protocol}/${s.port}`)).sort((a, b) => byText(text(a), text(b)));
}

/** The labels that have no meaning on the host network and are therefore ignored, for the warning. */
function inapplicable(facts: ContainerFacts, labelPrefix: string): string[] {
  return ['mode', 'egress'].map((k) => `${labelPrefix}.${k}`).filter((k) => Object.hasOwn(facts.labels, k));
}

/** A port a label entry names for a host-network container. */
interface Wanted {
  protocol: Protocol;
  port: number;
  /** The address a mapping entry names; undefined: wherever its socket listens. */
  ip: string | undefined;
  spec: PortSpec;
}

/** The ports the entries name; a mapping to another port is meaningless without a mapping. */
function wantedPorts(policy: ContainerPolicy, portsLabel: string, warnings: string[]): Wanted[] {
  const wanted: Wanted[] = [];
  for (const spec of policy.ports) {
    if (spec.host && (spec.host.start !== spec.start || spec.host.end !== spec.end)) {
      warnings.push(`${portsLabel} entry ${JSON.stringify(describeSpec(spec))}: a --network host container has no port mapping (the host port is the port it listens on): nothing opened for it`);
      continue;
    }
    const ip = spec.host?.ip;
    for (let port = spec.start; port <= spec.end; port++) wanted.push({ protocol: spec.protocol, port, ip, spec });
  }
  return wanted;
}

/**
 * The openings (without sources yet) of the container's own sockets on one wanted port, per
 * family: bound as narrowly as the socket, and only where no other process shares the port.
 */
function socketOpenings(w: Wanted, mine: readonly HostSocket[], others: readonly HostSocket[], families: readonly Family[], portsLabel: string, warnings: string[]): Opening[] {
  const out: Opening[] = [];
  for (const family of families) {
    if (w.ip !== undefined && familyOf(w.ip) !== family) continue;
    const addresses = new Set<string | undefined>();
    for (const s of mine) {
      if (!reaches(s).includes(family)) continue;
      // The narrower of the label's address and the socket's.
      if (s.ip !== undefined && familyOf(s.ip) !== family) continue;
      addresses.add(s.ip ?? w.ip);
    }
    for (const address of addresses) {
      // Another process on the same port (SO_REUSEPORT, or a wildcard beside an address) would
      // take some of the connections an accept lets in: the port is not this container's alone.
      if (others.some((o) => reaches(o).includes(family) && overlaps(o.ip, address))) {
        warnings.push(
          `${portsLabel} entry ${JSON.stringify(describeSpec(w.spec))}: another process, not of this container, also listens on ${w.port}/${w.protocol} over IPv${family}: not opened over IPv${family}`,
        );
        continue;
      }
      // No address of its own: it is reached on the host's.
      out.push({ family, protocol: w.protocol, hostIp: address === undefined ? ANY_HOST : hostAddress(address), hostPort: w.port, containerPort: w.port, mode: 'proxy', sources: ANY_SOURCE });
    }
  }
  return out;
}

/** Each family's openings with that family's sources of `from`; a family without any opens nothing. */
function withSources(openings: readonly Opening[], policy: ContainerPolicy, families: readonly Family[], labelPrefix: string, warnings: string[]): Opening[] {
  const out: Opening[] = [];
  for (const family of families) {
    const mine = openings.filter((o) => o.family === family);
    if (mine.length === 0) continue;
    const sources = policy.from.filter((c) => c.family === family).map((c) => c.text);
    if (sources.length === 0) {
      warnings.push(`no IPv${family} source in ${labelPrefix}.from: nothing opened over IPv${family}`);
      continue;
    }
    // Everyone: no -s at all rather than a match that costs per packet.
    const allowed = sources.includes(everyone(family)) ? ANY_SOURCE : sourceList(sources);
    for (const o of mine) out.push({ ...o, sources: allowed });
  }
  return out;
}

/**
 * The openings of a host-network container, both families: one INPUT accept per socket of its
 * own that a label entry names, bound as narrowly as the socket (its address, or the host's own
 * addresses for a wildcard), from `from`. `sockets` absent: they could not be read, nothing opens.
 */
export function resolveHostNetwork(
  facts: ContainerFacts,
  policy: ContainerPolicy,
  sockets: readonly HostSocket[] | undefined,
  labelPrefix: string,
  families: readonly Family[],
): Resolved {
  const warnings: string[] = [];
  const ignored = inapplicable(facts, labelPrefix);
  if (ignored.length > 0) {
    warnings.push(`uses the host network: ${ignored.join(' and ')} do not apply to it (its traffic is the host's own): ignored`);
  }
  const nothing = (): Resolved => ({ openings: [], warnings, errors: [] });
  if (!policy.declared || policy.ports.length === 0) return nothing();
  const portsLabel = `${labelPrefix}.ports`;
  if (sockets === undefined) {
    warnings.push(`uses the host network: the host's listening sockets could not be read, so none is known to be its own: nothing opened`);
    return nothing();
  }
  const openings: Opening[] = [];
  const seen = new Set<string>();
  const silent: Map<string, number[]> = new Map();
  for (const w of wantedPorts(policy, portsLabel, warnings)) {
    const mine = sockets.filter((s) => ownedBy(s, facts.id) && s.protocol === w.protocol && s.port === w.port && overlaps(s.ip, w.ip));
    if (mine.length === 0) {
      const entry = JSON.stringify(describeSpec(w.spec));
      silent.set(entry, [...(silent.get(entry) ?? []), w.port]);
      continue;
    }
    const others = sockets.filter((s) => !ownedBy(s, facts.id) && s.protocol === w.protocol && s.port === w.port);
    for (const o of socketOpenings(w, mine, others, families, portsLabel, warnings)) {
      const key = `${o.family}|${o.protocol}|${o.hostIp.kind === 'any' ? '' : o.hostIp.ip}|${o.hostPort}`;
      if (seen.has(key)) continue;
      seen.add(key);
      openings.push(o);
    }
  }
  for (const [entry, ports] of silent) {
    const which = ports.length > 3 ? `${ports.length} of its ports` : ports.join(', ');
    warnings.push(`${portsLabel} entry ${entry}: no process of this container listens on ${which}: nothing opened for it (opened at the next check once one does)`);
  }
  const opened = withSources(openings, policy, families, labelPrefix, warnings);
  const rules = opened.reduce((n, o) => n + sourceCount(o.sources), 0);
  if (rules > MAX_RULES_PER_CONTAINER) {
    warnings.push(`${opened.length} openings × their sources would need ${rules} rules; at most ${MAX_RULES_PER_CONTAINER} per container: nothing opened`);
    return nothing();
  }
  return { openings: opened, warnings: [...new Set(warnings)], errors: [] };
}
