// Docker's own chains, left behind once Docker runs with "iptables": false: found for doctor, and
// removed (with the rules that jump to them, and nothing else) by `install --flush-docker-chains`.
import type { KernelState } from '../plan/kernel-state.js';

/**
 * The chains dockerd creates (20.10 to 28.x; DOCKER-INGRESS is swarm's). A fixed list, not a
 * prefix, so that an admin's own chain that happens to start with DOCKER is never touched.
 */
export const DOCKER_CHAINS: ReadonlySet<string> = new Set([
  'DOCKER',
  'DOCKER-USER',
  'DOCKER-ISOLATION-STAGE-1',
  'DOCKER-ISOLATION-STAGE-2',
  'DOCKER-INGRESS',
  'DOCKER-FORWARD',
  'DOCKER-BRIDGE',
  'DOCKER-CT',
]);

export interface FoundChain {
  table: string;
  chain: string;
  rules: number;
}

/**
 * The rule's jump or goto target, if any. Quoted text (comments, log prefixes) is blanked first so
 * that a comment spelling out "-j DOCKER" never makes an admin's rule look like Docker's jump.
 */
export function ruleTarget(line: string): string | undefined {
  const bare = line.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const all = [...bare.matchAll(/(?:^|\s)-[jg]\s+(\S+)/g)];
  return all.at(-1)?.[1];
}

export function dockerChainsIn(state: KernelState): FoundChain[] {
  const out: FoundChain[] = [];
  for (const [table, t] of state) {
    for (const [chain, rules] of t.chains) {
      if (DOCKER_CHAINS.has(chain)) out.push({ table, chain, rules: rules.length });
    }
  }
  return out;
}

export interface DockerFlush {
  /** iptables-restore --noflush input; '' when there is nothing to remove. */
  text: string;
  chains: FoundChain[];
  /** Rules outside Docker's chains that jump into them (removed too, else the chains cannot go). */
  jumps: Array<{ table: string; chain: string; line: string }>;
}

/**
 * Per table: delete every rule elsewhere that jumps into a Docker chain, then flush and delete the
 * Docker chains (flush all before deleting any: they jump to each other). One COMMIT per table,
 * so each table changes atomically.
 */
export function renderDockerFlush(state: KernelState): DockerFlush {
  const parts: string[] = [];
  const chains: FoundChain[] = [];
  const jumps: DockerFlush['jumps'] = [];
  for (const [table, t] of state) {
    const ours = [...t.chains.keys()].filter((c) => DOCKER_CHAINS.has(c));
    if (ours.length === 0) continue;
    const lines = [`*${table}`];
    for (const [chain, rules] of t.chains) {
      if (DOCKER_CHAINS.has(chain)) continue;
      for (const line of rules) {
        const target = ruleTarget(line);
        if (target !== undefined && DOCKER_CHAINS.has(target)) {
          lines.push(`-D ${chain} ${line}`);
          jumps.push({ table, chain, line });
        }
      }
    }
    for (const c of ours) lines.push(`-F ${c}`);
    for (const c of ours) lines.push(`-X ${c}`);
    lines.push('COMMIT');
    parts.push(`${lines.join('\n')}\n`);
    for (const c of ours) chains.push({ table, chain: c, rules: t.chains.get(c)?.length ?? 0 });
  }
  return { text: parts.join(''), chains, jumps };
}
