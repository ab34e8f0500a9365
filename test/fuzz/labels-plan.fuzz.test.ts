// Property-based tests of labels → plan → iptables-restore text with hostile and broken labels
// (issue 5, "Hostile and broken input"): random bytes, unicode, newlines, iptables and shell
// syntax, huge values, and near-valid values built from the grammar and mutated.
//
// Every property runs a fixed number of generated cases; FUZZ_SCALE=10 multiplies them for a
// longer soak. A failure prints fast-check's seed and path: pass them back through
// fc.assert(..., { seed, path }) to replay it.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { cutValue } from '../../src/labels/text.js';
import { MAX_PORTS_PER_CONTAINER, parseLabels } from '../../src/labels/parse.js';
import { ANY_SOURCE, boundAddress, sourceList } from '../../src/model/format.js';
import type { ContainerFacts, ContainerPolicy, LabelError, Opening, PortSpec, RuleSet } from '../../src/model/types.js';
import { parseAddress, parseCidr } from '../../src/net/address.js';
import { CONTAINERS, DNAT, JUMPS, OPENINGS, shardChain, shardOf, shortId } from '../../src/plan/chains.js';
import { jumpLine, linesOf as chainLines } from '../../src/plan/render.js';
import { compare, type KernelState, type TableState } from '../../src/plan/kernel-state.js';
import { markPlan, renderMarks } from '../../src/plan/marks.js';
import { type GrammarOptions, checkRestore, describeViolations } from '../../src/plan/restore-grammar.js';
import { renderDiff, renderFull, renderPlan } from '../../src/plan/restore.js';
import { buildRuleSet, familyRuleSet, type PlanInput } from '../../src/plan/ruleset.js';
import { type LabelSet, type Scenario, hexString, ipv4, labelSet, labelsOf, scenario } from './arbitraries.js';
import { type KernelModel, applyRestore, cloneKernel, emptyKernel, kernelView } from './kernel-model.js';
import { formatEgressPolicy } from '../../src/labels/egress.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

/** Label sets generated and how many parsed OK, per style, for the summary and the 20% floor. */
const stats = { runs: 0, sets: 0, ok: 0, byStyle: {} as Record<string, { sets: number; ok: number }> };
function count(set: LabelSet, ok: boolean): void {
  stats.sets++;
  if (ok) stats.ok++;
  const s = (stats.byStyle[set.style] ??= { sets: 0, ok: 0 });
  s.sets++;
  if (ok) s.ok++;
}

function inputOf(s: Scenario, containers: readonly ContainerFacts[] = s.containers): PlanInput {
  return { labelPrefix: s.prefix, defaults: s.defaults, containers, networks: s.networks };
}

function expectGrammar(text: string, options: GrammarOptions = {}): void {
  const violations = checkRestore(text, options);
  if (violations.length > 0) {
    throw new Error(`restore text breaks the grammar:\n${describeViolations(violations)}\n--- text ---\n${text}`);
  }
}

/** A mangle table holding exactly these marks, as the next renderMarks would read it. */
function mangleHolding(marks: RuleSet): TableState {
  const chains = new Map<string, string[]>([
    ['INPUT', []],
    ['FORWARD', []],
  ]);
  for (const j of marks.jumps) chains.get(j.builtin)!.push(jumpLine(j));
  for (const c of marks.chains) chains.set(c.name, [...chainLines(c)]);
  return { chains, policies: new Map([...chains.keys()].map((c) => [c, c.startsWith('DOCKGATE-') ? '-' : 'ACCEPT'])) };
}

/**
 * The IPv6 text and the mangle marks of both families, as production writes them: whole, and
 * (with `before`) as the edit from the earlier plan's.
 */
