// Walking one table's chains for a packet, as netfilter does: rules in order, -j and -g into user
// chains, RETURN and the implicit return at a chain's end, the built-in chain's policy. ACCEPT
// ends one table's traversal; DROP and REJECT end everything; DNAT and REDIRECT give the new
// destination. A match the tracer cannot judge is decided by the Run (each way in turn).
import type { Family } from '../model/types.js';
import type { KernelState, TableState } from '../plan/kernel-state.js';
import { type Net, parseNet } from '../net/address.js';
import { addressOn } from './host.js';
import { type Hook, type MatchContext, judgeAll } from './match.js';
import { type ParsedRule, parseRule } from './rule.js';
import type { Step, StepAction, Uncertain } from './types.js';

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

export class Run {
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
        const addr = x.inIf.kind === 'known' ? addressOn(x.host, x.inIf.name, x.src.family) : undefined;
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

export type TableEnd = { kind: 'accept'; step?: Step } | { kind: 'drop'; step: Step } | { kind: 'nat'; step: Step; dst: Net; dport: number } | { kind: 'unknown'; u: Uncertain };

export function builtin(run: Run, state: KernelState, table: string, hook: Hook, x: MatchContext): TableEnd {
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
