// The marks that make dockgate's accepts count in other firewalls' nft base chains. Pure:
// RuleSet → mangle chains, and mangle chains + what iptables-save shows → restore text.
//
// In nftables an accept in one base chain does not stop another base chain on the same hook from
// dropping. So dockgate marks, in iptables' mangle INPUT and FORWARD (priority -150, before any
// filter chain), exactly the packets its filter chains accept, and keeps one
// `meta mark & BIT == BIT accept comment "dockgate"` directly before the final drop of each foreign
// base chain that would drop them (below the rules that drop only some packets: bans stay bans). The mangle chains mirror the filter chains of the plan, line for line:
//   -j ACCEPT  → -j MARK --set-xmark BIT/BIT (the packet dockgate accepts is marked)
//   -j RETURN  → -j RETURN (guards: what dockgate leaves to the admin stays unmarked)
//   -j DOCKGATE-X → -j DOCKGATE-MX (same structure, so one container's change touches its own chains)
//   -j DROP, jumps elsewhere → left out: a packet dockgate's filter drops is dropped whatever
//   any other chain says, so marking it or not changes nothing.
// Order is kept, so a packet is marked iff dockgate's filter chains accept it.
import type { ChainPlan, JumpRule, RuleSet, Table } from '../model/types.js';
import { RETURN, type Rule } from '../model/rule.js';
import { MARK_TABLE, isManagedChain, isMarkChain, markChainName } from './chains.js';
import { type DriftReport, type KernelState, type TableState, compare } from './kernel-state.js';
import { DEFAULT_MARK_BIT, type MarkBit } from '../model/mark-bit.js';
import { renderFlush, renderFull } from './restore.js';

export { MARK_TABLE, isMarkChain, markChainName };

/**
 * The default of `foreign_chains_mark` (bit 24), chosen clear of the defaults of the tools a
 * Docker host is likely to run beside dockgate, as their sources say:
 * - kube-proxy and kubelet: 0x4000 to masquerade, 0x8000 to drop (kubernetes/kubernetes,
 *   pkg/proxy/apis/config/v1alpha1/defaults.go `MasqueradeBit` 14 and
 *   pkg/kubelet/apis/config/v1beta1/defaults.go `DefaultIPTablesDropBit` 15).
 * - Tailscale: the byte 0xff0000 (0x40000 subnet routes, 0x80000 bypass; tailscale/tailscale,
 *   tsconst/linuxfw.go `LinuxFwmarkMask`).
 * - wg-quick: 51820 = 0xca6c as a whole value (`ip rule not fwmark 51820`), the first free
 *   table number from there if 51820 is taken (WireGuard/wireguard-tools, src/wg-quick/linux.bash).
 * - Istio sidecars in TPROXY mode: 1337 = 0x539 as a whole value (`--set-mark 1337`,
 *   ISTIO_INBOUND_TPROXY_MARK's default in istio/istio tools/istio-iptables), in the pod's
 *   namespace, not the host's.
 * Not clear of it, so not for hosts that run them:
 * - Cilium uses all 32 bits: magic values in 0x0f00 (0x0a00 ingress proxy, 0x0b00 egress, 0x0c00
 *   host, 0x0e00 encrypt, 0x0200 to proxy...), 0x1000 with them (0x1e00 WireGuard), kube-proxy's
 *   0x4000/0x8000, and a security identity in the rest: its low 16 bits in 0xffff0000, so bit 24
 *   is identity bit 8 (cilium/cilium, pkg/datapath/linux/linux_defaults/mark.go).
 * - Calico's Felix claims `IptablesMarkMask` 0xffff0000 (0xff000000 in older releases;
 *   projectcalico/calico felix/config/config_params.go).
 * Whichever bit is configured, doctor's `mark-bit` check names the tools on this host that use it.
 */
export const DEFAULT_FOOTPRINT_MARK: MarkBit = DEFAULT_MARK_BIT;
/** iptables' mangle INPUT/FORWARD priority: foreign chains after it see the mark. */
export const MANGLE_PRIORITY = -150;

/**
 * The mangle chains that set `bit` on what the plan's filter INPUT and FORWARD chains accept, and
 * the jumps to them: a RuleSet of the mangle table, written by the same reconciler as the plan
 * (src/dataplane/dataplane.ts). A new bit changes every MARK rule, so the next write moves the
 * marks whole.
 */
export function markPlan(plan: RuleSet, bit: MarkBit = DEFAULT_MARK_BIT): RuleSet {
  const filter = new Map(plan.chains.filter((c) => c.table === 'filter').map((c) => [c.name, c]));
  const chains = new Map<string, ChainPlan>();
  const mirror = (c: ChainPlan): void => {
    const name = markChainName(c.name);
    if (chains.has(name)) return;
    const rules: Rule[] = [];
    chains.set(name, { table: MARK_TABLE, name, kind: c.kind, rules });
    for (const r of c.rules) {
      const a = r.action;
      if (a.kind === 'accept') rules.push({ ...r, action: { kind: 'mark', bit } });
      else if (a.kind === 'return') rules.push({ ...r, action: RETURN });
      // DOCKGATE-USER is the admin's: what it does is theirs to mark or not.
      else if (a.kind === 'jump' && filter.has(a.chain) && isManagedChain(a.chain)) {
        mirror(filter.get(a.chain)!);
        rules.push({ ...r, action: { kind: 'jump', chain: markChainName(a.chain) } });
      }
    }
  };
  const jumps: JumpRule[] = [];
  for (const j of plan.jumps) {
    if (j.table !== 'filter' || (j.builtin !== 'INPUT' && j.builtin !== 'FORWARD')) continue;
    const top = filter.get(j.target);
    if (!top) continue;
    mirror(top);
    // At the top, like the filter jumps: the marks must be set whatever the admin's mangle rules do.
    jumps.push({ table: MARK_TABLE, builtin: j.builtin, match: {}, target: markChainName(j.target), position: 'first' });
  }
  return { chains: [...chains.values()], jumps, containers: [] };
}

/** The tables the marks' dataplane reads and writes. */
export const MARK_TABLES: readonly Table[] = [MARK_TABLE];

const stateOf = (mangle: TableState | undefined): KernelState => new Map(mangle ? [[MARK_TABLE, mangle]] : []);

/** How the mangle table differs from the marks `want` (the plan's comparison, on mangle). */
export function marksDrift(want: RuleSet, mangle: TableState | undefined): DriftReport {
  return compare(want, stateOf(mangle), MARK_TABLES);
}

/**
 * The whole of the marks as iptables-restore text, as on a table without them (`dockgate plan`),
 * or, against what the mangle table holds, what turns it into `want` (undefined: no marks at
 * all); '' when it holds that already. Throws IncompatibleTableError for a table iptables-save
 * could not show: read as empty, it would get a second jump and its chains rewritten blind.
 */
export function renderMarks(want: RuleSet | undefined, mangle: TableState | undefined): string {
  const state = stateOf(mangle);
  if (want && mangle && marksDrift(want, mangle).clean) return '';
  const texts = want ? renderFull(want, state, MARK_TABLES) : renderFlush(state, MARK_TABLES);
  return texts.get(MARK_TABLE) ?? '';
}
