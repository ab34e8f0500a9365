// A pure packet tracer over parsed iptables-save output: where does the first packet of a NEW
// connection arriving from outside end up, and which rule lines decided? It follows the netfilter
// path for one family:
//
//   raw PREROUTING → mangle PREROUTING → nat PREROUTING (DNAT / REDIRECT change dst and port)
//   → routing (a local destination goes to INPUT, any other to FORWARD)
//   → mangle, filter, security INPUT or FORWARD
//
// with `-j CHAIN`, `-g CHAIN`, RETURN, the implicit return at a chain's end and the built-in
// chains' policies. ACCEPT ends one table's traversal (the next table still sees the packet);
// DROP and REJECT end everything.
//
// Never optimistic: a condition the tracer cannot judge (an interface it was not told, the
// client's source port, an option it does not understand) is followed both ways, and when the
// outcomes differ the verdict is "unknown" at the first rule where they part. A target it does
// not model (and cannot skip safely) is "unknown" at that rule too. Nothing is ever called
// accepted on a guess.
import type { Family } from '../model/types.js';
import type { KernelState, TableState } from '../plan/kernel-state.js';
import { type Net, formatValue, parseNet } from './addr.js';
import { type HostView, addressOn, isLocal, routeOf } from './host.js';
import { type Hook, type MatchContext, judgeAll } from './match.js';
import { type ParsedRule, parseRule } from './rule.js';
import type { SetMembers } from './sets.js';

export type { Hook } from './match.js';

export interface TracePacket {
  family: Family;
  /** The client: one address, or a CIDR for a range of clients ("from anywhere" is 0.0.0.0/0). */
  src: string;
  /** The address the client connects to. */
  dst: string;
  protocol: 'tcp' | 'udp';
  dport: number;
  /** The interface the packet arrives on; unknown when absent (rules testing -i become uncertain). */
  inInterface?: string;
}

export interface TraceInput {
  /** One family's tables, as parseSave read iptables-save or ip6tables-save. */
  state: KernelState;
  host: HostView;
  packet: TracePacket;
  /** How many outcomes of uncertain matches are followed before giving up (default 64). */
  maxOutcomes?: number;
  /** The kernel's ipsets (`ipset save`), so `-m set` matches are decided; absent: uncertain. */
  sets?: SetMembers;
}

export type StepAction = 'jump' | 'goto' | 'return' | 'accept' | 'drop' | 'reject' | 'dnat' | 'redirect' | 'continue' | 'policy';

/** One rule that matched on the way (or a built-in chain's policy that applied). */
export interface Step {
  table: string;
  chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts. */
  rule?: number;
  /** The rule as iptables-save prints it after `-A CHAIN `. */
  line?: string;
  /** For action 'policy': ACCEPT or DROP. */
  policy?: string;
  action: StepAction;
  /** The match was uncertain and this outcome assumes it matched: why it was uncertain. */
  assumed?: string;
}

/** A rule (or a situation) the tracer could not decide. */
export interface Uncertain {
  table?: string;
  chain?: string;
  rule?: number;
  line?: string;
  why: string;
}

export interface Outcome {
  verdict: 'accept' | 'drop' | 'unknown';
  steps: Step[];
  /** Every uncertain match this outcome went through, and which way it assumed. */
  assumptions: Array<Uncertain & { matched: boolean }>;
  /** The step that decided: the DROP/REJECT (or policy DROP), or the filter table's accept. */
  decidedBy?: Step;
  /** What made this outcome unknown (a target the tracer does not model, an unreadable table). */
  unknown?: Uncertain;
  dnat?: { dst: string; dport: number; step: Step };
  route?: 'INPUT' | 'FORWARD';
  outInterface?: string;
  /** The decisions (false: did not match) taken at each uncertain match, in order. */
  decisions: boolean[];
}

