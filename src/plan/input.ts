// Config + Docker facts → the planner's input. One place, so that `run`, `plan` and `status`
// compute exactly the same plan.
import type { Config } from '../config/schema.js';
import type { ContainerFacts, Family, GrantedClaim, HostSocket, Listener, NetworkFacts, OtherNetwork } from '../model/types.js';
import type { PlanInput } from './ruleset.js';
import type { BridgePort } from '../model/types.js';

export interface HostFacts {
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
  otherNetworks: readonly OtherNetwork[];
  listeners: readonly Listener[] | undefined;
  /** Listening sockets and their host-network owners (PlanInput.hostSockets); absent: not read. */
  hostSockets?: readonly HostSocket[];
  /** Claims granted before (the running daemon's memory, see PlanInput.granted); absent for a plan made from nothing. */
  granted?: readonly GrantedClaim[];
  /** The host end of each container interface (anti-spoofing); absent: none known. */
  bridgePorts?: readonly BridgePort[];
  /** Whether the host has IPv6 (then ip6tables rules are planned too). */
  ipv6: boolean;
  /** The families whose all.forwarding is 1 (PlanInput.adminRouting); absent: no routing guard. */
  adminRouting?: readonly Family[];
  /** The host's nameservers (PlanInput.resolvers); absent: none known. */
  resolvers?: readonly string[];
}

export function planInput(config: Config, facts: HostFacts): PlanInput {
  return {
    labelPrefix: config.labelPrefix,
    defaults: config.defaults,
    trustImageLabels: config.trustImageLabels,
    claimable: config.claimablePorts,
    containers: facts.containers,
    networks: facts.networks,
    otherNetworks: facts.otherNetworks,
    listeners: facts.listeners,
    hostSockets: facts.hostSockets,
    granted: facts.granted,
    ipv6: facts.ipv6,
    bridgePorts: facts.bridgePorts,
    ipv6Masquerade: config.ipv6Masquerade,
    adminRouting: facts.adminRouting,
    dropLog: config.drops.log ? { group: config.drops.nflogGroup, ratePerSecond: config.drops.ratePerSecond, burst: config.drops.burst } : undefined,
    resolvers: facts.resolvers,
  };
}
