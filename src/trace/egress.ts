// `explain CONTAINER DEST:PORT`: a connection a container opens, traced as the packet that leaves
// it (from its own address, arriving on its bridge), and explained by its egress policy — which
// DNS name of its allow-list let it pass and through which address of the name's set (with the
// time that address has left), or what the names hold now when nothing did. Pure: the caller
// read the sets (`ipset save`).
import type { ContainerPlan, Family } from '../model/types.js';
import { formatEgressPolicy } from '../labels/egress.js';
import { labelText } from '../labels/text.js';
import { setFor } from '../egress/sets.js';
import { parseNet } from '../net/address.js';
import type { ExplainContext } from './explain.js';
import { routeOf } from './host.js';
import { type SetMembers, setMatchOf } from './sets.js';
import type { Step, TracePacket } from './trace.js';

export interface EgressInfo {
  container: string;
  id: string;
  /** Its `dockgate.egress` label as written; undefined: the config's default. */
  label: string | undefined;
  /** The policy in force, as the label grammar writes it (`all`, `none` or the list). */
  policy: string;
  /** Each name of its list with what the name's set of the packet's family holds now (when read). */
  names: Array<{ name: string; addresses: Array<{ address: string; secondsLeft: number | undefined }> }>;
  /** The name, set and address through which the deciding accept let the packet pass. */
  via?: { name: string; set: string; address: string; secondsLeft: number | undefined };
}

const addressesOf = (ctx: Pick<ExplainContext, 'facts'>, id: string, family: Family): Array<{ address: string; network: string }> =>
  (ctx.facts.find((f) => f.id === id)?.networks ?? []).flatMap((n) => {
    const address = family === 4 ? n.ipv4 : n.ipv6;
    return address === undefined ? [] : [{ address, network: n.networkName }];
  });

/** The packet `c` sends to DEST:PORT: from its first address of the family, in by the route back to it (its bridge). */
export function containerPacket(
  ctx: Pick<ExplainContext, 'facts' | 'host'>,
  c: ContainerPlan,
  to: { family: Family; dst: string; dport: number; protocol: 'tcp' | 'udp' },
): { packet: TracePacket; how: string } | string {
  const from = addressesOf(ctx, c.id, to.family)[0];
  if (!from) return `container ${c.name} has no IPv${to.family} address to connect from`;
  const r = routeOf(ctx.host, parseNet(from.address)!);
  const how = `${c.name}'s address on network ${from.network}${r ? `, whose route is the ${r.how}` : ': no route back to it (rules testing -i are uncertain)'}`;
  return { packet: { ...to, src: from.address, ...(r ? { inInterface: r.iface } : {}) }, how };
}

/** The container whose own address `packet.src` is, when it connects beyond this host; else undefined. */
export function egressOf(ctx: ExplainContext, packet: TracePacket): EgressInfo | undefined {
  const src = parseNet(packet.src);
  if (!src || src.lo !== src.hi) return undefined;
  const c = ctx.plan.containers.find((x) => addressesOf(ctx, x.id, packet.family).some((a) => parseNet(a.address)?.lo === src.lo));
  if (!c || c.hostNetwork) return undefined;
  const label = ctx.facts.find((f) => f.id === c.id)?.labels[`${ctx.labelPrefix}.egress`];
  const policy = c.egressTo ? formatEgressPolicy({ kind: 'list', entries: c.egressTo }) : c.egress ? 'all' : 'none';
  const listed = [...new Set((c.egressTo ?? []).flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : [])))];
  const names = ctx.sets === undefined ? [] : listed.map((name) => ({ name, addresses: membersOf(ctx.sets!, setFor(name, packet.family).set) }));
  return { container: c.name, id: c.id, label, policy, names };
}

const membersOf = (sets: SetMembers, set: string): Array<{ address: string; secondsLeft: number | undefined }> =>
  [...(sets.get(set)?.members ?? new Map<string, number | undefined>())].map(([address, secondsLeft]) => ({ address, secondsLeft }));

const left = (s: number | undefined): string => (s === undefined ? '' : `, ${s} s left`);
const listOf = (n: EgressInfo['names'][number]): string => n.addresses.map((a) => `${a.address}${left(a.secondsLeft)}`).join('; ');

/** The name through which `decided` (a dockgate accept) let the packet pass, if it matched on a name's set. */
export function viaName(ctx: ExplainContext, packet: TracePacket, decided: Step | undefined): EgressInfo['via'] {
  if (!ctx.sets || decided?.line === undefined) return undefined;
  const m = setMatchOf(decided.line, packet.dst, packet.src, ctx.sets);
  if (!m) return undefined;
  const name = (ctx.plan.egressSets ?? []).find((s) => s.set === m.set)?.name;
  return name === undefined ? undefined : { name, ...m };
}

/** The summary's head for an accept through a name. */
export const viaText = (v: NonNullable<EgressInfo['via']>): string => `via name ${v.name} (${v.address}${left(v.secondsLeft)} in ipset ${v.set})`;

/** Why a blocked connection matched no entry: what each name holds, and where the address is but the port is not. */
export function blockedRemarks(e: EgressInfo, packet: TracePacket): string[] {
  if (e.policy === 'none') return [`${e.container}'s egress is off (${e.label !== undefined ? 'its label' : 'the default'}: none)`];
  const dst = parseNet(packet.dst)!;
  const holds = e.names.filter((n) => n.addresses.length > 0);
  const out: string[] = [];
  const hit = holds.find((n) => n.addresses.some((a) => parseNet(a.address)?.lo === dst.lo));
  if (hit) {
    out.push(`${packet.dst} is an address of ${hit.name}, but ${e.container}'s egress list (${e.policy}) does not allow it on ${packet.dport}/${packet.protocol}`);
  } else if (holds.length > 0) {
    out.push(`${packet.dst} is not among the addresses of ${holds.map((n) => `${n.name} (${listOf(n)})`).join(', ')} nor in any other entry of ${e.container}'s egress list`);
  }
  for (const n of e.names.filter((x) => x.addresses.length === 0)) {
    out.push(`${n.name} holds no IPv${packet.family} address now (it does not resolve in this family, or the daemon has not resolved it yet): it allows nothing here`);
  }
  return out;
}

/** The lines `renderExplanation` shows for a container's own connection. */
export function egressLines(e: EgressInfo, labelPrefix: string, family: Family): string[] {
  const key = `${labelPrefix}.egress`;
  const label = e.label !== undefined ? labelText(key, e.label) : `${key}=(default)`;
  const out = [`egress of: ${e.container} (${e.id.slice(0, 12)}) ${label}${e.label === e.policy ? '' : `: ${e.policy}`}`];
  const shown = (a: { address: string; secondsLeft: number | undefined }): string => (a.secondsLeft === undefined ? a.address : `${a.address} (${a.secondsLeft} s left)`);
  for (const n of e.names) out.push(`name ${n.name}: ${n.addresses.length > 0 ? n.addresses.map(shown).join(', ') : `no IPv${family} address`}`);
  return out;
}
