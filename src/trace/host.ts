// What the tracer knows of the host besides its rules: its addresses (which destinations are
// local: the routing decision and `-m addrtype --dst-type LOCAL`) and, from the same list, its
// connected subnets (which interface a forwarded packet leaves by). Policy routing, static routes
// other than the default and rp_filter are not modelled; where they would matter the tracer says
// that the interface is not known rather than guessing one.
import type { Family } from '../model/types.js';
import type { HostInterface } from '../net/addresses.js';
import type { DefaultRoute } from '../net/routes.js';
import type { Tri } from '../model/tri.js';
import { type Net, parseNet, relation } from '../net/address.js';

export interface HostView {
  interfaces: readonly HostInterface[];
  /** The host's default routes, when known: where a packet to a non-connected address leaves. */
  defaultRoutes?: readonly DefaultRoute[];
}

function netsOf(host: HostView, family: Family): Array<{ iface: HostInterface; address: Net; subnet: Net; prefixLen: number }> {
  const out: Array<{ iface: HostInterface; address: Net; subnet: Net; prefixLen: number }> = [];
  for (const iface of host.interfaces) {
    for (const a of iface.addresses) {
      if (a.family !== family) continue;
      const address = parseNet(a.address);
      const subnet = parseNet(`${a.address}/${a.prefixLen}`);
      if (address && subnet) out.push({ iface, address, subnet, prefixLen: a.prefixLen });
    }
  }
  return out;
}

/**
 * Is this address (or every address of this range) one of the host's own? yes/no/maybe. The
 * loopback device's whole prefix is local, as the kernel's `local 127.0.0.0/8 dev lo` route says.
 */
export function isLocal(host: HostView, ip: Net): Tri {
  let some = false;
  for (const n of netsOf(host, ip.family)) {
    const r = relation(n.iface.loopback ? n.subnet : n.address, ip);
    if (r === 'yes') return 'yes';
    if (r === 'maybe' || relation(ip, n.address) === 'yes') some = true;
  }
  return some ? 'maybe' : 'no';
}

export interface Route {
  iface: string;
  /** How it was found, for the trace's notes. */
  how: string;
}

/**
 * The interface a packet to `ip` leaves by: the longest connected subnet holding it, else the
 * family's default route when it has exactly one interface; undefined when not known.
 */
export function routeOf(host: HostView, ip: Net): Route | undefined {
  let best: { iface: HostInterface; subnet: Net; prefixLen: number } | undefined;
  for (const n of netsOf(host, ip.family)) {
    if (n.iface.loopback) continue;
    if (relation(n.subnet, ip) !== 'yes') continue;
    if (!best || n.prefixLen > best.prefixLen) best = n;
  }
  if (best) return { iface: best.iface.name, how: `connected subnet ${best.subnet.text} on ${best.iface.name}` };
  const defaults = (host.defaultRoutes ?? []).filter((r) => r.family === ip.family);
  const devs = [...new Set(defaults.flatMap((r) => r.devs))];
  if (devs.length === 1) return { iface: devs[0]!, how: `the IPv${ip.family} default route via ${devs[0]}` };
  return undefined;
}

/** The host's first address of `family` on `iface` (what a client reaching the host through it would use). */
export function addressOn(host: HostView, iface: string, family: Family): string | undefined {
  return host.interfaces.find((i) => i.name === iface)?.addresses.find((a) => a.family === family)?.address;
}
