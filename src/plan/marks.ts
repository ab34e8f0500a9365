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
import type { ChainPlan, RuleSet, Table } from '../model/types.js';
import { RETURN, type Rule } from '../model/rule.js';
import { JUMP_COMMENT, MARK_TABLE, isManagedChain, isMarkChain, markChainName } from './chains.js';
import { type TableState, assertReadable, sameChain } from './kernel-state.js';
import { DEFAULT_MARK_BIT, type MarkBit } from '../model/mark-bit.js';
import { linesOf, renderRule } from './render.js';

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

export interface MarkChain {
  name: string;
  kind: ChainPlan['kind'];
  rules: Rule[];
}

export interface MarkPlan {
  chains: MarkChain[];
  /** One jump per mangle built-in chain, as iptables-save prints it after `-A BUILTIN `. */
  jumps: Array<{ builtin: 'INPUT' | 'FORWARD'; line: string }>;
}

/**
 * The mangle chains that set `bit` on what the plan's filter INPUT and FORWARD chains accept.
 * A new bit changes every MARK line, so the next write moves the marks whole.
 */
export function markPlan(plan: RuleSet, bit: MarkBit = DEFAULT_MARK_BIT): MarkPlan {
  const filter = new Map(plan.chains.filter((c) => c.table === 'filter').map((c) => [c.name, c]));
  const chains = new Map<string, MarkChain>();
  const mirror = (c: ChainPlan): void => {
    const name = markChainName(c.name);
    if (chains.has(name)) return;
    const rules: Rule[] = [];
    chains.set(name, { name, kind: c.kind, rules });
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
  const jumps: MarkPlan['jumps'] = [];
  for (const j of plan.jumps) {
    if (j.table !== 'filter' || (j.builtin !== 'INPUT' && j.builtin !== 'FORWARD')) continue;
    const top = filter.get(j.target);
    if (!top) continue;
    mirror(top);
    jumps.push({ builtin: j.builtin, line: renderRule({ match: {}, action: { kind: 'jump', chain: markChainName(j.target) }, comment: JUMP_COMMENT }) });
  }
  // Mirrors no accept reaches are left out, with the jumps to them.
  return { chains: [...chains.values()], jumps };
}

const OUR_COMMENTED_JUMP = new RegExp(`(?:^| )-m comment --comment ${JUMP_COMMENT} -j (\\S+)$`);
/** A jump dockgate wrote into one of its mark chains (it carries dockgate's comment). */
const isOurJump = (line: string): boolean => {
  const target = OUR_COMMENTED_JUMP.exec(line)?.[1];
  return target !== undefined && isMarkChain(target);
};
const OUR_BUILTINS = ['INPUT', 'FORWARD'];

/**
 * Mark chains a rule dockgate does not manage jumps or goes to: the kernel refuses to delete a
 * chain in use, and one refused `-X` fails the whole mangle write, so these are emptied and kept.
 */
function pinnedMarkChains(have: ReadonlyMap<string, readonly string[]>): Set<string> {
  const out = new Set<string>();
  for (const [chain, rules] of have) {
    if (isMarkChain(chain)) continue;
    for (const line of rules) {
      const target = /(?:^| )-[jg] (\S+)$/.exec(line)?.[1];
      if (target === undefined || !isMarkChain(target)) continue;
      // Our own jumps are deleted in the same write, before any chain is.
      if (OUR_BUILTINS.includes(chain) && isOurJump(line)) continue;
      out.add(target);
    }
  }
  return out;
}

export interface MarkDrift {
  /** Chains missing or different: rewritten whole. */
  chains: string[];
  /** Our chains the plan no longer has: emptied, and deleted unless in `pinned`. */
  extra: string[];
  /** Extra chains a rule dockgate did not write jumps to: emptied, never deleted. */
  pinned: string[];
  /** Jumps to add (missing) and lines to delete (duplicated or stray). */
  addJumps: Array<{ builtin: string; line: string }>;
  deleteJumps: Array<{ builtin: string; line: string }>;
  clean: boolean;
}

/** What differs between the wanted marks (undefined: none at all) and the mangle table. */
export function markDrift(want: MarkPlan | undefined, mangle: TableState | undefined): MarkDrift {
  const have = mangle?.chains ?? new Map<string, string[]>();
  const chains = (want?.chains ?? []).filter((c) => !have.has(c.name) || !sameChain(c.kind, linesOf(c), have.get(c.name)!)).map((c) => c.name);
  const wanted = new Set((want?.chains ?? []).map((c) => c.name));
  const pinnedAll = pinnedMarkChains(have);
  // Emptied but kept because an admin rule jumps to it: as far as dockgate can go, so no drift.
  const extra = [...have.keys()].filter((n) => isMarkChain(n) && !wanted.has(n) && !(pinnedAll.has(n) && have.get(n)!.length === 0));
  const pinned = extra.filter((n) => pinnedAll.has(n));
  const addJumps: MarkDrift['addJumps'] = [];
  const deleteJumps: MarkDrift['deleteJumps'] = [];
  for (const builtin of OUR_BUILTINS) {
    const lines = have.get(builtin) ?? [];
    const mine = (want?.jumps ?? []).filter((j) => j.builtin === builtin).map((j) => j.line);
    for (const line of mine) {
      const n = lines.filter((l) => l === line).length;
      if (n === 0) addJumps.push({ builtin, line });
      for (let i = 1; i < n; i++) deleteJumps.push({ builtin, line });
    }
    for (const l of lines) if (isOurJump(l) && !mine.includes(l)) deleteJumps.push({ builtin, line: l });
  }
  return { chains, extra, pinned, addJumps, deleteJumps, clean: chains.length + extra.length + addJumps.length + deleteJumps.length === 0 };
}

/**
 * iptables-restore --noflush text that turns the mangle table into `want`; '' when nothing differs.
 * Throws IncompatibleTableError when iptables-save could not show the table: read as empty, it
 * would get a second jump on top of the one it holds, and its chains rewritten blind.
 */
export function renderMarks(want: MarkPlan | undefined, mangle: TableState | undefined): string {
  if (mangle) assertReadable(new Map([[MARK_TABLE as Table, mangle]]), [MARK_TABLE]);
  const d = markDrift(want, mangle);
  if (d.clean) return '';
  const byName = new Map((want?.chains ?? []).map((c) => [c.name, c]));
  const declare: string[] = [];
  const add: string[] = [];
  // Declaring a chain in --noflush mode empties it (or creates it).
  for (const name of d.chains) {
    declare.push(`:${name} - [0:0]`);
    for (const r of linesOf(byName.get(name)!)) add.push(`-A ${name} ${r}`);
  }
  for (const name of d.extra) declare.push(`:${name} - [0:0]`);
  const remove = d.deleteJumps.map((j) => `-D ${j.builtin} ${j.line}`);
  // At the top, like the filter jumps: the marks must be set whatever the admin's mangle rules do.
  for (const j of d.addJumps) add.push(`-I ${j.builtin} 1 ${j.line}`);
  const destroy = d.extra.filter((n) => !d.pinned.includes(n)).map((n) => `-X ${n}`);
  return ['*mangle', ...declare, ...remove, ...add, ...destroy, 'COMMIT', ''].join('\n');
}