function expectFamiliesGrammar(plan: RuleSet, before?: RuleSet): void {
  const v6 = familyRuleSet(plan, 6);
  if (v6) expectGrammar(renderPlan(v6), { family: 6 });
  if (v6 && before) {
    const was = familyRuleSet(before, 6);
    if (was) expectGrammar([...renderDiff(was, v6).values()].join(''), { family: 6, diff: true });
  }
  for (const family of [4, 6] as const) {
    const rules = familyRuleSet(plan, family);
    if (!rules) continue;
    const marks = markPlan(rules);
    expectGrammar(renderMarks(marks, undefined), { family, diff: true });
    const was = before ? familyRuleSet(before, family) : undefined;
    if (was) {
      const kernel = mangleHolding(markPlan(was));
      expectGrammar(renderMarks(marks, kernel), { family, diff: true });
      expectGrammar(renderMarks(undefined, kernel), { family, diff: true });
    }
  }
}

/** drops.* as the default config has them. */
const DROP_LOG = { group: 2371, ratePerSecond: 10, burst: 20 };

const isPortNumber = (n: number): boolean => Number.isInteger(n) && n >= 1 && n <= 65535;

// Inside properties plain node:assert is used rather than expect(): it is an order of magnitude
// cheaper per call, and these run a few hundred thousand times. Messages are built lazily.
function check(condition: unknown, message: () => string): void {
  if (!condition) throw new Error(message());
}
const same = <T>(actual: T, expected: T, message?: string): void => assert.deepStrictEqual(actual, expected, message);

function expectCanonicalAddress(ip: string): void {
  const r = parseAddress(ip);
  check(r.ok && r.value.text === ip, () => `address ${JSON.stringify(ip)} does not re-parse to itself`);
}

function expectCanonicalV4(ip: string, family: 4 | 6 = 4): void {
  const r = parseAddress(ip);
  check(r.ok && r.value.family === family && r.value.text === ip, () => `IPv${family} ${JSON.stringify(ip)} does not re-parse to itself`);
}

function checkPortSpec(p: PortSpec): void {
  check(isPortNumber(p.start) && isPortNumber(p.end) && p.start <= p.end, () => `ports ${JSON.stringify(p)} not a range of integers 1-65535`);
  check(p.protocol === 'tcp' || p.protocol === 'udp', () => `protocol ${JSON.stringify(p)}`);
  if (p.host) {
    const h = p.host;
    check(isPortNumber(h.start) && isPortNumber(h.end) && h.start <= h.end, () => `host ports ${JSON.stringify(p)}`);
    if (p.host.ip !== undefined) expectCanonicalAddress(p.host.ip);
  }
}

function checkPolicy(policy: ContainerPolicy): void {
  for (const p of policy.ports) checkPortSpec(p);
  const total = policy.ports.reduce((n, p) => n + Math.max(p.end - p.start, p.host ? p.host.end - p.host.start : 0) + 1, 0);
  check(total <= MAX_PORTS_PER_CONTAINER, () => `${total} ports`);
  for (const c of policy.from) {
    const r = parseCidr(c.text);
    check(r.ok && r.value.text === c.text && r.value.family === c.family, () => `from ${JSON.stringify(c)} does not re-parse to itself`);
  }
  check(policy.mode === 'proxy' || policy.mode === 'dnat', () => `mode ${policy.mode}`);
  check(['all', 'none', 'list'].includes(policy.egress.kind), () => `egress ${JSON.stringify(policy.egress)}`);
  check(policy.declared || policy.ports.length === 0, () => 'ports without a ports label');
}

