// Who owns a host port. A port Docker bound (-p) belongs to the container Docker bound it for;
// a port a `dnat` mapping label claims without -p belongs to the first claimant by creation
// time, and only if it is in the claimable range, no host process listens on it and no Docker
// binding covers it. A claim once granted stays with that run of its container: a host process
// that binds the port later is reported, not obeyed, or any local user could revoke the claim by
// binding the port (issue 18). Pure: the listeners are read by the dataplane and the claims
// granted before are remembered by the caller, and both are passed in.
import type { ContainerFacts, ContainerPolicy, GrantedClaim, Listener, PortRange, Protocol } from '../model/types.js';
import { ANY_HOST, describeHost, hostAddress } from '../model/format.js';
import { byText } from '../util/compare.js';
import { claimKey } from './openings.js';
import { isAnyAddress, mappingPairs, matchBinding } from './mappings.js';

export interface OwnershipInput {
  containers: ReadonlyArray<{ facts: ContainerFacts; policy: ContainerPolicy | undefined }>;
  claimable: PortRange;
  /** Host sockets in LISTEN (tcp) or bound (udp); undefined when not read (then not checked). */
  listeners: readonly Listener[] | undefined;
  /** Claims granted by the previous plan; one for the same run of its container ignores host listeners. */
  granted: readonly GrantedClaim[];
}

/** The verdict on every claim of one plan. */
export interface ClaimVerdicts {
  /** For each container, the claims it loses and why, keyed like `claimKey`. Containers that win everything are absent. */
  refused: Map<string, Map<string, string>>;
  /** Every claim granted now, for the next plan: only for containers whose run Docker identified. */
  granted: GrantedClaim[];
  /** For each container, what it should hear about claims it keeps: a host process listening on one since. */
  notes: Map<string, string[]>;
}

interface Claim {
  facts: ContainerFacts;
  protocol: Protocol;
  /** undefined: every local address. */
  hostIp: string | undefined;
  hostPort: number;
}

const overlaps = (a: string | undefined, b: string | undefined): boolean =>
  a === undefined || b === undefined || isAnyAddress(a) || isAnyAddress(b) || a === b;

/** Claims and listeners of either family: every address is `*`. */
const shown = (ip: string | undefined): string => describeHost(ip === undefined || isAnyAddress(ip) ? ANY_HOST : hostAddress(ip));

const grantKey = (containerId: string, started: string, c: { protocol: Protocol; hostIp: string | undefined; hostPort: number }): string =>
  `${containerId}|${started}|${claimKey(c)}`;

/** Which claims each container wins and loses. */
export function judgeClaims(input: OwnershipInput): ClaimVerdicts {
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
  const notes = new Map<string, string[]>();
  const refuse = (c: Claim, reason: string): void => {
    let m = out.get(c.facts.id);
    if (!m) out.set(c.facts.id, (m = new Map()));
    if (!m.has(claimKey(c))) m.set(claimKey(c), reason);
  };
  const note = (c: Claim, text: string): void => {
    const list = notes.get(c.facts.id);
    if (!list) notes.set(c.facts.id, [text]);
    else if (!list.includes(text)) list.push(text);
  };
  const before = new Set(input.granted.map((g) => grantKey(g.containerId, g.started, g)));
  const heldBefore = (c: Claim): boolean => c.facts.started !== undefined && before.has(grantKey(c.facts.id, c.facts.started, c));
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
    const listening = listener && `${shown(listener.ip)}:${listener.port}/${listener.protocol}`;
    // Whoever binds the port after the grant came too late: obeying them would let any local user
    // take a published service away. The allowed sources still reach the container.
    const kept = listening !== undefined && heldBefore(c);
    if (listening !== undefined && !kept) {
      refuse(c, `${port}: a host process listens on ${listening}; a label may not take a port from the host`);
      continue;
    }
    const earlier = granted.find(
      (g) => g.facts.id !== c.facts.id && g.protocol === c.protocol && g.hostPort === c.hostPort && overlaps(g.hostIp, c.hostIp),
    );
    if (earlier) {
      refuse(c, `${port} is also claimed by container ${earlier.facts.name}, created earlier: it belongs to that container`);
      continue;
    }
    if (kept) {
      note(c, `${port} was granted to this container before a host process began listening on ${listening}; that process is not given the port: the claim stays until the container stops`);
    }
    granted.push(c);
  }
  const remembered = granted.flatMap((c): GrantedClaim[] =>
    c.facts.started === undefined
      ? []
      : [{ containerId: c.facts.id, started: c.facts.started, protocol: c.protocol, hostIp: c.hostIp, hostPort: c.hostPort }],
  );
  return { refused: out, granted: remembered, notes };
}

/** Cheap test whether any container could claim a port, so listeners are read only when needed. */
export function mayClaim(containers: readonly ContainerFacts[], labelPrefix: string): boolean {
  const key = `${labelPrefix}.ports`;
  return containers.some((c) => c.labels[key]?.includes(':') === true);
}
