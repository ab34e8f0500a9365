// The ipsets that hold a DNS name's addresses, one per name and family, shared by every container
// that lists the name. The name of a set is derived from the DNS name alone, so the planner stays
// pure and a refresh of the answers never changes a rule: only the set's members (with their own
// timeouts) change, one small write.
import { createHash } from 'node:crypto';
import type { ContainerPlan, EgressSet, Family } from '../model/types.js';

export type { EgressSet };

/** Every set dockgate makes starts so; a set with it that no plan wants is dockgate's to remove. */
export const SET_PREFIX = 'dockgate-e';
export const SET_NAME = /^dockgate-e([46])-[0-9a-f]{12}$/;

export function setFor(name: string, family: Family): EgressSet {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return { set: `${SET_PREFIX}${family}-${hash}`, family, name };
}

/** The sets a plan's containers match on, in the families planned, each once and sorted. */
export function planSets(containers: readonly ContainerPlan[], families: readonly Family[]): EgressSet[] {
  const names = new Set(containers.flatMap((c) => (c.egressTo ?? []).flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : []))));
  return [...names].sort().flatMap((n) => families.map((f) => setFor(n, f)));
}
