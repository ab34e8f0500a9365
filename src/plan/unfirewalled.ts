// Containers on macvlan and ipvlan networks. Pure.
//
// Such a container's interface is a child of a host interface (the network's parent): its frames
// leave and arrive on the wire through the parent's driver without passing the host's bridge or
// IP stack, so none of the host's netfilter hooks (INPUT, FORWARD, nat, raw) ever sees them.
// dockgate cannot open, close, DNAT or masquerade anything there, and neither can any other
// host firewall: only the container's own namespace or the network outside can filter it.
// Said per container, and loudly where dockgate labels suggest the admin expects otherwise.
import type { ContainerFacts, OtherNetwork } from '../model/types.js';

/** The drivers whose traffic never passes the host's firewall. */
const BYPASSING_DRIVERS: ReadonlySet<string> = new Set(['macvlan', 'ipvlan']);

export const bypassesHostFirewall = (driver: string): boolean => BYPASSING_DRIVERS.has(driver);

/** One container's attachments to networks whose traffic bypasses the host's firewall. */
export interface UnfirewalledContainer {
  container: string;
  /** Each such network, with its driver. */
  networks: ReadonlyArray<{ name: string; driver: string }>;
  /** The container's dockgate labels (`<prefix>.*`), sorted; they do nothing for that traffic. */
  labels: string[];
  /** Whether it is also on a network dockgate manages, where its labels do apply. */
  alsoManaged: boolean;
}

/** Undefined when no attachment of the container bypasses the host's firewall. */
export function unfirewalledContainer(
  facts: ContainerFacts,
  otherNetworks: ReadonlyMap<string, OtherNetwork>,
  labelPrefix: string,
): UnfirewalledContainer | undefined {
  const networks: Array<{ name: string; driver: string }> = [];
  let alsoManaged = false;
  for (const a of facts.networks) {
    const other = otherNetworks.get(a.networkId);
    if (other === undefined) alsoManaged = true;
    else if (bypassesHostFirewall(other.driver)) networks.push({ name: other.name, driver: other.driver });
  }
  if (networks.length === 0) return undefined;
  const labels = Object.keys(facts.labels).filter((k) => k.startsWith(`${labelPrefix}.`)).sort();
  return { container: facts.name, networks, labels, alsoManaged };
}

/** The container's warning (status, and one log line from the daemon). */
export function describeUnfirewalled(u: UnfirewalledContainer): string {
  const nets = u.networks.map((n) => `${n.name} (driver ${n.driver})`).join(' and ');
  const base = `on network ${nets}: its traffic there goes through the parent interface without passing the host's firewall, so dockgate filters none of it`;
  if (u.labels.length === 0) return base;
  const where = u.alsoManaged ? 'they apply only to its traffic through its bridge networks' : 'they do nothing for this container';
  return `${base}; its labels ${u.labels.join(', ')} open, close and forward nothing on that network: ${where}`;
}

/** Every running container with such attachments, in name order. */
export function unfirewalledContainers(
  containers: readonly ContainerFacts[],
  otherNetworks: readonly OtherNetwork[],
  labelPrefix: string,
): UnfirewalledContainer[] {
  const byId = new Map(otherNetworks.map((n) => [n.id, n]));
  return containers
    .map((c) => unfirewalledContainer(c, byId, labelPrefix))
    .filter((u): u is UnfirewalledContainer => u !== undefined)
    .sort((a, b) => (a.container < b.container ? -1 : a.container > b.container ? 1 : 0));
}
