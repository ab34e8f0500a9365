// doctor's checks of iptables itself: the tool and its backend, Docker's or dockgate's chains in
// the other backend, and dockgate's jump rules from the built-in chains. Pure.
import { JUMPS, MARK_TABLE, USER, isManagedChain, isMarkChain } from '../plan/chains.js';
import { jumpLine } from '../plan/render.js';
import { IncompatibleTableError, type KernelState, foreignRules, incompatibleTables, jumpCount, strayJumps } from '../plan/kernel-state.js';
import { DOCKER_CHAINS } from '../install/docker-chains.js';
import { type CheckResult, fail, ok, warn } from './check-result.js';
import type { DoctorFacts } from './facts.js';

export function checkIptables(f: DoctorFacts): CheckResult {
  const s = f.iptables;
  if (!s.found) return fail('iptables', `${s.command} not found: install the iptables package (or set iptables.save_command)`);
  if (s.error !== undefined || !s.state) return fail('iptables', `${s.command} failed: ${s.error ?? 'no output'}`);
  const managed = incompatibleTables(s.state);
  if (managed.length > 0) return fail('iptables', `${s.command}: ${new IncompatibleTableError(managed).message}`);
  const others = incompatibleTables(s.state, ['mangle', 'security']);
  if (others.length > 0) {
    return warn('iptables', `${s.version ?? s.command}: cannot show the ${others.join(', ')} table (native nft rules iptables cannot represent); dockgate does not write there`);
  }
  if (s.backend === 'unknown' || s.backend === undefined) return warn('iptables', `${s.version ?? s.command}: cannot tell the backend (nf_tables or legacy)`);
  return ok('iptables', `${s.version ?? s.command}: backend ${s.backend}`);
}

/** Why a check that reads these tables cannot judge them, if it cannot. */
export function unreadable(state: KernelState, tables: readonly string[]): string | undefined {
  const bad = incompatibleTables(state, tables);
  return bad.length > 0 ? `not checked: iptables-save cannot show the ${bad.join(', ')} table (see the iptables check)` : undefined;
}

/** Docker's or dockgate's chains, and rules that jump to them, in one backend's state. */
function foreignChains(state: KernelState): string[] {
  const out = new Set<string>();
  for (const [table, t] of state) {
    for (const [chain, rules] of t.chains) {
      // dockgate's by exact name (DOCKGATE-USER too: dockgate creates it); an admin's DOCKGATE-USER-BANS is not.
      const dockgate = isManagedChain(chain) || chain === USER || ((table as string) === MARK_TABLE && isMarkChain(chain));
      if (DOCKER_CHAINS.has(chain) || dockgate) out.add(`${table}/${chain}`);
      else if (rules.length > 0 && /^DOCKER/.test(chain)) out.add(`${table}/${chain}`);
    }
  }
  return [...out];
}

export function checkBackends(f: DoctorFacts): CheckResult {
  const active = f.iptables.backend;
  if (active !== 'nf_tables' && active !== 'legacy') return warn('iptables-backends', 'not checked: the active backend is unknown');
  const otherName = active === 'nf_tables' ? 'legacy' : 'nf_tables';
  const other = f.backends[otherName];
  if (!other || !other.found) return ok('iptables-backends', `only ${active} is installed`);
  if (!other.state) return warn('iptables-backends', `cannot read the ${otherName} backend with ${other.command}: ${other.error ?? 'no output'}`);
  const found = foreignChains(other.state);
  if (found.length === 0) return ok('iptables-backends', `${otherName} backend holds no Docker or dockgate chains`);
  return fail(
    'iptables-backends',
    `${otherName} backend holds ${found.join(', ')} while dockgate writes to ${active}: the kernel runs both, so those rules still decide packets. ` +
      `Remove them (${other.command} shows them), or point iptables.save_command/restore_command at the ${otherName} tools`,
  );
}
export function checkJumps(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('jumps', 'not checked: cannot read iptables');
  const why = unreadable(state, [...new Set(JUMPS.map((j) => j.table))]);
  if (why) return warn('jumps', why);
  const counts = JUMPS.map((j) => ({ j, n: jumpCount(state, j) }));
  const label = (j: (typeof JUMPS)[number]): string => `${j.table}/${j.builtin} -> ${j.target}`;
  const strays = strayJumps(state, JUMPS);
  const foreign = foreignRules(state);
  if (counts.every((c) => c.n === 0)) {
    return warn('jumps', "none of dockgate's jump rules are in place: dockgate is not running (yet), or `dockgate flush` ran");
  }
  const missing = counts.filter((c) => c.n === 0).map((c) => label(c.j));
  const doubled = counts.filter((c) => c.n > 1).map((c) => `${label(c.j)} (${c.n} times)`);
  const problems = [
    ...(missing.length ? [`missing ${missing.join(', ')}`] : []),
    ...(doubled.length ? [`duplicated ${doubled.join(', ')}`] : []),
  ];
  if (problems.length > 0) return fail('jumps', `${problems.join('; ')}: something removed or copied them; dockgate repairs this within sync.drift_check_ms if it is running`);
  const first = JUMPS.filter((j) => state.get(j.table)?.chains.get(j.builtin)?.[0] !== jumpLine(j)).map(label);
  if (strays.length > 0) return warn('jumps', `all ${JUMPS.length} in place, but older or misplaced dockgate jumps remain (dockgate removes them when it runs): ${strays.map((s) => `${s.table}/${s.builtin}: ${s.line}`).join('; ')}`);
  if (foreign.length > 0) {
    const shown = foreign.map((r) => (r.kind === 'chain' ? `${r.table}/${r.chain} (a dockgate chain)` : `${r.table}/${r.chain}: ${r.line}`));
    return warn('jumps', `all ${JUMPS.length} in place; rules dockgate did not write name its chains, and are left alone: ${shown.join('; ')}`);
  }
  if (first.length > 0) return warn('jumps', `all ${JUMPS.length} in place, but not first in ${first.join(', ')}: earlier rules can shadow them`);
  return ok('jumps', `all ${JUMPS.length} in place`);
}
