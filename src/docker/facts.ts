// Docker's inspect answers → plain facts. Docker omits fields freely (no networks for
// --network none, null port lists, half-torn-down containers), so every field is read
// defensively and anything unusable is dropped rather than guessed.
import type { ContainerFacts, NetworkAttachment, NetworkFacts, PortBinding } from '../model/types.js';
import { parseCidr, parseIPv4 } from '../net/cidr.js';
import { byText } from '../plan/order.js';

/** The subset of `docker inspect <container>` that dockgate reads. */
export interface ContainerInspect {
  Id?: string;
  Name?: string;
  State?: { Running?: boolean; Paused?: boolean; Restarting?: boolean };
  Config?: { Labels?: Record<string, string> | null } | null;
  NetworkSettings?: {
    Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
    Networks?: Record<string, { NetworkID?: string; IPAddress?: string; GlobalIPv6Address?: string } | null> | null;
  } | null;
}

/** The subset of `docker network inspect` that dockgate reads. */
export interface NetworkInspect {
  Id?: string;
  Name?: string;
  Driver?: string;
  Options?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string }> | null } | null;
}

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
const HEX_ID = /^[0-9a-f]{12,64}$/;

function toBinding(key: string, hostIp: string | undefined, hostPort: string | undefined): PortBinding | undefined {
  const m = /^(\d{1,5})\/(tcp|udp)$/.exec(key);
  const port = Number(hostPort);
  if (!m || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const containerPort = Number(m[1]);
  if (containerPort < 1 || containerPort > 65535) return undefined;
  return { containerPort, protocol: m[2] as 'tcp' | 'udp', hostIp: hostIp || '0.0.0.0', hostPort: port };
}

/** Undefined when the answer is not a usable running container. */
export function toContainerFacts(info: ContainerInspect): ContainerFacts | undefined {
  const id = info.Id ?? '';
  if (!HEX_ID.test(id) || info.State?.Running !== true) return undefined;
  const name = (info.Name ?? '').replace(/^\//, '');
  const ports: PortBinding[] = [];
  for (const [key, list] of Object.entries(info.NetworkSettings?.Ports ?? {})) {
    for (const b of list ?? []) {
      const binding = toBinding(key, b.HostIp, b.HostPort);
      if (binding) ports.push(binding);
    }
  }
  const networks: NetworkAttachment[] = [];
  for (const [networkName, n] of Object.entries(info.NetworkSettings?.Networks ?? {})) {
    if (!n?.NetworkID) continue;
    const ipv4 = n.IPAddress && parseIPv4(n.IPAddress) !== undefined ? n.IPAddress : '';
    networks.push({ networkId: n.NetworkID, networkName, ipv4, ipv6: n.GlobalIPv6Address ?? '' });
  }
  networks.sort((a, b) => byText(a.networkName, b.networkName));
  return { id, name: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) ? name : id.slice(0, 12), labels: { ...(info.Config?.Labels ?? {}) }, networks, ports };
}

/** Undefined for anything that is not a Linux bridge network dockgate can manage. */
export function toNetworkFacts(info: NetworkInspect): NetworkFacts | undefined {
  const id = info.Id ?? '';
  if (info.Driver !== 'bridge' || !HEX_ID.test(id)) return undefined;
  const bridge = info.Options?.[BRIDGE_NAME_OPTION] || `br-${id.slice(0, 12)}`;
  if (!IFNAME.test(bridge)) return undefined;
  const subnets: string[] = [];
  for (const c of info.IPAM?.Config ?? []) {
    const parsed = c.Subnet ? parseCidr(c.Subnet) : undefined;
    if (parsed?.ok && parsed.value.family === 4) subnets.push(parsed.value.text);
  }
  return { id, name: info.Name ?? id.slice(0, 12), bridge, subnets };
}
