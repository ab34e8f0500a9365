// Who owns the port a packet is addressed to, for `explain`: the planned openings for it, whether
// the client is among their sources, and, when nobody owns it, why (a label that lost the port, a
// -p without a working label). Pure.
import { bracketed } from '../model/format.js';
import type { ContainerPlan, Opening, RuleSet } from '../model/types.js';
import { isAnyAddress } from '../plan/mappings.js';
import { labelText } from '../labels/text.js';
import { type Net, familyOf, parseNet, relation } from '../net/address.js';
import { type HostView, isLocal } from './host.js';
import type { ExplainContext, OwnerInfo } from './explain.js';
import type { TracePacket } from './trace.js';

const sameAddress = (a: string, b: Net): boolean => {
  const n = parseNet(a);
  return n !== undefined && n.family === b.family && n.lo === b.lo && n.hi === b.hi;
};

export function sourceIn(o: Opening, src: Net): OwnerInfo['sourceAllowed'] {
  if (o.sources.kind === 'any') return 'yes';
  let partly = false;
  for (const s of o.sources.cidrs) {
    const n = parseNet(s);
    if (!n) continue;
    const r = relation(n, src);
    if (r === 'yes') return 'yes';
    if (r === 'maybe') partly = true;
  }
  return partly ? 'partly' : 'no';
}

/** The planned openings this packet is addressed to (same family, protocol, host address and port). */
export function openingsFor(plan: RuleSet, host: HostView, p: TracePacket): Array<{ container: ContainerPlan; opening: Opening }> {
  const dst = parseNet(p.dst)!;
  const out: Array<{ container: ContainerPlan; opening: Opening }> = [];
  for (const c of plan.containers) {
    for (const o of c.openings) {
      if (o.family !== p.family || o.protocol !== p.protocol || o.hostPort !== p.dport) continue;
      if (o.hostIp.kind === 'any' ? isLocal(host, dst) !== 'yes' : !sameAddress(o.hostIp.ip, dst)) continue;
      out.push({ container: c, opening: o });
    }
  }
  return out;
}

/** Why nobody owns HOST:PORT: a label that claimed it and lost, a -p without a (working) label. */
export function whyNoOwner(ctx: ExplainContext, p: TracePacket): string[] {
  const out: string[] = [];
  const dst = parseNet(p.dst)!;
  const portText = `${p.dport}/${p.protocol}`;
  for (const c of ctx.plan.containers) {
    for (const e of c.errors) {
      const m = /host port (\S+):(\d+)\/(tcp|udp)/.exec(e.reason);
      if (!m || Number(m[2]) !== p.dport || m[3] !== p.protocol) continue;
      const ip = m[1]!.replace(/^\[|\]$/g, '');
      if (ip !== '*' && !sameAddress(ip, dst)) continue;
      out.push(`container ${c.name} (${c.id.slice(0, 12)}): its label ${labelText(e.label, e.value)} claimed it but lost ownership: ${e.reason}`);
    }
  }
  for (const f of ctx.facts) {
    for (const b of f.ports) {
      if (b.hostPort !== p.dport || b.protocol !== p.protocol) continue;
      const any = isAnyAddress(b.hostIp);
      const bindFamily = familyOf(b.hostIp);
      if (bindFamily !== p.family || (!any && !sameAddress(b.hostIp, dst))) continue;
      const plan = ctx.plan.containers.find((c) => c.id === f.id);
      const why = plan
        ? [...plan.errors.map((e) => `label error ${labelText(e.label, e.value)}: ${e.reason}`), ...plan.warnings].join('; ') || 'its label does not list this port'
        : 'not in the plan';
      out.push(`container ${f.name} (${f.id.slice(0, 12)}) publishes ${bracketed(b.hostIp)}:${b.hostPort}->${b.containerPort}/${b.protocol} with -p but opens nothing for it: ${why}`);
    }
  }
  if (out.length === 0) out.push(`no container owns ${bracketed(p.dst)}:${portText}`);
  return [...new Set(out)];
}

export function ownerInfo(ctx: ExplainContext, c: ContainerPlan, o: Opening, src: Net): OwnerInfo {
  const facts = ctx.facts.find((f) => f.id === c.id);
  const label = (k: string): string | undefined => facts?.labels[`${ctx.labelPrefix}.${k}`];
  const labels: OwnerInfo['labels'] = {};
  for (const k of ['ports', 'from', 'mode', 'egress'] as const) {
    const v = label(k);
    if (v !== undefined) labels[k] = v;
  }
  return { container: c.name, id: c.id, mode: o.mode, labels, opening: o, sourceAllowed: sourceIn(o, src) };
}