export interface TraceResult {
  verdict: 'accept' | 'drop' | 'unknown';
  /** The path shown: the outcome in which every uncertain match was taken as not matching. */
  steps: Step[];
  decidedBy?: Step;
  dnat?: { dst: string; dport: number; step: Step };
  route?: 'INPUT' | 'FORWARD';
  outInterface?: string;
  /** When the verdict is unknown: the rule where the possible outcomes part (or why nothing could be said). */
  unknownAt?: Uncertain;
  /** What the tracer assumed or could not know, in words. */
  notes: string[];
  /** Every outcome followed (one when no match was uncertain). */
  outcomes: Outcome[];
}

const CONTINUE_TARGETS = new Set(['LOG', 'NFLOG', 'ULOG', 'TRACE', 'AUDIT', 'TCPMSS', 'DSCP', 'TOS', 'CLASSIFY', 'CHECKSUM']);
/** Marks steer policy routing when set before the routing decision; after it they change nothing here. */
const MARK_TARGETS = new Set(['MARK', 'CONNMARK']);
const MAX_DEPTH = 64;

type ChainEnd =
  | { kind: 'return' }
  | { kind: 'accept'; step: Step }
  | { kind: 'drop'; step: Step }
  | { kind: 'nat'; step: Step; dst: Net; dport: number }
  | { kind: 'unknown'; u: Uncertain };

class Run {
  readonly steps: Step[] = [];
  readonly assumptions: Array<Uncertain & { matched: boolean }> = [];
  #pos = 0;
  constructor(readonly decisions: boolean[]) {}
  decide(u: Uncertain): boolean {
    const i = this.#pos++;
    if (i >= this.decisions.length) this.decisions.push(false);
    const matched = this.decisions[i]!;
    this.assumptions.push({ ...u, matched });
    return matched;
  }
}

/** `--to-destination A`, `A:P`, `[A6]:P`, `[A6]`: one address, one port (ranges are not judged). */
function parseToDestination(args: readonly string[], family: Family, dport: number): { dst: Net; dport: number } | undefined {
  const at = args.indexOf('--to-destination');
  if (at < 0 || args.lastIndexOf('--to-destination') !== at) return undefined;
  const v = args[at + 1];
  if (v === undefined) return undefined;
  let addr: string;
  let port: string | undefined;
  if (family === 6) {
    const m = /^\[([0-9a-fA-F:]+)\](?::(\d+))?$/.exec(v) ?? /^([0-9a-fA-F:]+)()$/.exec(v);
    if (!m) return undefined;
    addr = m[1]!;
    port = m[2] || undefined;
  } else {
    const m = /^([0-9.]+)(?::(\d+))?$/.exec(v);
    if (!m) return undefined;
    addr = m[1]!;
    port = m[2];
  }
  const net = parseNet(addr);
  if (!net || net.family !== family || net.lo !== net.hi) return undefined;
  const p = port === undefined ? dport : Number(port);
  if (!(p >= 1 && p <= 65535)) return undefined;
  return { dst: net, dport: p };
}

