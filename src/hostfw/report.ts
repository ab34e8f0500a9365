// Verdicts grouped the way status and doctor show them: one per opening (all its sources), one
// per egress attachment. Pure.
import type { Opening } from '../model/types.js';
import type { Blocker, FlowState, FlowVerdict } from './analysis.js';

export interface Effect {
  state: FlowState;
  blockers: Blocker[];
}

const RANK: Record<FlowState, number> = { effective: 0, unknown: 1, 'may be blocked': 2, blocked: 3 };

function combine(list: readonly FlowVerdict[]): Effect {
  let state: FlowState = 'effective';
  const blockers: Blocker[] = [];
  const seen = new Set<string>();
  for (const v of list) {
    if (RANK[v.state] > RANK[state]) state = v.state;
    for (const b of v.blockers) {
      const k = `${b.chain}\n${b.packets}\n${b.by}`;
      if (!seen.has(k)) blockers.push(b);
      seen.add(k);
    }
  }
  return { state, blockers };
}

/** The effect of each opening (by identity: the plan's own objects). */
export function byOpening(verdicts: readonly FlowVerdict[]): Map<Opening, Effect> {
  const groups = new Map<Opening, FlowVerdict[]>();
  for (const v of verdicts) {
    if (!v.opening) continue;
    groups.set(v.opening, [...(groups.get(v.opening) ?? []), v]);
  }
  return new Map([...groups].map(([o, list]) => [o, combine(list)]));
}

/** The effect of each container's egress, by container id. */
export function byEgress(verdicts: readonly FlowVerdict[]): Map<string, Effect & { from: string[] }> {
  const groups = new Map<string, FlowVerdict[]>();
  for (const v of verdicts) {
    if (v.kind !== 'egress') continue;
    groups.set(v.containerId, [...(groups.get(v.containerId) ?? []), v]);
  }
  return new Map([...groups].map(([id, list]) => [id, { ...combine(list), from: list.map((v) => v.egress!.ip) }]));
}

/** `effective`, or `blocked by inet admin input (policy drop; new connections)`. */
export function describeEffect(e: Effect): string {
  if (e.state === 'effective' || e.state === 'unknown') return e.state;
  const chains = [...new Set(e.blockers.map((b) => b.chain))];
  const first = e.blockers[0]!;
  const rest = chains.length > 1 ? `; also ${chains.slice(1).join(', ')}` : '';
  return `${e.state} by ${first.chain} (${first.by}; ${first.packets})${rest}`;
}
