// Synthetic Docker facts for the dataplane benchmark: N containers spread over three bridge
// networks, each publishing two TCP ports on 0.0.0.0, half in proxy mode and half in dnat mode,
// all with the default sources (everyone) and egress allowed. Deterministic: container i is the
// same in every run.
import { createHash } from 'node:crypto';
import type { ContainerFacts, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { type PlanCache, buildRuleSet } from '../../src/plan/ruleset.js';

export const NETWORKS: NetworkFacts[] = [
  { id: 'a1'.repeat(32), name: 'bridge', bridge: 'docker0', subnets: ['172.17.0.0/16'], subnets6: [], internal: false },
  { id: 'b2'.repeat(32), name: 'front', bridge: 'br-b2b2b2b2b2b2', subnets: ['172.20.0.0/16'], subnets6: [], internal: false },
  { id: 'c3'.repeat(32), name: 'back', bridge: 'br-c3c3c3c3c3c3', subnets: ['172.21.0.0/16'], subnets6: [], internal: false },
];

// The planner tests' defaults (everyone, proxy, egress on): one copy of them.
export { DEFAULTS } from '../../test/plan/fixtures.js';
import { DEFAULTS } from '../../test/plan/fixtures.js';

const SECOND_OCTET = [17, 20, 21];

/** Container number i (0-based). Host ports 10000 + 2i and 10001 + 2i (fine up to i = 27000). */
export function syntheticContainer(i: number): ContainerFacts {
  const net = NETWORKS[i % NETWORKS.length]!;
  const id = createHash('sha256').update(`dockgate-bench-${i}`).digest('hex');
  const ip = `172.${SECOND_OCTET[i % NETWORKS.length]}.${Math.floor(i / 250)}.${(i % 250) + 2}`;
  return {
    id,
    name: `svc-${String(i).padStart(5, '0')}`,
    labels: { 'dockgate.ports': '80,443', 'dockgate.mode': i % 2 === 0 ? 'proxy' : 'dnat' },
    image: { kind: 'inspected', ref: 'svc:1', sameAsImage: [] },
    networks: [{ networkId: net.id, networkName: net.name, ipv4: ip }],
    ports: [
      { containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 10000 + 2 * i },
      { containerPort: 443, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 10001 + 2 * i },
    ],
    // Creation order = container number (decides ownership of a contested port; none is here).
    created: `2026-01-01T00:00:00.${String(i).padStart(9, '0')}Z`,
  };
}

export function fleet(n: number): ContainerFacts[] {
  return Array.from({ length: n }, (_, i) => syntheticContainer(i));
}

/** `cache`: plan as the daemon does, through one PlanCache, so a change re-plans only its container. */
export function planFor(containers: readonly ContainerFacts[], cache?: PlanCache): RuleSet {
  return buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks: NETWORKS }, cache);
}

/** Rules and user chains a plan holds (jumps from built-in chains not counted). */
export function planSize(plan: RuleSet): { chains: number; rules: number } {
  return { chains: plan.chains.length, rules: plan.chains.reduce((a, c) => a + c.rules.length, 0) };
}
