// A container's egress accepts in its DOCKGATE-CONTAINERS shard, from its egress policy. Pure.
// An allow-list gives one accept per destination of the family (an IPv4 CIDR only in iptables,
// an IPv6 one only in ip6tables), plus its resolvers on port 53: without them no name the
// container looks up would resolve, and Docker's embedded DNS (127.0.0.11) forwards from inside
// the container's namespace, so its queries leave from the container's own address too.
import type { BridgeAddress, EgressEntry, EgressPolicy, Family, Protocol } from '../model/types.js';
import { ACCEPT, type PortSpan, type Rule } from '../model/rule.js';
import { type EgressSet, setFor } from './sets.js';
import { familyOf } from '../net/address.js';

/** Where one accept leads: `dst` and `dstSet` undefined is everywhere. */
interface Destination {
  dst: string | undefined;
  /** The ipset of a DNS name's addresses (egress/sets.ts). */
  dstSet?: string;
  proto: Protocol | undefined;
  dport: PortSpan | undefined;
}

const EVERYWHERE: Destination = { dst: undefined, proto: undefined, dport: undefined };

function entryDestinations(e: EgressEntry, family: Family, names: boolean): Destination[] {
  const ports = e.ports.kind === 'any' ? { proto: undefined, dport: undefined } : { proto: e.ports.protocol, dport: { start: e.ports.start, end: e.ports.end } };
  // A name matches its set, whatever it resolves to now: an empty set allows nothing.
  if (e.destination.kind === 'name') return names ? [{ dst: undefined, dstSet: setFor(e.destination.name, family).set, ...ports }] : [];
  if (e.destination.cidr.family !== family) return [];
  // 0.0.0.0/0 and ::/0 are everywhere: iptables-save prints no -d for them, so neither may the plan.
  const everywhere = e.destination.cidr.text.endsWith('/0');
  return [{ dst: everywhere ? undefined : e.destination.cidr.text, ...ports }];
}

/** The sets a policy's rules match on in `family`, each once. */
export function egressSets(policy: EgressPolicy, family: Family): EgressSet[] {
  if (policy.kind !== 'list') return [];
  const names = [...new Set(policy.entries.flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : [])))];
  return names.map((n) => setFor(n, family));
}

/** The resolvers of `family` on port 53, UDP and TCP (TCP for answers too big for UDP). */
function resolverDestinations(resolvers: readonly string[], family: Family): Destination[] {
  // A loopback nameserver (systemd-resolved's 127.0.0.53) is the host's own: Docker never hands
  // it to a container, and nothing to it passes FORWARD.
  const loopback = (r: string): boolean => r.startsWith('127.') || r === '::1';
  const mine = resolvers.filter((r) => familyOf(r) === family && !loopback(r));
  return mine.flatMap((dst) => (['udp', 'tcp'] as const).map((proto): Destination => ({ dst, proto, dport: { start: 53, end: 53 } })));
}

/** The destinations a policy lets a container open connections to, in `family`. */
export function egressDestinations(policy: EgressPolicy, resolvers: readonly string[], family: Family, names = true): Destination[] {
  if (policy.kind === 'none') return [];
  if (policy.kind === 'all') return [EVERYWHERE];
  const out = [...policy.entries.flatMap((e) => entryDestinations(e, family, names)), ...resolverDestinations(resolvers, family)];
  const seen = new Set<string>();
  return out.filter((d) => {
    const key = JSON.stringify(d);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The accepts of one container address on one bridge. */
export function egressRules(policy: EgressPolicy, resolvers: readonly string[], from: BridgeAddress, comment: string, names = true): Rule[] {
  return egressDestinations(policy, resolvers, from.family, names).map(
    (d): Rule => ({
      match: { src: from.address, dst: d.dst, in: from.bridge, proto: d.proto, dport: d.dport, dstSet: d.dstSet, ctstate: ['NEW'] },
      action: ACCEPT,
      comment,
    }),
  );
}
