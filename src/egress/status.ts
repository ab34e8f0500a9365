// What `status` says of a container's DNS names: the addresses their sets hold in the kernel now,
// with the seconds each has left, or that a name holds none (it does not resolve, or the daemon
// has not asked yet). Pure: the caller reads the kernel's sets.
import type { ContainerPlan, Family } from '../model/types.js';
import { setFor } from './sets.js';

/** One set as the kernel holds it: each address with the seconds it has left. */
export type KernelSets = ReadonlyMap<string, { members: ReadonlyMap<string, number> }>;

export interface NameAddresses {
  name: string;
  addresses: Array<{ address: string; family: Family; secondsLeft: number }>;
}

/** The names of a container's allow-list with what their sets hold. */
export function namesOf(c: ContainerPlan, kernel: KernelSets): NameAddresses[] {
  const names = [...new Set((c.egressTo ?? []).flatMap((e) => (e.destination.kind === 'name' ? [e.destination.name] : [])))];
  return names.map((name) => ({
    name,
    addresses: ([4, 6] as const).flatMap((family) =>
      [...(kernel.get(setFor(name, family).set)?.members ?? new Map<string, number>())].map(([address, secondsLeft]) => ({ address, family, secondsLeft })),
    ),
  }));
}

/** One line per name, for `status`. */
export function namesText(names: readonly NameAddresses[]): string[] {
  return names.map((n) =>
    n.addresses.length === 0
      ? `  name  ${n.name}: no address (it does not resolve, or the daemon has not resolved it yet): allows nothing`
      : `  name  ${n.name}: ${n.addresses.map((a) => `${a.address} (${a.secondsLeft} s left)`).join(', ')}`,
  );
}