/** Every opening must come from a parsed port spec (and, without a mapping, from a -p binding). */
function checkOpenings(facts: ContainerFacts, policy: ContainerPolicy, openings: readonly Opening[]): void {
  for (const o of openings) {
    // Each family opens from its own sources only: an IPv4-only `from` closes IPv6, and back.
    const mine = policy.from.filter((c) => c.family === o.family).map((c) => c.text);
    const sources = mine.includes(o.family === 4 ? '0.0.0.0/0' : '::/0') ? ANY_SOURCE : sourceList(mine);
    // The host address as text, '' for every address (as a label entry without one).
    const hostIp = boundAddress(o.hostIp) ?? '';
    check(o.hostIp.kind === 'any' || o.hostIp.ip !== '', () => `opening ${JSON.stringify(o)}: an empty host address`);
    check(isPortNumber(o.hostPort) && isPortNumber(o.containerPort), () => `opening ports ${JSON.stringify(o)}`);
    if (hostIp !== '') expectCanonicalV4(hostIp, o.family);
    if (o.containerIp !== undefined) expectCanonicalV4(o.containerIp, o.family);
    check(o.mode === policy.mode, () => `opening mode ${o.mode}, policy ${policy.mode}`);
    check(o.sources.kind === 'any' || o.sources.cidrs.length > 0, () => 'opening without sources');
    same(o.sources, sources);
    for (const src of o.sources.kind === 'any' ? [] : o.sources.cidrs) {
      const r = parseCidr(src);
      check(r.ok && r.value.text === src && r.value.family === o.family, () => `source ${JSON.stringify(src)}`);
    }
    const fromSpec = policy.ports.some((spec) => {
      if (spec.protocol !== o.protocol) return false;
      if (spec.host) {
        const i = o.hostPort - spec.host.start;
        const labelIp = spec.host.ip === undefined || spec.host.ip === '0.0.0.0' || spec.host.ip === '::' ? '' : spec.host.ip;
        const containerPort = spec.start === spec.end ? spec.start : spec.start + i;
        if (o.hostPort > spec.host.end || i < 0 || o.containerPort !== containerPort) return false;
        // The label's address, or (label without one) the address of the binding it names.
        return hostIp === labelIp || (labelIp === '' && ownBinding(facts, o));
      }
      return (
        o.containerPort >= spec.start &&
        o.containerPort <= spec.end &&
        facts.ports.some(
          (b) =>
            b.containerPort === o.containerPort &&
            b.protocol === o.protocol &&
            b.hostPort === o.hostPort &&
            (b.hostIp === '0.0.0.0' || b.hostIp === '::' || b.hostIp === '' ? '' : b.hostIp) === hostIp &&
            b.hostIp.includes(':') === (o.family === 6),
        )
      );
    });
    check(fromSpec, () => `opening ${JSON.stringify(o)} does not come from a parsed port spec`);
    // Proxy mode opens nothing but the container's own -p bindings (as narrow as the binding).
    if (o.mode === 'proxy') check(ownBinding(facts, o), () => `proxy opening ${JSON.stringify(o)} is not one of the container's own bindings`);
  }
}

function ownBinding(facts: ContainerFacts, o: Opening): boolean {
  return facts.ports.some(
    (b) =>
      b.containerPort === o.containerPort &&
      b.protocol === o.protocol &&
      b.hostPort === o.hostPort &&
      (b.hostIp === '0.0.0.0' || b.hostIp === '::' || b.hostIp === '' || b.hostIp === boundAddress(o.hostIp)) &&
      b.hostIp.includes(':') === (o.family === 6),
  );
}

/** Ownership refusals (a host port another container owns, outside claimable_ports, ...) for a valid label. */
function ownershipErrors(errors: readonly LabelError[], prefix: string): boolean {
  return errors.every((e) => e.label === `${prefix}.ports` && /claimable_ports|published with -p by|also claimed by|listens on|own -p binding|cannot be DNATed/.test(e.reason));
}

