// doctor's view of the host's firewall shape: which firewalls run beside dockgate's iptables
// chains (native nft tables, firewalld, ufw, the other iptables backend), their base chains on
// the hooks dockgate's openings pass, and whether every current opening gets through them.
// Pure: the facts are collected by src/dataplane/host-firewall-probe.ts.
import { describeHostPort } from '../model/format.js';
import { type NftChain, type NftRuleset, isIptablesTable } from '../hostfw/nft-ruleset.js';
import { byEgress, byOpening, describeEffect } from '../hostfw/report.js';
import type { KernelState } from '../plan/kernel-state.js';
import { type CheckResult, fail, ok, warn } from './check-result.js';
import type { DoctorFacts } from './facts.js';

const HOOKS = new Set(['input', 'forward', 'prerouting', 'postrouting', 'output']);

function describeChain(c: NftChain): string {
  const b = c.base!;
  return `${c.name} (${b.type} hook ${b.hook} priority ${b.prio}${b.type === 'filter' ? `, policy ${b.policy}` : ''})`;
}

/** Tables of the other backend holding rules or a non-ACCEPT policy: they decide packets too. */
function busyTables(state: KernelState | undefined): string[] {
  const out: string[] = [];
  for (const [table, t] of state ?? []) {
    const rules = [...t.chains.values()].reduce((n, r) => n + r.length, 0);
    const drops = [...t.policies.entries()].filter(([, p]) => p !== 'ACCEPT' && p !== '-').map(([c, p]) => `${c} ${p}`);
    if (rules > 0 || drops.length > 0) out.push(`${table} (${rules} rules${drops.length ? `, policy ${drops.join(', ')}` : ''})`);
  }
  return out;
}

