// (config, facts) → RuleSet. Pure: no I/O, no clock. The whole desired state is computed every
// time (kube-proxy style); the dataplane decides how little of it must be rewritten. The stages,
// each in its own file: labels → policy (labels/), ownership → openings (ownership.ts,
// openings.ts), openings → typed rules (container-rules.ts, network-rules.ts), rules → text
// (render.ts, at the edge).
import { readLabels } from '../labels/image.js';
import type { ChainPlan, ContainerFacts, ContainerPlan, Family, FamilyRules, PortRange, RuleSet } from '../model/types.js';
import { type Rule, RETURN, jumpTo } from '../model/rule.js';
import * as C from './chains.js';
import type { ResolveContext } from './openings.js';
import { judgeClaims } from './ownership.js';
import { byText } from '../util/compare.js';
import { bridgeFilter } from './antispoof.js';
import { isHostNetwork, socketsOf } from './host-network.js';
import { planSets } from '../egress/sets.js';
import type { PlanInput } from './input.js';
import { LOOPBACK_GUARD, networkChains } from './network-rules.js';
import { type ParentKey, containerComment, containerPart } from './container-part.js';
import { PlanCache } from './plan-cache.js';

export type { PlanInput } from './input.js';
export type { Ipv6Masquerade } from './network-rules.js';
export { PlanCache, containerComment };

export const DEFAULT_CLAIMABLE: PortRange = { start: 1024, end: 65535 };

const toChain = (chain: string): Rule => ({ match: {}, action: jumpTo(chain), comment: C.JUMP_COMMENT });

