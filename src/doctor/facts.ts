// Everything `dockgate doctor` judges: the host's facts (src/dataplane/host-facts.ts), Docker's
// answers, and what the plan of the running containers needs. Pure derivations from a plan are here too.
import type { HostFacts, HostFirewallFacts } from '../dataplane/host-facts.js';
import type { DockerFacts } from '../docker/info.js';
import type { ContainerFacts, NetworkFacts, RuleSet } from '../model/types.js';
import { bracketed, describeHostPort } from '../model/format.js';
import type { UnfirewalledContainer } from '../plan/unfirewalled.js';
import { familyOf } from '../net/address.js';

/** What needs the uplink to forward: replies to egress, dnat clients. From the plan of the containers running now. */
export interface ForwardingUse {
  /** Containers whose egress is on. */
  egress: string[];
  /** dnat openings, as `container host:port/proto`. */
  dnat: string[];
  /** Whether a managed network has IPv6 subnets (then IPv6 forwarding counts too). */
  ipv6: boolean;
}

export interface DoctorFacts extends HostFacts {
  docker: DockerFacts;
  /** Whether egress or dnat is in use; undefined when Docker could not be asked. */
  use?: ForwardingUse;
  /** Host-port claims the plan refuses (`container: reason`); undefined when Docker could not be asked. */
  ownership?: string[];
  /** Ports Docker publishes on `::` or an IPv6 address, as `container [::]:8080/tcp`; undefined when Docker could not be asked. */
  ipv6Published?: string[];
  /** Other firewalls on the same hooks (nft tables, firewalld, ufw) and the openings' verdicts. */
  hostFirewall?: HostFirewallFacts;
  /** Running containers on macvlan or ipvlan networks; undefined when Docker could not be asked. */
  unfirewalled?: UnfirewalledContainer[];
}

/** What of the plan needs forwarding on the uplink. Pure. */
export function forwardingUse(plan: RuleSet, networks: readonly NetworkFacts[]): ForwardingUse {
  return {
    egress: plan.containers.filter((c) => c.egress).map((c) => c.name),
    dnat: plan.containers.flatMap((c) =>
      c.openings.filter((o) => o.mode === 'dnat').map((o) => `${c.name} ${describeHostPort(o)}`),
    ),
    ipv6: networks.some((n) => !n.internal && n.subnets6.length > 0),
  };
}

/** The ports Docker binds on IPv6 addresses (a plain -p binds `::` too), labelled or not. */
export function ipv6Published(containers: readonly ContainerFacts[]): string[] {
  return containers.flatMap((c) =>
    c.ports.filter((b) => b.hostPort > 0 && familyOf(b.hostIp) === 6).map((b) => `${c.name} ${bracketed(b.hostIp)}:${b.hostPort}/${b.protocol}`),
  );
}

/** The ownership refusals of a plan, as `container: reason` (claims lost to a -p binding, an older claimant, a host listener, the range). */
export function ownershipConflicts(plan: RuleSet): string[] {
  return plan.containers.flatMap((c) =>
    c.errors.filter((e) => /claimable_ports|published with -p by|also claimed by|listens on|own -p binding/.test(e.reason)).map((e) => `${c.name}: ${e.reason}`),
  );
}
