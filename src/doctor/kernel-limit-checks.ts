// doctor's view of small and restricted kernels (Docker in LXC/Proxmox, a kernel without
// iptable_raw, no br_netfilter, no nf_tables bridge family): one line per piece, a warning where
// dockgate runs degraded, never a failure, since dockgate still enforces the labels without them.
import type { Family } from '../model/types.js';
import { type TableProbe, rawMissingMessage } from '../dataplane/kernel-limits.js';
import type { CheckResult } from './check-result.js';

export interface KernelLimitFacts {
  /** `save -t raw` per family the host has. */
  raw: ReadonlyArray<{ family: Family; probe: TableProbe }>;
  /** Whether /proc/sys/net/bridge exists (br_netfilter loaded); undefined: not looked at. */
  brNetfilter?: boolean;
  /** Whether the anti-spoofing table loads in a scratch namespace (nf_tables bridge family); undefined: not tried. */
  bridgeFamily?: { ok: true } | { ok: false; reason: string };
}

const PROGRAM: Record<Family, string> = { 4: 'iptables', 6: 'ip6tables' };

export function kernelLimitChecks(facts: KernelLimitFacts): CheckResult[] {
  const out: CheckResult[] = [];
  for (const { family, probe } of facts.raw) {
    const name = `raw-table:${PROGRAM[family]}`;
    if (probe.kind === 'available') out.push({ status: 'ok', name, detail: 'present: direct-access drops in DOCKGATE-RAW, before conntrack' });
    else if (probe.kind === 'missing') out.push({ status: 'warn', name, detail: `${rawMissingMessage(family)} (${probe.reason})` });
    else out.push({ status: 'warn', name, detail: `cannot tell whether the kernel has it: ${probe.reason}` });
  }
  if (facts.brNetfilter !== undefined) {
    out.push({
      status: 'ok',
      name: 'br-netfilter',
      detail: facts.brNetfilter
        ? 'loaded: traffic between containers of one bridge also passes filter FORWARD, where dockgate accepts it'
        : 'not loaded: dockgate does not need it (traffic inside one bridge never reaches iptables; anti-spoofing uses the nft bridge family)',
    });
  }
  if (facts.bridgeFamily !== undefined) {
    out.push(
      facts.bridgeFamily.ok
        ? { status: 'ok', name: 'nft-bridge', detail: 'anti-spoofing table loads (table bridge dockgate)' }
        : {
            status: 'warn',
            name: 'nft-bridge',
            detail: `the kernel cannot load the anti-spoofing table (no nf_tables bridge support): anti-spoofing is off, so a container with CAP_NET_RAW can send from addresses not its own (${facts.bridgeFamily.reason})`,
          },
    );
  }
  return out;
}
