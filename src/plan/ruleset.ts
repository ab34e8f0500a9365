// (config, facts) → RuleSet. Pure: no I/O, no clock. The whole desired state is computed every
// time (kube-proxy style); the dataplane decides how little of it must be rewritten.
import { parseLabels } from '../labels/parse.js';
import type {
  ChainPlan,
  ContainerFacts,
  ContainerPlan,
  NetworkFacts,
  Opening,
  PolicyDefaults,
  RuleSet,
} from '../model/types.js';
import * as C from './chains.js';
import { bridgeAttachments, resolveOpenings } from './openings.js';
import { byText } from './order.js';
import { rule } from './syntax.js';

export interface PlanInput {
  labelPrefix: string;
  defaults: PolicyDefaults;
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
}

export function containerComment(facts: Pick<ContainerFacts, 'id' | 'name'>): string {
  return `${facts.name}/${C.shortId(facts.id)}`;
}

function sourcesOf(o: Opening): Array<string | undefined> {
  return o.sources.map((s) => (s === '' ? undefined : s));
}

function proxyRules(openings: Opening[], note: string): string[] {
  const out: string[] = [];
  for (const o of openings) {
    if (o.mode !== 'proxy') continue;
    for (const src of sourcesOf(o)) {
      out.push(
        rule({ src, dst: o.hostIp || undefined, proto: o.protocol, dport: o.hostPort, ctstate: 'NEW', comment: note, jump: 'ACCEPT' }),
      );
    }
  }
  return out;
}

function dnatRules(openings: Opening[], note: string): string[] {
  return openings
    .filter((o) => o.mode === 'dnat')
    .map((o) =>
      rule({
        dst: o.hostIp || undefined,
        proto: o.protocol,
        dport: o.hostPort,
        comment: note,
        jump: `DNAT --to-destination ${o.containerIp}:${o.containerPort}`,
      }),
    );
}

function forwardRules(
  facts: ContainerFacts,
  openings: Opening[],
  egress: boolean,
  networks: ReadonlyMap<string, NetworkFacts>,
  note: string,
): string[] {
  const out: string[] = [];
  for (const o of openings) {
    if (o.mode !== 'dnat') continue;
    // Only flows conntrack saw being DNATed by our nat rules: a packet sent straight to the
    // container address never matches, so publishing a port never exposes the container IP.
    for (const src of sourcesOf(o)) {
      out.push(
        rule({ src, dst: o.containerIp, proto: o.protocol, dport: o.containerPort, ctstate: 'DNAT', comment: note, jump: 'ACCEPT' }),
      );
    }
  }
  if (egress) {
    for (const { attachment, network } of bridgeAttachments(facts, networks)) {
      out.push(rule({ src: attachment.ipv4, in: network.bridge, ctstate: 'NEW', comment: note, jump: 'ACCEPT' }));
    }
  }
  return out;
}

function networkChains(networks: readonly NetworkFacts[]): ChainPlan[] {
  const bridges = [...networks].sort((a, b) => byText(a.bridge, b.bridge));
  const forward: string[] = [];
  for (const n of bridges) {
    forward.push(rule({ out: n.bridge, ctstate: 'RELATED,ESTABLISHED', comment: `dockgate replies into ${n.name}`, jump: 'ACCEPT' }));
    forward.push(rule({ in: n.bridge, ctstate: 'RELATED,ESTABLISHED', comment: `dockgate replies from ${n.name}`, jump: 'ACCEPT' }));
  }
  for (const n of bridges) {
    forward.push(rule({ in: n.bridge, out: n.bridge, comment: `dockgate inside ${n.name}`, jump: 'ACCEPT' }));
  }
  for (const a of bridges) {
    for (const b of bridges) {
      if (a === b) continue;
      // A published (DNATed) port stays reachable from other networks; direct traffic does not.
      forward.push(
        rule({ in: a.bridge, out: b.bridge, notCtstate: 'DNAT', comment: `dockgate isolate ${a.name} from ${b.name}`, jump: 'DROP' }),
      );
    }
  }
  forward.push(rule({ comment: C.JUMP_COMMENT, jump: C.CONTAINERS }));
  for (const n of bridges) {
    forward.push(rule({ in: n.bridge, comment: `dockgate fail closed from ${n.name}`, jump: 'DROP' }));
    forward.push(rule({ out: n.bridge, comment: `dockgate fail closed into ${n.name}`, jump: 'DROP' }));
  }

  const postrouting: string[] = [];
  const raw: string[] = [];
  for (const n of bridges) {
    for (const subnet of n.subnets) {
      postrouting.push(rule({ src: subnet, notOut: n.bridge, comment: `dockgate egress of ${n.name}`, jump: 'MASQUERADE' }));
      // Hairpin: a container reaching a published port of its own network must see replies come
      // back through the host, not straight from the peer.
      postrouting.push(
        rule({ src: subnet, out: n.bridge, ctstate: 'DNAT', comment: `dockgate hairpin in ${n.name}`, jump: 'MASQUERADE' }),
      );
      raw.push(rule({ dst: subnet, notIn: n.bridge, comment: `dockgate no direct access to ${n.name}`, jump: 'DROP' }));
    }
    // Ports published on 127.0.0.1 in dnat mode are DNATed out of the loopback range.
    postrouting.push(rule({ src: '127.0.0.0/8', out: n.bridge, comment: `dockgate localhost into ${n.name}`, jump: 'MASQUERADE' }));
  }
  // DNAT happens before the routing code's martian check, so without this a neighbour (or a
  // container, with route_localnet on) could reach ports published on 127.0.0.1.
  raw.push(rule({ dst: '127.0.0.0/8', notIn: 'lo', comment: 'dockgate loopback only from lo', jump: 'DROP' }));

  return [
    { table: 'filter', name: C.FORWARD, kind: 'ordered', rules: forward },
    { table: 'nat', name: C.POSTROUTING, kind: 'ordered', rules: postrouting },
    { table: 'raw', name: C.RAW, kind: 'ordered', rules: raw },
  ];
}

