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

/** The default timeout a set is created with; every member is added with its own. */
export const SET_DEFAULT_TIMEOUT_S = 300;

/** `ipset restore` lines that create the sets (with -exist, existing ones keep their members). */
export function renderSetCreates(sets: readonly EgressSet[]): string[] {
  return sets.map((s) => `create ${s.set} hash:ip family ${s.family === 6 ? 'inet6' : 'inet'} timeout ${SET_DEFAULT_TIMEOUT_S}`);
}

/** What `dockgate plan` prints of the sets: what each holds, then how it is made. */
export function renderSetsText(sets: readonly EgressSet[]): string {
  if (sets.length === 0) return '';
  const about = sets.map((s) => `# ${s.set}: the ${s.family === 6 ? 'AAAA' : 'A'} answers of ${s.name}, each for max(TTL, 30 s) + egress.dns_grace_s (filled by the running daemon)`);
  return `# ipset restore -exist (the DNS names of egress allow-lists)\n${[...about, ...renderSetCreates(sets)].join('\n')}\n`;
}