/** The invariants of one plan: grammar, fail-closed errors, parsed values only, isolation. */
function checkScenario(s: Scenario): { plan: RuleSet; text: string } {
  const input = inputOf(s);
  const plan = buildRuleSet(input);
  const text = renderPlan(plan);
  expectGrammar(text);
  expectFamiliesGrammar(plan);
  const options = { prefix: s.prefix, defaults: s.defaults };
  s.containers.forEach((c, i) => {
    const r = parseLabels(c.labels, options);
    count(s.sets[i]!, r.ok);
    // Docker lists labels in any order: the result (and the order of errors) must not depend on it.
    same(parseLabels(Object.fromEntries(Object.entries(c.labels).reverse()), options), r, 'label order changed the result');
    const cp = plan.containers.find((p) => p.id === c.id)!;
    const owned = linesOf(plan, c);
    const short = shortId(c.id);
    if (r.ok) {
      checkPolicy(r.policy);
      check(ownershipErrors(cp.errors, s.prefix), () => `errors for valid labels that are not ownership refusals: ${JSON.stringify(cp.errors)}`);
      // A refused claim costs only its own entry (issue 18 item 5); any other error closes the container.
      if (cp.errors.some((e) => e.closes !== 'entry')) same(cp.openings, [], 'a container with an error that closes it has openings');
      checkOpenings(c, r.policy, cp.openings);
      // Other containers, hostile or not, never change this container's own chains; at most
      // one that owns a host port first makes this one lose that claim (and only its lines).
      if (s.containers.length === 1) return;
      const alone = linesOf(buildRuleSet(inputOf(s, [c])), c);
      const aloneErrors = buildRuleSet(inputOf(s, [c])).containers[0]!.errors;
      if (cp.errors.length > aloneErrors.length) {
        same(owned.filter((l) => !alone.includes(l)), [], 'a container that lost a claim gained lines');
      }
      else same(owned, alone, 'other containers changed this container\'s lines');
    } else {
      check(r.errors.length > 0, () => 'not ok without errors');
      same(cp.errors, r.errors);
      same(cp.openings, []);
      check(cp.egress === false, () => 'a container with label errors keeps egress');
      same(owned.filter((l) => !l.endsWith(' -j RETURN')), [], 'a container with label errors has rules');
      check(!text.includes(`-${short}`), () => `a chain of ${c.name}, which has label errors:\n${text}`);
      // Only the guards that keep it (no egress) from reaching published ports through the host.
      const mine = text.split('\n').filter((l) => l.includes(`${c.name}/${short}`));
      check(mine.every((l) => l.endsWith('-j RETURN')), () => `a rule commented with ${c.name}, which has label errors:\n${text}`);
      for (const e of r.errors) {
        check(Object.prototype.hasOwnProperty.call(c.labels, e.label), () => `error names label ${JSON.stringify(e.label)}, not present`);
        check(e.value === cutValue(c.labels[e.label]!), () => `error value ${JSON.stringify(e.value)}`);
        // Reasons go to logs and `dockgate status`: printable ASCII only (quote() escapes the rest).
        check(/^[\x20-\x7e]+$/.test(e.reason), () => `reason of ${JSON.stringify(e.label)} is not printable ASCII: ${JSON.stringify(e.reason)}`);
      }
    }
  });
  // Docker lists containers in any order: same plan text.
  if (s.containers.length > 1) same(renderPlan(buildRuleSet(inputOf(s, [...s.containers].reverse()))), text, 'container order changed the text');
  return { plan, text };
}


/** A container's own lines in a plan ('table chain line', sorted): the rules carrying its comment. */
function linesOf(plan: RuleSet, c: Pick<ContainerFacts, 'id'>): string[] {
  const mark = `/${shortId(c.id)}`;
  return plan.chains.flatMap((ch) => chainLines(ch).filter((l) => l.includes(mark)).map((l) => `${ch.table} ${ch.name} ${l}`)).sort();
}

// ---------------------------------------------------------------------------------------------
// Label text never leaks

const FIXED_VOCABULARY = [
  '*raw', '*nat', '*filter', 'COMMIT', '[0:0]', '-', '-A', '-I', '-s', '-d', '-i', '-o', '!', '-p', 'tcp', 'udp', '-m',
  '--dport', 'conntrack', '--ctstate', 'NEW', 'RELATED,ESTABLISHED', 'DNAT', 'comment', '--comment', 'addrtype',
  '--dst-type', 'LOCAL', '-j', 'ACCEPT', 'DROP', 'MASQUERADE', '--to-destination', 'dockgate', '1', 'lo',
  ...JUMPS.map((j) => `:${j.target}`),
  ':DOCKGATE-CONTAINERS',
];

