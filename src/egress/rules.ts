// A container's egress from its egress policy. Pure. Egress to everywhere is one accept in the
// container's DOCKGATE-CONTAINERS shard. An allow-list is one chain of accepts, one per
// destination of the family (an IPv4 CIDR only in iptables, an IPv6 one only in ip6tables), plus
// the resolvers on port 53: without them no name the container looks up would resolve, and
// Docker's embedded DNS (127.0.0.11) forwards from inside the container's namespace, so its
// queries leave from the container's own address too. That chain is named by a hash of its
// rules, so every container with the same list shares it and adds one jump per address.
import { createHash } from 'node:crypto';
import type { BridgeAddress, ChainPlan, EgressEntry, EgressPolicy, Family, Protocol } from '../model/types.js';
import { ACCEPT, type PortSpan, type Rule, jumpTo } from '../model/rule.js';
import { type EgressSet, setFor } from './sets.js';
import { familyOf } from '../net/address.js';
import { egressChainName } from '../plan/chains.js';

/** Where one accept of a list leads: `dst` and `dstSet` undefined is everywhere (`0.0.0.0/0`, `::/0`). */
interface Destination {
  dst: string | undefined;
  /** The ipset of a DNS name's addresses (egress/sets.ts). */
  dstSet?: string;
  proto: Protocol | undefined;
  dport: PortSpan | undefined;
  /** Which entry of the list (or which resolver) it comes from, for the rule's comment. */
  why: string;
}

/**
 * An entry as the comment of its accept says it (no brackets: comments keep [A-Za-z0-9_./: -]).
 * A name is not written: no label text but numbers and addresses ever reaches the kernel (the
 * accept names the name's set, and `dockgate status` and `explain` say which name that is).
 */
function entryText(e: EgressEntry): string {
  const dest = e.destination.kind === 'name' ? 'a listed name' : e.destination.cidr.text;
  if (e.ports.kind === 'any') return dest;
  const range = e.ports.start === e.ports.end ? `${e.ports.start}` : `${e.ports.start}-${e.ports.end}`;
  return `${dest} port ${range}/${e.ports.protocol}`;
}

function entryDestinations(e: EgressEntry, family: Family, names: boolean): Destination[] {
  const ports = { why: entryText(e), ...(e.ports.kind === 'any' ? { proto: undefined, dport: undefined } : { proto: e.ports.protocol, dport: { start: e.ports.start, end: e.ports.end } }) };
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
  return mine.flatMap((dst) => (['udp', 'tcp'] as const).map((proto): Destination => ({ dst, proto, dport: { start: 53, end: 53 }, why: `resolver ${dst}` })));
}

/** The destinations an allow-list lets a container open connections to, in `family`, each once. */
function listDestinations(entries: readonly EgressEntry[], resolvers: readonly string[], family: Family, names: boolean): Destination[] {
  const out = [...entries.flatMap((e) => entryDestinations(e, family, names)), ...resolverDestinations(resolvers, family)];
  const seen = new Set<string>();
  return out.filter((d) => {
    // The same destination from two entries (or an entry and a resolver) is one accept, the first's.
    const key = JSON.stringify({ ...d, why: undefined });
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The shared chain of an allow-list in `family`: one accept per destination, for packets the
 * container's jump already matched (its address, its bridge, a new connection). Undefined when
 * the list allows nothing in this family (then there is nothing to jump to).
 */
export function egressChain(policy: EgressPolicy, resolvers: readonly string[], family: Family, names = true): ChainPlan | undefined {
  if (policy.kind !== 'list') return undefined;
  const rules = listDestinations(policy.entries, resolvers, family, names).map(
    (d): Rule => ({ match: { dst: d.dst, proto: d.proto, dport: d.dport, dstSet: d.dstSet }, action: ACCEPT, comment: `dockgate egress to ${d.why}` }),
  );
  if (rules.length === 0) return undefined;
  const hash = createHash('sha256').update(JSON.stringify([family, rules])).digest('hex');
  return { table: 'filter', name: egressChainName(hash), kind: 'ordered', rules };
}

/**
 * What one container address on one bridge gets: egress everywhere is one accept; a list is one
 * jump to its shared chain (`chain`, from egressChain for the address's family).
 */
export function egressRules(policy: EgressPolicy, from: BridgeAddress, comment: string, chain: ChainPlan | undefined): Rule[] {
  const match = { src: from.address, in: from.bridge, ctstate: ['NEW'] as const };
  if (policy.kind === 'all') return [{ match, action: ACCEPT, comment }];
  if (policy.kind === 'none' || chain === undefined) return [];
  return [{ match, action: jumpTo(chain.name), comment }];
}
