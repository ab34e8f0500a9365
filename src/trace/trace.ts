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
import { formatValue, parseNet } from '../net/address.js';
import { NO_IFACE, UNKNOWN_IFACE, knownIface } from '../net/iface.js';
import { isLocal, routeOf } from './host.js';
import type { Hook, MatchContext } from './match.js';
import type { Outcome, Step, TraceInput, TraceResult, Uncertain } from './types.js';
import { Run, type TableEnd, builtin } from './walk.js';

export type { Hook } from './match.js';
export type { Outcome, Step, StepAction, TraceInput, TracePacket, TraceResult, Uncertain } from './types.js';

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
    inIf: packet.inInterface !== undefined ? knownIface(packet.inInterface) : UNKNOWN_IFACE,
    outIf: outIf === null ? NO_IFACE : outIf === undefined ? UNKNOWN_IFACE : knownIface(outIf),
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