/** A set chain (jumps only) and its non-empty shards (containers' rules), see `shardOf`. */
class Shards {
  readonly #rules = new Map<string, Rule[]>();
  constructor(
    readonly table: FamilyRules['chains'][number]['table'],
    readonly name: string,
  ) {}
  add(shard: string, rule: Rule): void {
    const rules = this.#rules.get(shard);
    if (rules) rules.push(rule);
    else this.#rules.set(shard, [rule]);
  }
  chains(): FamilyRules['chains'] {
    const shards = [...this.#rules.keys()].sort();
    const names = shards.map((s) => C.shardChain(this.name, s));
    return [
      { table: this.table, name: this.name, kind: 'set', rules: names.map(toChain) },
      ...shards.map((s, i) => ({ table: this.table, name: names[i]!, kind: 'set' as const, rules: this.#rules.get(s)! })),
    ];
  }
}

/** What the containers put into one family's chains. */
interface FamilyAcc {
  parents: Record<ParentKey, Shards>;
  guards: Rule[];
  /** The shared chains of the egress allow-lists, by name (one per distinct list). */
  egress: Map<string, ChainPlan>;
}

function familyAcc(): FamilyAcc {
  return {
    parents: {
      openings: new Shards('filter', C.OPENINGS),
      containers: new Shards('filter', C.CONTAINERS),
      dnat: new Shards('nat', C.DNAT),
      drops: new Shards('filter', C.DROPS),
    },
    guards: [],
    egress: new Map(),
  };
}

export function buildRuleSet(input: PlanInput, cache?: PlanCache): RuleSet {
  const networkById = new Map(input.networks.map((n) => [n.id, n]));
  const families: Family[] = input.ipv6 === false ? [4] : [4, 6];
  const acc = { 4: familyAcc(), 6: familyAcc() } satisfies Record<Family, FamilyAcc>;
  const plans: ContainerPlan[] = [];
  const trustImageLabels = input.trustImageLabels ?? false;
  const context = cache ? JSON.stringify([input.labelPrefix, input.defaults, trustImageLabels, input.networks, input.otherNetworks ?? [], families, input.resolvers ?? [], input.egressNames ?? true, input.dropLog ?? null]) : '';

  const containers = [...input.containers].sort((a, b) => byText(a.name, b.name) || byText(a.id, b.id));
  const parse = (facts: ContainerFacts) => readLabels(facts, { prefix: input.labelPrefix, defaults: input.defaults, trustImageLabels });
  const labelContext = cache ? JSON.stringify([input.labelPrefix, input.defaults, trustImageLabels]) : '';
  const parsedAll = containers.map((facts) => ({
    facts,
    parsed: cache ? cache.parsed(facts.id, labelContext + JSON.stringify([facts.labels, facts.image]), () => parse(facts)) : parse(facts),
  }));
  const claims = judgeClaims({
    // A host-network container has no port mapping to claim: its label only opens its own sockets.
    containers: parsedAll.map(({ facts, parsed }) => ({ facts, policy: parsed.ok && !isHostNetwork(facts) ? parsed.policy : undefined })),
    claimable: input.claimable ?? DEFAULT_CLAIMABLE,
    listeners: input.listeners,
    granted: input.granted ?? [],
  });
  const otherById = new Map((input.otherNetworks ?? []).map((n) => [n.id, n]));

  for (const { facts, parsed } of parsedAll) {
    const mine = claims.refused.get(facts.id);
    const notes = claims.notes.get(facts.id);
    const sockets = isHostNetwork(facts) ? (socketsOf(facts.id, input.hostSockets) ?? null) : [];
    const key = cache ? context + JSON.stringify(facts) + JSON.stringify([mine ? [...mine] : [], notes ?? [], sockets]) : '';
    let part = cache?.get(facts.id, key);
    if (!part) {
      const ctx: ResolveContext = { networks: networkById, otherNetworks: otherById, labelPrefix: input.labelPrefix, refusedClaims: mine, claimNotes: notes };
      part = containerPart(facts, parsed, input, ctx, families);
      cache?.set(facts.id, key, part);
    }
    plans.push(part.plan);
    const shard = C.shardOf(facts.id);
    for (const f of families) {
      const fp = part.families[f];
      acc[f].guards.push(...fp.guards);
      if (fp.egressChain) acc[f].egress.set(fp.egressChain.name, fp.egressChain);
      for (const r of fp.rules) acc[f].parents[r.parent].add(shard, r.rule);
    }
  }
  cache?.retain(new Set(containers.map((c) => c.id)));

  const v4 = familyRules(input, acc[4], 4);
  return {
    ...v4,
    ...(families.includes(6) ? { ipv6: familyRules(input, acc[6], 6) } : {}),
    containers: plans,
    bridge: { ...bridgeFilter(containers, networkById, input.bridgePorts ?? [], containerComment), ...(input.dropLog ? { log: input.dropLog } : {}) },
    granted: claims.granted,
    bridges: [...new Set(input.networks.map((n) => n.bridge))].sort(byText),
    ...egressSetsOf(plans, families, input.egressNames ?? true),
  };
}

/** One family's chains, in the order they are written, and its jumps. */
function familyRules(input: PlanInput, a: FamilyAcc, f: Family): FamilyRules {
  const hasRaw = !(input.rawMissing ?? []).includes(f);
  // Internal networks first: nothing that enters from one is accepted or DNATed by dockgate.
  const internalGuards = [...input.networks]
    .filter((n) => n.internal)
    .sort((x, y) => byText(x.bridge, y.bridge))
    .map((n): Rule => ({ match: { in: n.bridge }, action: RETURN, comment: `dockgate internal ${n.name}` }));
  const loopback = (action: 'drop' | 'return'): Rule[] => (f === 4 && !hasRaw ? [{ ...LOOPBACK_GUARD, action: { kind: action } }] : []);
  const guarded = (next: string): Rule[] => [...internalGuards, ...a.guards, toChain(next)];
  return {
    chains: [
      // Created when missing, never edited: its rules are the admin's.
      { table: 'filter', name: C.USER, kind: 'ordered', rules: [] },
      {
        table: 'filter',
        name: C.INPUT,
        kind: 'ordered',
        rules: [
          ...loopback('drop'),
          toChain(C.USER),
          ...guarded(C.OPENINGS),
          // Last: only what no opening accepted returns here.
          ...(input.dropLog ? [toChain(C.DROPS)] : []),
        ],
      },
      ...a.parents.openings.chains(),
      ...(input.dropLog ? a.parents.drops.chains() : []),
      ...a.parents.containers.chains(),
      ...[...a.egress.values()].sort((x, y) => byText(x.name, y.name)),
      { table: 'nat', name: C.PREROUTING, kind: 'ordered', rules: [...loopback('return'), ...guarded(C.DNAT)] },
      ...a.parents.dnat.chains(),
      { table: 'nat', name: C.OUTPUT, kind: 'ordered', rules: [toChain(C.DNAT)] },
      ...networkChains(input.networks, { family: f, masquerade6: input.ipv6Masquerade ?? 'ula', adminRouting: input.adminRouting, log: input.dropLog, hasRaw }),
    ],
    jumps: hasRaw ? [...C.JUMPS] : C.JUMPS.filter((j) => j.table !== 'raw'),
  };
}

/** The ipsets of the plan's DNS names; absent when there are none, as in every plan without names. */
function egressSetsOf(plans: readonly ContainerPlan[], families: readonly Family[], names: boolean): Pick<RuleSet, 'egressSets'> {
  const sets = names ? planSets(plans, families) : [];
  return sets.length > 0 ? { egressSets: sets } : {};
}

/** The rules of one family as a RuleSet of its own, for the per-family dataplane and renderers. */
export function familyRuleSet(plan: RuleSet, family: Family): RuleSet | undefined {
  if (family === 4) return { chains: plan.chains, jumps: plan.jumps, containers: plan.containers, ...(plan.bridges ? { bridges: plan.bridges } : {}) };
  return plan.ipv6 ? { chains: plan.ipv6.chains, jumps: plan.ipv6.jumps, containers: plan.containers, ...(plan.bridges ? { bridges: plan.bridges } : {}) } : undefined;
}