/**
 * Tokens that may appear in a plan's text without coming from any label: the fixed words, and
 * everything the facts contribute (names, bridges, addresses, chain names of each container).
 */
function vocabulary(s: Scenario): string[] {
  const twin = buildRuleSet(inputOf(s, s.containers.map((c) => ({ ...c, labels: {} }))));
  const words = new Set(renderPlan(twin).split(/\s+/));
  for (const w of FIXED_VOCABULARY) words.add(w);
  for (const c of s.containers) {
    const short = shortId(c.id);
    for (const parent of [OPENINGS, CONTAINERS, DNAT]) {
      words.add(shardChain(parent, shardOf(c.id)));
      words.add(`:${shardChain(parent, shardOf(c.id))}`);
    }
    words.add(`${c.name}/${short}`);
    words.add(`"${c.name}/${short}"`);
    for (const n of c.networks) if (n.ipv4 !== undefined) words.add(`${n.ipv4}/32`);
  }
  return [...words];
}

/** A value in the text is explained when every word of it is number/address text or vocabulary. */
function explained(value: string, vocab: readonly string[]): boolean {
  return value
    .split(/\s+/)
    .filter((w) => w !== '')
    .every((w) => /^[0-9.:/]+$/.test(w) || vocab.some((v) => v.includes(w)));
}

// ---------------------------------------------------------------------------------------------
// Canonical labels: what a parsed policy looks like written back as labels

function rangeText(start: number, end: number): string {
  return start === end ? `${start}` : `${start}-${end}`;
}

function canonicalLabels(prefix: string, policy: ContainerPolicy): Record<string, string> {
  const out: Record<string, string> = {
    [`${prefix}.from`]: policy.from.map((c) => c.text).join(','),
    [`${prefix}.mode`]: policy.mode,
    [`${prefix}.egress`]: formatEgressPolicy(policy.egress),
  };
  if (policy.declared) {
    out[`${prefix}.ports`] = policy.ports
      .map((p) => {
        const container = `${rangeText(p.start, p.end)}/${p.protocol}`;
        if (!p.host) return container;
        const ip = p.host.ip === undefined ? '' : p.host.ip.includes(':') ? `[${p.host.ip}]:` : `${p.host.ip}:`;
        return `${ip}${rangeText(p.host.start, p.host.end)}:${container}`;
      })
      .join(',');
  }
  return out;
}

const underPrefix = (prefix: string, key: string): boolean => key === prefix || key.startsWith(`${prefix}.`);

// ---------------------------------------------------------------------------------------------
// The kernel model, to check what diffs and repairs do

function stateOf(k: KernelModel): KernelState {
  const state: KernelState = new Map();
  for (const [table, chains] of k) {
    state.set(table, {
      chains: new Map([...chains].map(([c, r]) => [c, [...r]])),
      policies: new Map([...chains.keys()].map((c) => [c, c.startsWith('DOCKGATE-') ? '-' : 'ACCEPT'])),
    });
  }
  return state;
}

function kernelFor(plan: RuleSet): KernelModel {
  const k = emptyKernel();
  applyRestore(k, renderPlan(plan));
  return k;
}

/** dockgate's "set" chains, whose rules are jumps in no particular order. */
function setChains(plan: RuleSet): Set<string> {
  return new Set(plan.chains.filter((c) => c.kind === 'set').map((c) => `${c.table}/${c.name}`));
}

/** Only dockgate's chains. */
function ownView(k: KernelModel, plan: RuleSet): Record<string, string[]> {
  // The admin's DOCKGATE-USER is theirs: a repair only makes sure it exists.
  return Object.fromEntries(Object.entries(kernelView(k, setChains(plan))).filter(([name]) => name.includes('/DOCKGATE-') && !name.endsWith('/DOCKGATE-USER')));
}

