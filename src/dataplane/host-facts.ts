// What the host probes (src/dataplane/*-probe.ts) find: iptables in both backends, dockerd's
// flags, daemon.json, routes and forwarding sysctls, policy routing rules, other firewalls on the
// same hooks. Plain data judged by src/doctor/, defined here because the dataplane produces it
// and a lower layer must not import the doctor.
import type { ExternalInterfaces } from '../config/schema.js';
import type { Family, Mode } from '../model/types.js';
import type { MarkBit } from '../model/mark-bit.js';
import type { KernelState } from '../plan/kernel-state.js';
import type { JsonValue } from '../install/json-text.js';
import type { FlowVerdict } from '../hostfw/analysis.js';
import type { NftRuleset } from '../hostfw/nft-ruleset.js';
import type { Backend } from './iptables.js';

/** What one `*-save` command showed. */
export interface SaveFacts {
  command: string;
  /** False when the program is not installed at all. */
  found: boolean;
  /** First line of `--version`, e.g. 'iptables-save v1.8.9 (nf_tables)'. */
  version?: string;
  backend?: Backend;
  state?: KernelState;
  /** Why the save failed, when it did. */
  error?: string;
}

/** dockerd's command-line settings that matter here; undefined = flag not given. */
export interface DockerdFlags {
  pid: number;
  iptables?: boolean;
  ip6tables?: boolean;
  ipForward?: boolean;
  userlandProxy?: boolean;
  configFile?: string;
  /** `--bridge-accept-fwmark MARK[/MASK]` as given. */
  bridgeAcceptFwmark?: string;
}

export type DaemonJsonFacts =
  | { path: string; state: 'absent' }
  | { path: string; state: 'invalid'; error: string }
  | { path: string; state: 'ok'; settings: Record<string, JsonValue> };

/** One interface through which the host's routes reach a network, with the sysctls that decide whether it forwards. */
export interface RouteInterface {
  name: string;
  /** Whether a default route leaves by it (an uplink), not only routes to other networks (a LAN, a VPN). */
  uplink: boolean;
  /** The families whose routes leave by it. */
  families: Family[];
  /** net.ipv4.conf.NAME.forwarding; undefined when unreadable. */
  ipv4Forwarding: string | undefined;
  /** net.ipv6.conf.NAME.force_forwarding (Linux 6.17+); undefined when absent. */
  ipv6ForceForwarding?: string | undefined;
}

export type RouteFacts =
  | {
      ok: true;
      /** Docker's bridges and veths left out. */
      interfaces: RouteInterface[];
      /** Undefined: the host has no IPv6. */
      ipv6?: { allForwarding: string | undefined; forceForwardingKnown: boolean };
    }
  | { ok: false; error: string };

/** One family's `ip -j rule show`, as iproute2 prints it (`fwmark`/`fwmask` as hex strings). */
export type IpRuleFacts =
  | { family: 4 | 6; ok: true; rules: Array<Record<string, unknown>> }
  | { family: 4 | 6; ok: false; error: string };

export interface MarkBitFacts {
  /** `foreign_chains_mark`. */
  bit: MarkBit;
  ipRules: IpRuleFacts[];
}

export interface HostFirewallFacts {
  mode: 'allow' | 'leave';
  nft: { ok: true; ruleset: NftRuleset } | { ok: false; error: string; missing: boolean };
  /** /etc/ufw/ufw.conf says ENABLED=yes; undefined when ufw is not installed. */
  ufw: { enabled: boolean } | undefined;
  /** Signs of a running firewalld in this network namespace: its table, its process. */
  firewalld: string[];
  /** The plan's openings judged against the ruleset; undefined when there is no plan (Docker away). */
  footprint?: { needed: string[]; footprints: string[]; marksInPlace: boolean; verdicts: FlowVerdict[] };
  /** Why the openings could not be judged. */
  notJudged?: string;
}

/** Everything the host shows about itself; Docker's answers and the plan's come on top (doctor's DoctorFacts). */
export interface HostFacts {
  config: { defaultMode: Mode; externalInterfaces: ExternalInterfaces };
  /** The configured save command: the backend dockgate writes to. */
  iptables: SaveFacts;
  /** iptables-nft-save and iptables-legacy-save, when installed (both exist on Debian). */
  backends: { nf_tables?: SaveFacts; legacy?: SaveFacts };
  /** undefined: no dockerd process serving that socket is visible from here. */
  dockerd: DockerdFlags | undefined;
  daemonJson: DaemonJsonFacts;
  sysctl: {
    /** net.ipv4.conf.all.forwarding: '0', '1', or undefined when unreadable. */
    allForwarding: string | undefined;
    /** net.ipv6.conf.all.forwarding; undefined when the host has no IPv6 (or it is unreadable). */
    ipv6AllForwarding?: string | undefined;
    /** The listed external_interfaces (none in auto mode). undefined forwarding: the interface does not exist. */
    interfaces: Array<{ name: string; forwarding: string | undefined }>;
  };
  /** The interfaces the host's routes lead through and whether they forward. */
  routes: RouteFacts;
  /** The configured ip6tables save command; undefined when not probed. */
  ip6tables?: SaveFacts;
  /** `foreign_chains_mark` and the policy routing rules, for the `mark-bit` check; undefined when not probed. */
  markBit?: MarkBitFacts;
}