type ParentKey = 'input' | 'containers' | 'prerouting' | 'output';

/** One container's share of the plan; what the memo keeps. */
interface ContainerPart {
  plan: ContainerPlan;
  chains: ChainPlan[];
  jumps: Array<{ parent: ParentKey; line: string }>;
}

/**
 * Remembers each container's part between plans, keyed by everything it depends on. Purely an
 * optimisation: with or without it the plan is the same, but at thousands of containers a
 * change to one no longer re-renders all the others.
 */
export class PlanCache {
  readonly #parts = new Map<string, { key: string; part: ContainerPart }>();
  get(id: string, key: string): ContainerPart | undefined {
    const hit = this.#parts.get(id);
    return hit?.key === key ? hit.part : undefined;
  }
  set(id: string, key: string, part: ContainerPart): void {
    this.#parts.set(id, { key, part });
  }
  /** Drops containers that are gone, so a long churn does not grow memory. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#parts.keys()) if (!ids.has(id)) this.#parts.delete(id);
  }
  get size(): number {
    return this.#parts.size;
  }
}

function containerPart(facts: ContainerFacts, input: PlanInput, networkById: ReadonlyMap<string, NetworkFacts>): ContainerPart {
  const note = containerComment(facts);
  const parsed = parseLabels(facts.labels, { prefix: input.labelPrefix, defaults: input.defaults });
  if (!parsed.ok) {
    // Fail closed: a container with any bad label gets nothing, not even egress.
    return {
      plan: { id: facts.id, name: facts.name, mode: input.defaults.mode, egress: false, openings: [], errors: parsed.errors, warnings: [] },
      chains: [],
      jumps: [],
    };
  }
  const { policy } = parsed;
  const { openings, warnings } = resolveOpenings(facts, policy, networkById, input.labelPrefix);
  const part: ContainerPart = {
    plan: { id: facts.id, name: facts.name, mode: policy.mode, egress: policy.egress, openings, errors: [], warnings },
    chains: [],
    jumps: [],
  };
  const add = (table: ChainPlan['table'], name: string, rules: string[], parents: ParentKey[]): void => {
    if (rules.length === 0) return;
    part.chains.push({ table, name, kind: 'ordered', rules, owner: facts.id });
    for (const parent of parents) part.jumps.push({ parent, line: rule({ comment: note, jump: name }) });
  };
  add('filter', C.containerInputChain(facts.id), proxyRules(openings, note), ['input']);
  add('filter', C.containerForwardChain(facts.id), forwardRules(facts, openings, policy.egress, networkById, note), ['containers']);
  add('nat', C.containerNatChain(facts.id), dnatRules(openings, note), ['prerouting', 'output']);
  return part;
}

export function buildRuleSet(input: PlanInput, cache?: PlanCache): RuleSet {
  const networkById = new Map(input.networks.map((n) => [n.id, n]));
  const parents: Record<ParentKey, ChainPlan> = {
    input: { table: 'filter', name: C.INPUT, kind: 'set', rules: [] },
    containers: { table: 'filter', name: C.CONTAINERS, kind: 'set', rules: [] },
    prerouting: { table: 'nat', name: C.PREROUTING, kind: 'set', rules: [] },
    output: { table: 'nat', name: C.OUTPUT, kind: 'set', rules: [] },
  };
  const perContainer: ChainPlan[] = [];
  const plans: ContainerPlan[] = [];
  const context = cache ? JSON.stringify([input.labelPrefix, input.defaults, input.networks]) : '';

  const containers = [...input.containers].sort((a, b) => byText(a.name, b.name) || byText(a.id, b.id));
  for (const facts of containers) {
    const key = cache ? context + JSON.stringify(facts) : '';
    let part = cache?.get(facts.id, key);
    if (!part) {
      part = containerPart(facts, input, networkById);
      cache?.set(facts.id, key, part);
    }
    plans.push(part.plan);
    perContainer.push(...part.chains);
    for (const j of part.jumps) parents[j.parent].rules.push(j.line);
  }
  cache?.retain(new Set(containers.map((c) => c.id)));

  return {
    chains: [...Object.values(parents), ...networkChains(input.networks), ...perContainer],
    jumps: [...C.JUMPS],
    containers: plans,
  };
}