/** Rules in built-in chains that are not dockgate's jumps. */
function foreignRules(k: KernelModel): string[] {
  const out: string[] = [];
  for (const [table, chains] of k) {
    for (const [chain, rules] of chains) {
      if (chain.startsWith('DOCKGATE-')) continue;
      for (const r of rules) if (!/-j DOCKGATE-\S+$/.test(r)) out.push(`${table}/${chain}: ${r}`);
    }
  }
  return out;
}

type Drift =
  | { kind: 'duplicate-jump'; which: number }
  | { kind: 'drop-jump'; which: number }
  | { kind: 'flush-chain'; which: number }
  | { kind: 'garbage-rule'; which: number }
  | { kind: 'foreign-rule'; at: number }
  | { kind: 'stale-chain'; id: string; stray: boolean }
  | { kind: 'flush-table'; table: 'raw' | 'nat' | 'filter' };

const drift: fc.Arbitrary<Drift> = fc.oneof(
  fc.record({ kind: fc.constant('duplicate-jump' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('drop-jump' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('flush-chain' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('garbage-rule' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('foreign-rule' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('stale-chain' as const), id: hexString(6), stray: fc.boolean() }),
  fc.record({ kind: fc.constant('flush-table' as const), table: fc.constantFrom('raw' as const, 'nat' as const, 'filter' as const) }),
);

/** Someone else's changes to the kernel: what drift repair (renderFull) must undo, or leave alone. */
function applyDrift(k: KernelModel, d: Drift): void {
  const own = [...k].flatMap(([t, chains]) => [...chains.keys()].filter((c) => c.startsWith('DOCKGATE-')).map((c) => ({ t, c })));
  switch (d.kind) {
    case 'duplicate-jump':
    case 'drop-jump': {
      const j = JUMPS[d.which % JUMPS.length]!;
      const rules = k.get(j.table)!.get(j.builtin)!;
      const at = rules.indexOf(jumpLine(j));
      if (d.kind === 'duplicate-jump') rules.push(jumpLine(j));
      else if (at >= 0) rules.splice(at, 1);
      break;
    }
    case 'flush-chain':
    case 'garbage-rule': {
      const pick = own[d.which % Math.max(1, own.length)];
      if (!pick) break;
      const rules = k.get(pick.t)!.get(pick.c)!;
      if (d.kind === 'flush-chain') rules.length = 0;
      else rules.push(pick.t === 'nat' ? '-s 192.0.2.1/32 -m comment --comment garbage -j MASQUERADE' : '-s 192.0.2.1/32 -m comment --comment garbage -j ACCEPT');
      break;
    }
    case 'foreign-rule': {
      const rules = k.get('filter')!.get('INPUT')!;
      rules.splice(d.at % (rules.length + 1), 0, '-s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT');
      break;
    }
    case 'stale-chain': {
      const name = `DOCKGATE-CI-${d.id}`;
      const filter = k.get('filter')!;
      if (filter.has(name)) break;
      filter.set(name, ['-p tcp -m tcp --dport 9 -m comment --comment "gone/000000000000" -j ACCEPT']);
      // An older dockgate's jump (it carries dockgate's comment): repair removes it. A jump without
      // that comment is the admin's and is left alone (test/plan/kernel-state.test.ts).
      if (d.stray) filter.get('INPUT')!.push(`-m comment --comment dockgate -j ${name}`);
      else filter.get('DOCKGATE-INPUT')?.push(`-m comment --comment old -j ${name}`);
      break;
    }
    case 'flush-table': {
      // The OS firewall service reloading one table: only built-ins, and only foreign rules kept.
      const chains = k.get(d.table)!;
      for (const name of [...chains.keys()]) {
        if (name.startsWith('DOCKGATE-')) chains.delete(name);
        else chains.set(name, chains.get(name)!.filter((r) => !/-j DOCKGATE-\S+$/.test(r)));
      }
      break;
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe('labels → plan → restore text, with hostile and broken labels', () => {
  afterAll(() => {
    const pct = (ok: number, n: number) => `${((100 * ok) / Math.max(1, n)).toFixed(1)}%`;
    const styles = Object.entries(stats.byStyle).map(([k, v]) => `${k} ${v.sets} (${pct(v.ok, v.sets)} OK)`);
    console.info(`labels-plan fuzz: ${stats.runs} runs, ${stats.sets} label sets, ${pct(stats.ok, stats.sets)} parsed OK; ${styles.join(', ')}`);
  });

  it('never throws; parsed values are canonical; errors fail closed; the text of both families and their marks passes the strict grammar', () => {
    const before = { sets: stats.sets, ok: stats.ok };
    fc.assert(
      fc.property(scenario(), (s) => {
        stats.runs++;
        checkScenario(s);
      }),
      { numRuns: runs(4000) },
    );
    // Not vacuous: a good share of label sets must get past the parser into the planner.
    const ok = stats.ok - before.ok;
    const sets = stats.sets - before.sets;
    expect(ok / sets, `${ok} of ${sets} label sets parsed OK`).toBeGreaterThanOrEqual(0.2);
    expect(sets - ok, 'and a good share must fail').toBeGreaterThanOrEqual(0.2 * sets);
  });

  it('the same holds under any configured label prefix', () => {
    const prefix = fc.oneof(fc.constantFrom('dg', 'com.example.fw', 'a', 'dockgate.v2', 'x-1'), fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,10}[a-z0-9])?$/));
    fc.assert(
      fc.property(scenario({ prefix }), (s) => {
        stats.runs++;
        checkScenario(s);
      }),
      { numRuns: runs(500) },
    );
  });

  it('no label text ever appears in the restore text unless it is number/address text or fixed vocabulary', () => {
    fc.assert(
      fc.property(scenario(), (s) => {
        stats.runs++;
        const plan = buildRuleSet(inputOf(s));
        const text = renderPlan(plan);
        const vocab = vocabulary(s);
        s.containers.forEach((c, i) => {
          count(s.sets[i]!, parseLabels(c.labels, { prefix: s.prefix, defaults: s.defaults }).ok);
          for (const [key, value] of Object.entries(c.labels)) {
            if (value === '' || !text.includes(value) || explained(value, vocab)) continue;
            throw new Error(`label ${JSON.stringify(key)}=${JSON.stringify(value)} of ${c.name} leaks into the restore text:\n${text}`);
          }
        });
      }),
      { numRuns: runs(2500) },
    );
  });

  it('the text depends only on the parsed policy: canonical labels give the same text, any bad labels the same nothing', () => {
    fc.assert(
      fc.property(scenario(), (s) => {
        stats.runs++;
        const options = { prefix: s.prefix, defaults: s.defaults };
        const text = renderPlan(buildRuleSet(inputOf(s)));
        const twins = s.containers.map((c, i) => {
          const r = parseLabels(c.labels, options);
          count(s.sets[i]!, r.ok);
          const foreign = Object.entries(c.labels).filter(([k]) => !underPrefix(s.prefix, k));
          if (!r.ok) return { ...c, labels: { ...Object.fromEntries(foreign), [`${s.prefix}.nonsense`]: 'x' } };
          const labels = canonicalLabels(s.prefix, r.policy);
          const again = parseLabels(labels, options);
          same(again.ok && again.policy, r.policy, 'canonical labels parse back to the same policy');
          return { ...c, labels: { ...Object.fromEntries(foreign), ...labels } };
        });
        same(renderPlan(buildRuleSet(inputOf(s, twins))), text, 'the text changed with equivalent labels');
      }),
      { numRuns: runs(1500) },
    );
  });

  it('renderDiff between two random plans passes the grammar (both families, their marks, with and without the drop log) and turns one kernel into the other', () => {
    const world = scenario({ maxContainers: 5 }).chain((s) => {
      const n = s.containers.length;
      return fc.record({
        s: fc.constant(s),
        inA: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        inB: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
        relabel: fc.array(fc.option(labelSet(s.prefix), { freq: 3 }), { minLength: n, maxLength: n }),
        reip: fc.array(fc.option(ipv4, { freq: 4 }), { minLength: n, maxLength: n }),
        netsA: fc.subarray(s.networks),
        netsB: fc.subarray(s.networks),
        // The drop log, on by default: NFLOG lines in front of refusals, appearing with it.
        logA: fc.boolean(),
        logB: fc.boolean(),
      });
    });
    fc.assert(
      fc.property(world, ({ s, inA, inB, relabel, reip, netsA, netsB, logA, logB }) => {
        stats.runs++;
        const a = s.containers.filter((_, i) => inA[i]);
        const b = s.containers
          .map((c, i) => {
            const set = relabel[i];
            const ip = reip[i];
            let next = set ? { ...c, labels: labelsOf(set) } : c;
            if (ip && next.networks[0]) next = { ...next, networks: [{ ...next.networks[0], ipv4: ip }, ...next.networks.slice(1)] };
            return next;
          })
          .filter((_, i) => inB[i]);
        s.sets.forEach((set, i) => count(set, parseLabels(s.containers[i]!.labels, { prefix: s.prefix, defaults: s.defaults }).ok));
        const planA = buildRuleSet({ ...inputOf(s, a), networks: netsA, ...(logA ? { dropLog: DROP_LOG } : {}) });
        const planB = buildRuleSet({ ...inputOf(s, b), networks: netsB, ...(logB ? { dropLog: DROP_LOG } : {}) });

        check(renderDiff(planA, planA).size === 0, () => 'no change must give no text');
        const diff = [...renderDiff(planA, planB).values()].join('');
        expectGrammar(diff, { diff: true });
        expectFamiliesGrammar(planB, planA);
        const kernel = kernelFor(planA);
        applyRestore(kernel, diff);
        same(kernelView(kernel, setChains(planB)), kernelView(kernelFor(planB), setChains(planB)), 'diff applied to A is not B');
        check(compare(planB, stateOf(kernel)).clean, () => 'compare() not clean after the diff');
      }),
      { numRuns: runs(1000) },
    );
  });

  it('drift repair (renderFull against a tampered kernel) passes the grammar, converges, and keeps foreign rules', () => {
    const world = fc.tuple(scenario({ maxContainers: 3 }), scenario({ maxContainers: 3 }), fc.array(drift, { maxLength: 5 }));
    fc.assert(
      fc.property(world, ([sa, sb, drifts]) => {
        stats.runs++;
        for (const s of [sa, sb]) s.sets.forEach((set, i) => count(set, parseLabels(s.containers[i]!.labels, { prefix: s.prefix, defaults: s.defaults }).ok));
        const planA = buildRuleSet(inputOf(sa));
        const planB = buildRuleSet(inputOf(sb));
        const kernel = kernelFor(planA);
        for (const d of drifts) applyDrift(kernel, d);
        const foreign = foreignRules(kernel);
        const before = cloneKernel(kernel);
        const repair = [...renderFull(planB, stateOf(kernel)).values()].join('');
        expectGrammar(repair, { diff: true });
        applyRestore(kernel, repair);
        same(ownView(kernel, planB), ownView(kernelFor(planB), planB), 'dockgate chains after repair are not the plan');
        same(foreignRules(kernel), foreign, 'rules of other programs must be left alone');
        const report = compare(planB, stateOf(kernel));
        check(report.clean, () => `not clean after repair: ${JSON.stringify(report)}; kernel before:\n${JSON.stringify(kernelView(before), null, 1)}`);
      }),
      { numRuns: runs(600) },
    );
  });
});
