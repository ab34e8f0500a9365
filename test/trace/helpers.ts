// Kernel states for the tracer's tests: the planner's own restore text turned into what
// iptables-save would print after dockgate wrote it on a host with an admin's firewall, and the
// host's interfaces. Shared by test/trace and test/plan/behaviour.test.ts.
import type { Family, RuleSet } from '../../src/model/types.js';
import type { HostInterface } from '../../src/net/addresses.js';
import { type KernelState, parseSave } from '../../src/plan/kernel-state.js';
import { renderPlan } from '../../src/plan/restore.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import type { HostView } from '../../src/trace/host.js';
import { type TracePacket, type TraceResult, trace } from '../../src/trace/trace.js';

const BUILTINS: Record<string, string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** The admin's own firewall around dockgate's chains. Keys are 'table/CHAIN'. */
export interface AdminFirewall {
  /** Built-in policies, e.g. { 'filter/INPUT': 'DROP' } (default ACCEPT). */
  policies?: Record<string, 'ACCEPT' | 'DROP'>;
  /** Rules above dockgate's jump (inserted by the admin after dockgate started). */
  before?: Record<string, string[]>;
  /** Rules below dockgate's jump, or in a chain of the plan (DOCKGATE-USER) or of the admin's own. */
  rules?: Record<string, string[]>;
}

/** The hand-kept firewall of README and the e2e suite: INPUT and FORWARD policy DROP, lo and replies accepted. */
export const HAND_KEPT: AdminFirewall = {
  policies: { 'filter/INPUT': 'DROP', 'filter/FORWARD': 'DROP' },
  rules: { 'filter/INPUT': ['-i lo -j ACCEPT', '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT'] },
};

/**
 * What `iptables-save` (or ip6tables-save) prints once dockgate wrote `plan` with
 * iptables-restore --noflush on a host holding `admin`: renderPlan's text, its `-I BUILTIN 1`
 * jumps put first in their chains, the admin's policies and rules added.
 */
export function saveText(plan: RuleSet, family: Family, admin: AdminFirewall = {}): string {
  const rules = familyRuleSet(plan, family);
  if (!rules) throw new Error(`the plan has no IPv${family} rules`);
  const text = renderPlan(rules);
  const out: string[] = [];
  const tables = new Set<string>();
  for (const block of text.split('COMMIT\n').filter((b) => b.trim() !== '')) {
    const lines = block.split('\n').filter((l) => l !== '');
    const table = lines[0]!.slice(1);
    tables.add(table);
    out.push(...tableText(table, lines.slice(1), admin));
  }
  // Tables dockgate does not write but the admin does.
  for (const key of [...Object.keys(admin.rules ?? {}), ...Object.keys(admin.before ?? {}), ...Object.keys(admin.policies ?? {})]) {
    const table = key.split('/')[0]!;
    if (tables.has(table)) continue;
    tables.add(table);
    out.push(...tableText(table, [], admin));
  }
  return out.join('\n') + '\n';
}

function tableText(table: string, lines: string[], admin: AdminFirewall): string[] {
  const declared = lines.filter((l) => l.startsWith(':'));
  const jumps = new Map<string, string[]>();
  const appended: string[] = [];
  for (const l of lines) {
    const ins = /^-I (\S+) 1 (.*)$/.exec(l);
    if (ins) jumps.set(ins[1]!, [...(jumps.get(ins[1]!) ?? []), ins[2]!]);
    else if (l.startsWith('-A ')) appended.push(l);
  }
  const builtins = BUILTINS[table] ?? ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'];
  const own = (kind: 'before' | 'rules', chain: string): string[] => admin[kind]?.[`${table}/${chain}`] ?? [];
  const userChains = Object.keys({ ...admin.rules, ...admin.before })
    .filter((k) => k.startsWith(`${table}/`))
    .map((k) => k.slice(table.length + 1))
    .filter((c) => !builtins.includes(c) && !declared.some((d) => d.startsWith(`:${c} `)));
  const out = [`*${table}`];
  for (const b of builtins) out.push(`:${b} ${admin.policies?.[`${table}/${b}`] ?? 'ACCEPT'} [0:0]`);
  out.push(...declared, ...userChains.map((c) => `:${c} - [0:0]`));
  for (const b of builtins) {
    for (const r of [...own('before', b), ...(jumps.get(b) ?? []), ...own('rules', b)]) out.push(`-A ${b} ${r}`);
  }
  out.push(...appended);
  for (const c of [...declared.map((d) => d.slice(1).split(' ')[0]!), ...userChains]) {
    for (const r of own('rules', c)) out.push(`-A ${c} ${r}`);
  }
  out.push('COMMIT');
  return out;
}

export function kernelOf(plan: RuleSet, family: Family, admin: AdminFirewall = HAND_KEPT): KernelState {
  return parseSave(saveText(plan, family, admin));
}

const iface = (name: string, addrs: string[], loopback = false): HostInterface => ({
  name,
  loopback,
  addresses: addrs.map((a) => {
    const [address, len] = a.split('/');
    return { family: address!.includes(':') ? 6 : 4, address: address!, prefixLen: Number(len) };
  }),
});

/**
 * The test host: 10.0.0.5/24 and 2001:db8:5::5/64 on eth0 (the default routes), docker0
 * 172.17.0.1/16, the dual-stack user network's bridge, and lo.
 */
export const HOST: HostView = {
  interfaces: [
    iface('lo', ['127.0.0.1/8', '::1/128'], true),
    iface('eth0', ['10.0.0.5/24', '2001:db8:5::5/64']),
    iface('docker0', ['172.17.0.1/16']),
    iface('br-eeeeeeeeeeee', ['172.23.0.1/24', 'fd00:db8:1::1/64']),
  ],
  defaultRoutes: [
    { family: 4, devs: ['eth0'] },
    { family: 6, devs: ['eth0'] },
  ],
};

/** A NEW TCP connection from outside, arriving on eth0. */
export function tcp(src: string, dst: string, dport: number, extra: Partial<TracePacket> = {}): TracePacket {
  const family = dst.includes(':') ? 6 : 4;
  return { family, src, dst, protocol: 'tcp', dport, inInterface: 'eth0', ...extra };
}

export function traceIn(state: KernelState, packet: TracePacket, host: HostView = HOST): TraceResult {
  return trace({ state, host, packet });
}

/** The chains whose rules decided, in order (compact for assertions). */
export const path = (r: TraceResult): string[] =>
  r.steps.map((s) => (s.action === 'policy' ? `${s.table}/${s.chain}:policy ${s.policy}` : `${s.table}/${s.chain}#${s.rule}:${s.action}`));