/** What runs on this host's hooks. Warns only about what dockgate cannot see or open. */
export function checkFirewallShape(f: DoctorFacts): CheckResult {
  const h = f.hostFirewall;
  if (!h) return warn('host-firewall', 'not checked');
  const parts: string[] = [`iptables backend ${f.iptables.backend ?? 'unknown'}`];
  const legacy = f.iptables.backend === 'nf_tables' ? busyTables(f.backends.legacy?.state) : [];
  parts.push(legacy.length > 0 ? `iptables-legacy tables in use: ${legacy.join('; ')}` : 'no iptables-legacy rules');
  if (h.nft.ok) {
    const tables = h.nft.ruleset.tables.filter((t) => !isIptablesTable(t.family, t.name));
    const shown = tables.map((t) => {
      const chains = h.nft.ok ? h.nft.ruleset.chains.filter((c) => c.family === t.family && c.table === t.name && c.base && HOOKS.has(c.base.hook)) : [];
      return `${t.family} ${t.name}${chains.length ? `: ${chains.map(describeChain).join(', ')}` : ''}`;
    });
    parts.push(shown.length > 0 ? `nft tables beside iptables: ${shown.join('; ')}` : 'no nft tables beside iptables');
  } else {
    parts.push(`nft ruleset not readable (${h.nft.error})`);
  }
  const ufwChains = [...(f.iptables.state?.get('filter')?.chains.keys() ?? [])].filter((c) => c.startsWith('ufw-')).length;
  parts.push(h.ufw === undefined ? 'ufw not installed' : `ufw ${h.ufw.enabled ? 'enabled' : 'disabled'}${ufwChains ? ` (${ufwChains} ufw-* chains in iptables, after dockgate's jumps)` : ''}`);
  parts.push(h.firewalld.length > 0 ? `firewalld running (${h.firewalld.join(', ')})` : 'firewalld not running');
  // The other backend's rules run too, in the same hooks, and dockgate neither sees nor opens them.
  if (legacy.length > 0) return warn('host-firewall', `${parts.join('; ')}: the legacy tables filter packets as well, and dockgate cannot open them`);
  return ok('host-firewall', parts.join('; '));
}

/** Fails when any current opening (or egress) cannot pass another firewall's base chain. */
export function checkForeignChains(f: DoctorFacts): CheckResult {
  const h = f.hostFirewall;
  if (!h) return warn('foreign-chains', 'not checked');
  if (!h.nft.ok) {
    if (h.nft.missing) return warn('foreign-chains', `nft is not installed, so other firewalls' nft chains cannot be read (firewalld writes them without it): install nftables`);
    return fail('foreign-chains', `cannot read the nft ruleset: ${h.nft.error}; openings are not known to pass other firewalls`);
  }
  if (!h.footprint) return warn('foreign-chains', `openings not checked: ${h.notJudged ?? 'no plan'}`);
  const { verdicts, needed, footprints } = h.footprint;
  const openings = [...byOpening(verdicts)].filter(([, e]) => e.state !== 'effective');
  const egress = [...byEgress(verdicts)].filter(([, e]) => e.state !== 'effective');
  if (openings.length + egress.length === 0) {
    const kept = footprints.length > 0 ? `; dockgate's mark accept is in ${footprints.join(', ')}` : '';
    return ok('foreign-chains', `${verdicts.length === 0 ? 'no openings' : 'every opening passes'} the ${needed.length + footprints.length === 0 ? 'other firewalls' : 'other firewalls\' chains'}${kept}`);
  }
  const names = new Map(verdicts.map((v) => [v.containerId, v.container]));
  const lines = [
    ...openings.map(([o, e]) => {
      const v = verdicts.find((x) => x.opening === o)!;
      return `${v.container} ${describeHostPort(o)}: ${describeEffect(e)}`;
    }),
    ...egress.map(([id, e]) => `${names.get(id)} egress: ${describeEffect(e)}`),
  ];
  const fix =
    h.mode === 'leave'
      ? 'foreign_chains is leave: open these in that firewall, or set foreign_chains: allow'
      : needed.some((n) => !footprints.includes(n))
        ? `dockgate adds its mark accept to ${needed.filter((n) => !footprints.includes(n)).join(', ')} while it runs (is it running?)`
        : 'these chains drop before dockgate can mark the packets (or in hooks it does not mark): open the ports there';
  return fail('foreign-chains', `${lines.join('; ')}. ${fix}`);
}

/**
 * firewalld rewrites its whole table on every reload and start; dockgate's mark accept comes
 * back at its next drift check. Fails when firewalld runs and an opening does not pass it now.
 */
export function checkFirewalld(f: DoctorFacts): CheckResult {
  const h = f.hostFirewall;
  if (!h || h.firewalld.length === 0) return ok('firewalld', 'not running');
  const blocked = (h.footprint?.verdicts ?? []).filter((v) => v.state !== 'effective' && v.blockers.some((b) => b.chain.startsWith('inet firewalld ')));
  if (!h.footprint) return fail('firewalld', `firewalld runs (${h.firewalld.join(', ')}) and dockgate could not judge its chains: ${h.notJudged ?? 'nft unreadable'}`);
  if (blocked.length > 0) {
    const chains = [...new Set(blocked.flatMap((v) => v.blockers.map((b) => b.chain)).filter((c) => c.startsWith('inet firewalld ')))];
    return fail(
      'firewalld',
      `firewalld runs and ${chains.join(', ')} drop${chains.length === 1 ? 's' : ''} ${blocked.length} of dockgate's flows; ` +
        (h.mode === 'leave' ? 'with foreign_chains: leave, open them in firewalld (firewall-cmd --add-port, or a policy)' : 'dockgate puts its mark accept back within sync.drift_check_ms after a reload; if this stays, is dockgate running?'),
    );
  }
  return ok('firewalld', `runs (${h.firewalld.join(', ')}); every opening passes its chains${h.mode === 'allow' ? "; after each reload dockgate's mark accept comes back within sync.drift_check_ms" : ''}`);
}

export function checkHostFirewall(f: DoctorFacts): CheckResult[] {
  if (!f.hostFirewall) return [];
  return [checkFirewallShape(f), checkForeignChains(f), checkFirewalld(f)];
}