function walk(run: Run, t: TableState, table: string, chain: string, x: MatchContext, depth: number): ChainEnd {
  const rules = t.chains.get(chain);
  if (rules === undefined) return { kind: 'unknown', u: { table, chain, why: `chain ${chain} does not exist in the ${table} table` } };
  for (let i = 0; i < rules.length; i++) {
    const line = rules[i]!;
    const p: ParsedRule = parseRule(line);
    const j = judgeAll(p.conds, x);
    if (j.tri === 'no') continue;
    const where = { table, chain, rule: i + 1, line };
    const noop = p.target === undefined || CONTINUE_TARGETS.has(p.target);
    let assumed: string | undefined;
    if (j.tri === 'maybe') {
      // Whether a rule that only logs or counts matches changes nothing: no need to follow both ways.
      if (noop) continue;
      if (!run.decide({ ...where, why: j.why! })) continue;
      assumed = j.why!;
    }
    const step = (action: StepAction): Step => ({ ...where, action, ...(assumed !== undefined ? { assumed } : {}) });
    const target = p.target;
    if (target === undefined || CONTINUE_TARGETS.has(target)) {
      run.steps.push(step('continue'));
      continue;
    }
    if (MARK_TARGETS.has(target)) {
      if (x.hook === 'PREROUTING') return { kind: 'unknown', u: { ...where, why: `-j ${target} before the routing decision may steer policy routing, which the tracer does not model` } };
      run.steps.push(step('continue'));
      continue;
    }
    switch (target) {
      case 'ACCEPT':
        run.steps.push(step('accept'));
        return { kind: 'accept', step: run.steps.at(-1)! };
      case 'DROP':
        run.steps.push(step('drop'));
        return { kind: 'drop', step: run.steps.at(-1)! };
      case 'REJECT':
        run.steps.push(step('reject'));
        return { kind: 'drop', step: run.steps.at(-1)! };
      case 'RETURN':
        run.steps.push(step('return'));
        return { kind: 'return' };
      case 'DNAT': {
        if (table !== 'nat') break;
        const to = parseToDestination(p.targetArgs, x.src.family, x.dport);
        if (!to) return { kind: 'unknown', u: { ...where, why: `DNAT target not understood (only one address and one port are judged): ${p.targetArgs.join(' ')}` } };
        run.steps.push(step('dnat'));
        return { kind: 'nat', step: run.steps.at(-1)!, ...to };
      }
      case 'REDIRECT': {
        if (table !== 'nat') break;
        const at = p.targetArgs.indexOf('--to-ports');
        const port = at < 0 ? x.dport : /^\d+$/.test(p.targetArgs[at + 1] ?? '') ? Number(p.targetArgs[at + 1]) : undefined;
        // The kernel redirects to the first address of the interface the packet came in by.
        const addr = x.inIf === undefined ? undefined : addressOn(x.host, x.inIf, x.src.family);
        const dst = addr === undefined ? undefined : parseNet(addr);
        if (port === undefined || dst === undefined) {
          return { kind: 'unknown', u: { ...where, why: 'REDIRECT: the address it redirects to (the in interface\'s) or the port is not known' } };
        }
        run.steps.push(step('redirect'));
        return { kind: 'nat', step: run.steps.at(-1)!, dst, dport: port };
      }
      default:
        break;
    }
    // A user chain (iptables-save declares it with policy '-'); a built-in one cannot be jumped to.
    if (t.chains.has(target) && (t.policies.get(target) ?? '-') === '-') {
      if (depth >= MAX_DEPTH) return { kind: 'unknown', u: { ...where, why: `chains nested deeper than ${MAX_DEPTH} (a loop?)` } };
      run.steps.push(step(p.goto ? 'goto' : 'jump'));
      const r = walk(run, t, table, target, x, depth + 1);
      if (r.kind !== 'return') return r;
      // A goto's chain returns to whoever called this chain; a jump's continues here.
      if (p.goto) return r;
      continue;
    }
    return { kind: 'unknown', u: { ...where, why: `target ${target} is not modelled by the tracer` } };
  }
  return { kind: 'return' };
}

type TableEnd = { kind: 'accept'; step?: Step } | { kind: 'drop'; step: Step } | { kind: 'nat'; step: Step; dst: Net; dport: number } | { kind: 'unknown'; u: Uncertain };

function builtin(run: Run, state: KernelState, table: string, hook: Hook, x: MatchContext): TableEnd {
  const t = (state as ReadonlyMap<string, TableState>).get(table);
  // A table or base chain that is not there holds nothing: the packet passes it.
  if (!t) return { kind: 'accept' };
  if (t.incompatible !== undefined) {
    return { kind: 'unknown', u: { table, why: `iptables-save cannot show the ${table} table (${t.incompatible}): its native nft rules are not traced` } };
  }
  if (!t.chains.has(hook)) return { kind: 'accept' };
  const r = walk(run, t, table, hook, { ...x, table }, 0);
  if (r.kind !== 'return') return r;
  const policy = t.policies.get(hook) ?? 'ACCEPT';
  const step: Step = { table, chain: hook, policy, action: 'policy' };
  run.steps.push(step);
  if (policy === 'ACCEPT') return { kind: 'accept', step };
  if (policy === 'DROP') return { kind: 'drop', step };
  return { kind: 'unknown', u: { table, chain: hook, why: `policy ${policy} of ${hook} is not understood` } };
}

