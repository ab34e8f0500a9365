// What dockgate knows of the host and Docker: containers, networks, sockets, bridge ports, as read
// from `docker inspect`, the kernel and /proc. Plain data only.
import type { Protocol } from './rule.js';

export type Family = 4 | 6;

/** One `-p` binding as Docker reports it (NetworkSettings.Ports). */
export interface PortBinding {
  containerPort: number;
  protocol: Protocol;
  /** '0.0.0.0', '::' or a concrete address; '' is normalised to '0.0.0.0' by docker/. */
  hostIp: string;
  hostPort: number;
}

/** A container's attachment to one Docker network. */
export interface NetworkAttachment {
  networkId: string;
  networkName: string;
  /** The container's IPv4 address on that network; absent: it has none there. */
  ipv4?: string;
  /** Its global IPv6 address there; absent: none (an IPv4-only network, or no --ipv6). */
  ipv6?: string;
  /**
   * The container's MAC address on that network (lower case), undefined when Docker gave none.
   * Anti-spoofing holds the interface to it, and its IPv6 link-local address derives from it.
   */
  mac?: string;
}

/** What dockgate needs to know of one running container, taken from `docker inspect`. */
export interface ContainerFacts {
  id: string;
  /** Without Docker's leading '/'. */
  name: string;
  /** As Docker reports them: the image's labels merged with those given to `docker run`. */
  labels: Record<string, string>;
  /** Which of `labels` may be the image's rather than the admin's. */
  image: ContainerImage;
  networks: NetworkAttachment[];
  ports: PortBinding[];
  /**
   * Docker's creation time, RFC 3339 in UTC with nine fraction digits so that text order is time
   * order. Decides which container owns a host port that several labels claim: it survives
   * restarts, so the winner never flips.
   */
  created: string;
  /**
   * The pid of the container's init process (Docker's State.Pid), through whose network
   * namespace the host end of each of its interfaces is found. Absent when Docker gave none.
   */
  pid?: number;
  /**
   * Docker's start time of this run (State.StartedAt), in the form of `created`; a restart
   * changes it. Tells one run from the next, so a claim granted to a run ends with it. Absent
   * when Docker did not report it.
   */
  started?: string;
  /**
   * `--network host` (HostConfig.NetworkMode): it shares the host's network namespace, so its
   * ports are sockets on the host itself and its openings come from what it listens on
   * (plan/host-network.ts). Absent for every other network mode.
   */
  hostNetwork?: true;
}

/**
 * The image a container was created from, as far as its labels go. Docker copies an image's
 * LABELs into every container made from it and reports them as the container's own, so a label
 * whose value equals the image's may be the image author's word rather than the admin's.
 */
export type ContainerImage =
  /** `sameAsImage`: the keys of the container's labels whose value equals the image's own, sorted. */
  | { kind: 'inspected'; ref: string; sameAsImage: string[] }
  /** The image cannot be inspected (removed while the container lives): any label may be its. */
  | { kind: 'unknown'; ref: string; reason: string };

/**
 * A label under the prefix that may be the image's, and what dockgate made of it: it never opens
 * or widens anything (`ignored`), but one that only takes away still counts (`restricts`), so an
 * image cannot cancel the admin's own `egress=false` or `from` by carrying the same value.
 */
export interface ImageLabel {
  /** Full label key, e.g. 'dockgate.ports'. */
  label: string;
  /** Its value, cut to 200 characters for logs. */
  value: string;
  /** The image as the container names it (ContainerImage.ref). */
  image: string;
  /** `same-value`: the image carries this very value; `image-unknown`: the image cannot be inspected. */
  why: 'same-value' | 'image-unknown';
  effect: 'ignored' | 'restricts';
}

/** The host end (a veth on the network's bridge) of one container's interface, as the kernel reports it. */
export interface BridgePort {
  containerId: string;
  networkId: string;
  /** The host-side interface, a port of the network's bridge. */
  port: string;
}

/** A Docker bridge network dockgate manages. */
export interface NetworkFacts {
  id: string;
  name: string;
  /** The Linux bridge interface (com.docker.network.bridge.name, else br-<12 hex>). */
  bridge: string;
  /** IPv4 subnets in CIDR form. */
  subnets: string[];
  /** IPv6 subnets in CIDR form (only for networks created with --ipv6). */
  subnets6: string[];
  /** `docker network create --internal`: nothing dockgate writes lets traffic in or out of it. */
  internal: boolean;
}

/** A Docker network whose driver is not `bridge` (macvlan, ipvlan, overlay, host): not firewalled by dockgate. */
export interface OtherNetwork {
  id: string;
  name: string;
  driver: string;
}

/** A socket a host process listens on; a label may never claim its port (dnat without -p). */
export interface Listener {
  protocol: Protocol;
  /** Local address, or undefined for every address (0.0.0.0 or ::). */
  ip: string | undefined;
  port: number;
}

/** Who holds a listening socket: a process of one host-network container, or anyone else (the host, another container). */
export type SocketOwner = { kind: 'container'; id: string } | { kind: 'other' };

/**
 * A listening socket in the network namespace the daemon runs in, the one `--network host`
 * containers share, with its owner (dataplane/host-sockets.ts): what a host-network container's
 * `dockgate.ports` may open.
 */
export interface HostSocket {
  protocol: Protocol;
  /**
   * The table it is listed in (/proc/net/tcp or tcp6). A wildcard in tcp6 takes IPv4 as well
   * unless the socket is IPv6-only, which the kernel does not show there.
   */
  table: Family;
  /** Local address, or undefined for every address (0.0.0.0 or ::). A v4-mapped address is its IPv4 form. */
  ip: string | undefined;
  port: number;
  owner: SocketOwner;
}
