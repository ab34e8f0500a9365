// A `dockgate.ports` mapping entry (`[HOSTIP:]HOSTPORT:PORT`) port by port, and the container's
// own -p binding each names: what ownership.ts judges and openings.ts opens. Pure.
import type { Family, PortBinding, PortSpec, Protocol } from '../model/types.js';
import { familyOf } from '../net/address.js';

/** Docker's and the kernel's spellings of every address ('' is Docker's own HostIp for it). */
export const isAnyAddress = (ip: string): boolean => ip === '' || ip === '0.0.0.0' || ip === '::';
export const isV6 = (ip: string): boolean => familyOf(ip) === 6;
/** Whether a host address ('' = every address of both families) concerns `family`. */
export const inFamily = (ip: string | undefined, family: Family): boolean => ip === undefined || ip === '' || isV6(ip) === (family === 6);

/** A label entry as the admin wrote it (canonically), for messages. */
export function describeSpec(spec: PortSpec): string {
  const range = (a: number, b: number): string => (a === b ? `${a}` : `${a}-${b}`);
  const proto = spec.protocol === 'tcp' ? '' : `/${spec.protocol}`;
  if (!spec.host) return `${range(spec.start, spec.end)}${proto}`;
  const ip = spec.host.ip === undefined ? '' : isV6(spec.host.ip) ? `[${spec.host.ip}]:` : `${spec.host.ip}:`;
  return `${ip}${range(spec.host.start, spec.host.end)}:${range(spec.start, spec.end)}${proto}`;
}

/** One host port a mapping entry asks for, before ownership is decided. */
export interface MappingPair {
  spec: PortSpec;
  protocol: Protocol;
  /** The address the label names; undefined: every local address. */
  hostIp: string | undefined;
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
    if (pair.hostIp === undefined) return { binding: b, hostIp: b.hostIp };
    if (isV6(pair.hostIp) !== isV6(b.hostIp)) continue;
    if (isAnyAddress(b.hostIp) || b.hostIp === pair.hostIp) return { binding: b, hostIp: pair.hostIp };
  }
  return undefined;
}