function runOnce(input: TraceInput, decisions: boolean[]): Outcome {
  const run = new Run(decisions);
  const { packet, host, state } = input;
  const src = parseNet(packet.src)!;
  let dst = parseNet(packet.dst)!;
  let dport = packet.dport;
  let dnat: Outcome['dnat'];
  const base = (): Pick<Outcome, 'steps' | 'assumptions' | 'decisions'> => ({ steps: run.steps, assumptions: run.assumptions, decisions: run.decisions });
  const end = (r: TableEnd, extra: Partial<Outcome> = {}): Outcome | undefined => {
    if (r.kind === 'drop') return { ...base(), verdict: 'drop', decidedBy: r.step, ...extra };
    if (r.kind === 'unknown') return { ...base(), verdict: 'unknown', unknown: r.u, ...extra };
    return undefined;
  };
  const ctx = (hook: Hook, tracked: boolean, outIf: string | null | undefined): MatchContext => ({
    hook,
    table: '',
    src,
    dst,
    protocol: packet.protocol,
    dport,
    inIf: packet.inInterface,
    outIf,
    host,
    tracked,
    dnat: dnat !== undefined,
    ...(input.sets ? { sets: input.sets } : {}),
  });

  // Before conntrack (raw) the packet has no connection; from mangle on it is NEW.
  for (const [table, tracked] of [['raw', false], ['mangle', true], ['nat', true]] as const) {
    const r = builtin(run, state, table, 'PREROUTING', ctx('PREROUTING', tracked, null));
    const stop = end(r);
    if (stop) return stop;
    if (r.kind === 'nat') {
      dst = r.dst;
      dport = r.dport;
      dnat = { dst: formatValue(dst.family, dst.lo), dport, step: r.step };
    }
  }
  const extra: Partial<Outcome> = dnat ? { dnat } : {};
  const local = isLocal(host, dst);
  if (local === 'maybe') return { ...base(), verdict: 'unknown', unknown: { why: `${dst.text} is partly made of this host's own addresses: INPUT or FORWARD is not known` }, ...extra };
  const route: 'INPUT' | 'FORWARD' = local === 'yes' ? 'INPUT' : 'FORWARD';
  const outIf = route === 'INPUT' ? null : routeOf(host, dst)?.iface;
  Object.assign(extra, { route }, outIf ? { outInterface: outIf } : {});
  let decidedBy: Step | undefined;
  for (const table of ['mangle', 'filter', 'security']) {
    const r = builtin(run, state, table, route, ctx(route, true, outIf));
    const stop = end(r, extra);
    if (stop) return stop;
    if (table === 'filter' && r.kind === 'accept') decidedBy = r.step;
  }
  return { ...base(), verdict: 'accept', ...(decidedBy ? { decidedBy } : {}), ...extra };
}

/** The first uncertain match at which the outcomes part (all share the decisions before `depth`). */
function partingRule(outcomes: readonly Outcome[], depth: number): Uncertain | undefined {
  const verdicts = new Set(outcomes.map((o) => o.verdict));
  if (verdicts.size === 1) return outcomes[0]!.verdict === 'unknown' ? outcomes[0]!.unknown : undefined;
  if (outcomes.some((o) => o.decisions.length <= depth)) return outcomes[0]!.unknown ?? outcomes[0]!.assumptions[depth - 1];
  const no = outcomes.filter((o) => !o.decisions[depth]);
  const yes = outcomes.filter((o) => o.decisions[depth]);
  const pure = (list: readonly Outcome[]): boolean => new Set(list.map((o) => o.verdict)).size === 1 && list[0]!.verdict !== 'unknown';
  if (no.length === 0) return partingRule(yes, depth + 1);
  if (yes.length === 0) return partingRule(no, depth + 1);
  if (pure(no) && pure(yes)) {
    const a = outcomes[0]!.assumptions[depth]!;
    const { matched: _m, ...u } = a;
    return u;
  }
  return pure(no) ? partingRule(yes, depth + 1) : partingRule(no, depth + 1);
}

function describeUncertain(u: Uncertain): string {
  return u.line !== undefined ? `${u.table} ${u.chain} rule ${u.rule} (${u.line}): ${u.why}` : u.why;
}

