// The planner's memory between plans. Purely an optimisation: with or without it the plan is the
// same, but at thousands of containers a change to one no longer re-plans all the others.
import type { LabelReading } from '../labels/image.js';
import type { ContainerPart } from './container-part.js';

/** Each container's part and parsed labels, keyed by everything they depend on. */
export class PlanCache {
  readonly #parts = new Map<string, { key: string; part: ContainerPart }>();
  readonly #policies = new Map<string, { key: string; parsed: LabelReading }>();
  get(id: string, key: string): ContainerPart | undefined {
    const hit = this.#parts.get(id);
    return hit?.key === key ? hit.part : undefined;
  }
  set(id: string, key: string, part: ContainerPart): void {
    this.#parts.set(id, { key, part });
  }
  parsed(id: string, key: string, parse: () => LabelReading): LabelReading {
    const hit = this.#policies.get(id);
    if (hit?.key === key) return hit.parsed;
    const parsed = parse();
    this.#policies.set(id, { key, parsed });
    return parsed;
  }
  /** Drops containers that are gone, so a long churn does not grow memory. */
  retain(ids: ReadonlySet<string>): void {
    for (const id of this.#parts.keys()) if (!ids.has(id)) this.#parts.delete(id);
    for (const id of this.#policies.keys()) if (!ids.has(id)) this.#policies.delete(id);
  }
  get size(): number {
    return this.#parts.size;
  }
}
