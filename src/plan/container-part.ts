// One container's share of the plan: what status reports of it (ContainerPlan) and its typed
// rules per family, ready to be placed in the shared chains. Pure.
import { type LabelReading, describeImageLabels } from '../labels/image.js';
import type { ContainerFacts, ContainerPlan, BridgeAddress, EgressPolicy, Family } from '../model/types.js';
import type { ChainPlan, Rule } from '../model/rule.js';
import { type ResolveContext, networkWarnings, resolveAll } from './openings.js';
import { inputLogRules } from './drop-log.js';
import { isHostNetwork, resolveHostNetwork } from './host-network.js';
import { bridgeAddresses, dnatRules, forwardRules, guardRules, proxyRules } from './container-rules.js';
import type { PlanInput } from './input.js';

/** The shared set chains a container's rules go to, each through its shard (chains.ts `shardOf`). */
export type ParentKey = 'openings' | 'containers' | 'dnat' | 'drops';

/** One container's rules in one family. */
export interface FamilyPart {
  /** Its rules for the shared set chains (its accepts, DNATs, egress and log rules), by parent. */
  rules: Array<{ parent: ParentKey; rule: Rule }>;
  /** Rules that keep this container (egress off) from reaching published ports through the host. */
  guards: Rule[];
  /** The shared chain of its egress allow-list its rules jump to (egress/rules.ts `egressChain`). */
  egressChain?: ChainPlan;
}

export interface ContainerPart {
  plan: ContainerPlan;
  families: Record<Family, FamilyPart>;
}

export function containerComment(facts: Pick<ContainerFacts, 'id' | 'name'>): string {
  return `${facts.name}/${facts.id.slice(0, 12)}`;
}

const empty = (): Record<Family, FamilyPart> => ({ 4: { rules: [], guards: [] }, 6: { rules: [], guards: [] } });

function add(fp: FamilyPart, parent: ParentKey, rules: readonly Rule[]): void {
  for (const rule of rules) fp.rules.push({ parent, rule });
}

export function containerPart(facts: ContainerFacts, parsed: LabelReading, input: PlanInput, ctx: ResolveContext, families: readonly Family[]): ContainerPart {
  const imageWarning = describeImageLabels(facts.image, parsed.imageLabels);
  const fromImage = imageWarning === undefined ? [] : [imageWarning];
  if (!parsed.ok) return failedPart(facts, parsed, input, ctx, families, fromImage);
  if (isHostNetwork(facts)) return hostNetworkPart(facts, parsed, input, families, fromImage);
  const note = containerComment(facts);
  const { policy } = parsed;
  const { openings, warnings, errors } = resolveAll(facts, policy, ctx, families);
  const addresses = families.flatMap((f) => bridgeAddresses(facts, ctx.networks, f));
  const from = policy.egress.kind === 'none' ? [] : addresses;
  const part: ContainerPart = {
    plan: {
      id: facts.id,
      name: facts.name,
      mode: policy.mode,
      egress: policy.egress.kind !== 'none',
      ...(policy.egress.kind === 'list' ? { egressTo: policy.egress.entries } : {}),
      openings,
      errors,
      warnings: [...fromImage, ...networkWarnings(facts, policy, ctx), ...warnings, ...(ctx.claimNotes ?? []), ...namesWithoutIpset(policy.egress, input.egressNames ?? true)],
      imageLabels: parsed.imageLabels,
      ...(addresses.length > 0 ? { addresses } : {}),
    },
    families: empty(),
  };
  const egress = { policy: policy.egress, resolvers: input.resolvers ?? [], names: input.egressNames ?? true };
  for (const family of families) {
    const fp = part.families[family];
    const mine = openings.filter((o) => o.family === family);
    // An allow-list denies everything it does not name, the host's published ports included.
    fp.guards = policy.egress.kind === 'all' ? [] : guardRules(facts, ctx.networks, note, family);
    // A container's rules go straight into its shard of the shared set chains: every one of them
    // is an ACCEPT, a DNAT to this container on a host port only it owns, or an NFLOG, so their
    // order never matters, and each carries the container's comment, so a change adds and deletes
    // exactly its own lines. No chain per container: on the nf_tables backend every chain costs.
    add(fp, 'openings', proxyRules(mine, note));
    const forward = forwardRules(mine, egress, family, from.filter((a: BridgeAddress) => a.family === family), note);
    add(fp, 'containers', forward.rules);
    if (forward.chain) fp.egressChain = forward.chain;
    if (forward.leaves) part.plan.leavesFrom = [...(part.plan.leavesFrom ?? []), ...from.filter((a) => a.family === family)];
    add(fp, 'dnat', dnatRules(mine, note));
    if (input.dropLog) add(fp, 'drops', inputLogRules(input.dropLog, facts, policy, openings, family, note));
  }
  return part;
}

/** Fail closed: a container with any bad label gets nothing, not even egress. */
function failedPart(
  facts: ContainerFacts,
  parsed: Extract<LabelReading, { ok: false }>,
  input: PlanInput,
  ctx: ResolveContext,
  families: readonly Family[],
  fromImage: string[],
): ContainerPart {
  const note = containerComment(facts);
  const part: ContainerPart = {
    plan: {
      id: facts.id,
      name: facts.name,
      mode: input.defaults.mode,
      egress: false,
      openings: [],
      errors: parsed.errors,
      warnings: [...fromImage, ...networkWarnings(facts, undefined, ctx)],
      imageLabels: parsed.imageLabels,
    },
    families: empty(),
  };
  for (const f of families) {
    part.families[f].guards = guardRules(facts, ctx.networks, note, f);
    if (input.dropLog) add(part.families[f], 'drops', inputLogRules(input.dropLog, facts, undefined, [], f, note));
  }
  return part;
}

/**
 * A `--network host` container's servers are sockets on the host itself: INPUT accepts, and no
 * address of its own to DNAT to, guard or lead out.
 */
function hostNetworkPart(
  facts: ContainerFacts,
  parsed: Extract<LabelReading, { ok: true }>,
  input: PlanInput,
  families: readonly Family[],
  fromImage: string[],
): ContainerPart {
  const note = containerComment(facts);
  const { policy } = parsed;
  const { openings, warnings, errors } = resolveHostNetwork(facts, policy, input.hostSockets, input.labelPrefix, families);
  const part: ContainerPart = {
    plan: { id: facts.id, name: facts.name, mode: 'proxy', egress: true, openings, errors, warnings: [...fromImage, ...warnings], imageLabels: parsed.imageLabels, hostNetwork: true },
    families: empty(),
  };
  for (const f of families) {
    add(part.families[f], 'openings', proxyRules(openings.filter((o) => o.family === f), note));
    if (input.dropLog) add(part.families[f], 'drops', inputLogRules(input.dropLog, facts, policy, openings, f, note));
  }
  return part;
}

/** A warning for the names of a list on a host without ipset: they allow nothing. */
function namesWithoutIpset(egress: EgressPolicy, names: boolean): string[] {
  if (names || egress.kind !== 'list') return [];
  const listed = egress.entries.flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : []));
  return listed.length === 0 ? [] : [`egress names ${[...new Set(listed)].join(', ')} allow nothing: ipset is not installed (apt-get install ipset)`];
}