export class TraceInputError extends Error {
  override readonly name = 'TraceInputError';
}

/** Traces one packet. Pure. Throws TraceInputError when the packet itself is malformed. */
export function trace(input: TraceInput): TraceResult {
  const { packet } = input;
  const src = parseNet(packet.src);
  const dst = parseNet(packet.dst);
  if (!src || src.family !== packet.family) throw new TraceInputError(`source ${packet.src} is not an IPv${packet.family} address or CIDR`);
  if (!dst || dst.family !== packet.family || dst.lo !== dst.hi) throw new TraceInputError(`destination ${packet.dst} is not one IPv${packet.family} address`);
  if (!Number.isInteger(packet.dport) || packet.dport < 1 || packet.dport > 65535) throw new TraceInputError(`port ${packet.dport} is not 1-65535`);

  const max = input.maxOutcomes ?? 64;
  const outcomes: Outcome[] = [];
  let overflow = false;
  const explore = (prefix: boolean[]): void => {
    if (outcomes.length >= max) {
      overflow = true;
      return;
    }
    const o = runOnce(input, [...prefix]);
    outcomes.push(o);
    for (let j = prefix.length; j < o.decisions.length; j++) explore([...o.decisions.slice(0, j), true]);
  };
  explore([]);

  const shown = outcomes[0]!;
  const notes: string[] = [];
  if (packet.inInterface === undefined) notes.push('the interface the packet arrives on was not given: rules testing -i are uncertain');
  if (shown.route === 'FORWARD') {
    notes.push(
      shown.outInterface !== undefined
        ? `forwarded out of ${shown.outInterface} (${routeOf(input.host, parseNet(shown.dnat?.dst ?? packet.dst)!)?.how ?? 'route'})`
        : `forwarded, but the interface it leaves by is not known (no connected subnet or single default route holds ${shown.dnat?.dst ?? packet.dst}): rules testing -o are uncertain`,
    );
    notes.push(`forwarding assumed on for ${packet.inInterface ?? 'the in interface'} (a sysctl, not a rule: dockgate turns it on for external_interfaces and the bridges)`);
  }
  const uncertain = new Map<string, string>();
  for (const o of outcomes) for (const a of o.assumptions) uncertain.set(`${a.table}|${a.chain}|${a.rule}`, describeUncertain(a));

  let verdict: TraceResult['verdict'];
  let unknownAt: Uncertain | undefined;
  const verdicts = new Set(outcomes.map((o) => o.verdict));
  if (overflow) {
    verdict = 'unknown';
    unknownAt = { why: `more than ${max} combinations of uncertain matches: not followed to the end` };
  } else if (verdicts.size === 1 && !verdicts.has('unknown')) {
    verdict = shown.verdict;
    if (uncertain.size > 0) notes.push(`${uncertain.size} uncertain match(es), every way they go ends the same: ${[...uncertain.values()].join(' | ')}`);
  } else {
    verdict = 'unknown';
    unknownAt = partingRule(outcomes, 0) ?? shown.unknown ?? { why: 'the outcomes differ' };
    if (uncertain.size > 0) notes.push(`uncertain: ${[...uncertain.values()].join(' | ')}`);
  }
  return {
    verdict,
    steps: shown.steps,
    ...(shown.decidedBy ? { decidedBy: shown.decidedBy } : {}),
    ...(shown.dnat ? { dnat: shown.dnat } : {}),
    ...(shown.route ? { route: shown.route } : {}),
    ...(shown.outInterface ? { outInterface: shown.outInterface } : {}),
    ...(unknownAt ? { unknownAt } : {}),
    notes,
    outcomes,
  };
}

/** `filter INPUT #3: -A INPUT ...` / `filter INPUT: policy DROP`. */
export function describeStep(s: Step): string {
  if (s.action === 'policy') return `${s.table} ${s.chain}: policy ${s.policy}`;
  const assumed = s.assumed !== undefined ? ` (assumed to match: ${s.assumed})` : '';
  return `${s.table} ${s.chain} #${s.rule}: -A ${s.chain} ${s.line}${assumed}`;
}

export { describeUncertain };
