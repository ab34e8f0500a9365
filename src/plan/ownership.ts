// Who owns a host port. A port Docker bound (-p) belongs to the container Docker bound it for;
// a port a `dnat` mapping label claims without -p belongs to the first claimant by creation
// time, and only if it is in the claimable range, no host process listens on it and no Docker
// binding covers it. Pure: the listeners are read by the dataplane and passed in.
import type { ContainerFacts, ContainerPolicy, Listener, PortRange, Protocol } from '../model/types.js';
import { ANY_HOST, describeHost, hostAddress } from '../model/format.js';
import { byText } from '../util/compare.js';
import { claimKey, isAnyAddress, mappingPairs, matchBinding } from './openings.js';

export interface OwnershipInput {
  containers: ReadonlyArray<{ facts: ContainerFacts; policy: ContainerPolicy | undefined }>;
  claimable: PortRange;
  /** Host sockets in LISTEN (tcp) or bound (udp); undefined when not read (then not checked). */
  listeners: readonly Listener[] | undefined;
}

interface Claim {
  facts: ContainerFacts;
  protocol: Protocol;
  hostIp: string;
  hostPort: number;
}

const overlaps = (a: string | undefined, b: string | undefined): boolean =>
  a === undefined || b === undefined || isAnyAddress(a) || isAnyAddress(b) || a === b;

/** Claims and listeners of either family: every address is `*`. */
const shown = (ip: string | undefined): string => describeHost(ip === undefined || isAnyAddress(ip) ? ANY_HOST : hostAddress(ip));

/** For each container, the claims it loses and why, keyed like `claimKey`. Containers that win everything are absent. */
export function refusedClaims(input: OwnershipInput): Map<string, Map<string, string>> {
  const bindings = input.containers.flatMap(({ facts }) =>
    facts.ports.filter((b) => b.hostPort > 0).map((b) => ({ facts, binding: b })),
  );
  const claims: Claim[] = [];
  for (const { facts, policy } of input.containers) {
    if (!policy?.declared || policy.mode !== 'dnat') continue;
    const own = facts.ports.filter((b) => b.hostPort > 0);
    for (const spec of policy.ports) {
      for (const pair of mappingPairs(spec)) {
        if (matchBinding(pair, own)) continue;
        claims.push({ facts, protocol: pair.protocol, hostIp: pair.hostIp, hostPort: pair.hostPort });
      }
    }
  }
  // Creation time, then id: stable across restarts, reloads and the order Docker lists in.
  claims.sort((a, b) => byText(a.facts.created, b.facts.created) || byText(a.facts.id, b.facts.id));

  const out = new Map<string, Map<string, string>>();
  const refuse = (c: Claim, reason: string): void => {
    let m = out.get(c.facts.id);
    if (!m) out.set(c.facts.id, (m = new Map()));
    if (!m.has(claimKey(c))) m.set(claimKey(c), reason);
  };
  const granted: Claim[] = [];
  const { start, end } = input.claimable;
  for (const c of claims) {
    const port = `host port ${shown(c.hostIp)}:${c.hostPort}/${c.protocol}`;
    if (c.hostPort < start || c.hostPort > end) {
      refuse(c, `${port} is outside claimable_ports (${start}-${end}); a label may claim a host port without -p only in that range`);
      continue;
    }
    const bound = bindings.find(
      (b) => b.binding.protocol === c.protocol && b.binding.hostPort === c.hostPort && overlaps(b.binding.hostIp, c.hostIp),
    );
    if (bound) {
      refuse(
        c,
        bound.facts.id === c.facts.id
          ? `${port} overlaps this container's own -p binding ${shown(bound.binding.hostIp)}:${bound.binding.hostPort}->${bound.binding.containerPort}/${bound.binding.protocol}; name that binding in the label instead`
          : `${port} is published with -p by container ${bound.facts.name}: it belongs to that container`,
      );
      continue;
    }
    const listener = input.listeners?.find((l) => l.protocol === c.protocol && l.port === c.hostPort && overlaps(l.ip, c.hostIp));
    if (listener) {
      refuse(c, `${port}: a host process listens on ${shown(listener.ip)}:${listener.port}/${listener.protocol}; a label may not take a port from the host`);
      continue;
    }
    const earlier = granted.find(
      (g) => g.facts.id !== c.facts.id && g.protocol === c.protocol && g.hostPort === c.hostPort && overlaps(g.hostIp, c.hostIp),
    );
    if (earlier) {
      refuse(c, `${port} is also claimed by container ${earlier.facts.name}, created earlier: it belongs to that container`);
      continue;
    }
    granted.push(c);
  }
  return out;
}

/** Cheap test whether any container could claim a port, so listeners are read only when needed. */
export function mayClaim(containers: readonly ContainerFacts[], labelPrefix: string): boolean {
  const key = `${labelPrefix}.ports`;
  return containers.some((c) => c.labels[key]?.includes(':') === true);
}
