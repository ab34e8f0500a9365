// Container and network facts as docker/ would produce them, for the planner's tests.
import type { ContainerFacts, ContainerImage, NetworkFacts, PolicyDefaults, RuleSet } from '../../src/model/types.js';
import { type PlanInput, buildRuleSet } from '../../src/plan/ruleset.js';
import { linesOf } from '../../src/plan/render.js';

export const BRIDGE: NetworkFacts = {
  id: 'aa'.repeat(32),
  name: 'bridge',
  bridge: 'docker0',
  subnets: ['172.17.0.0/16'],
  subnets6: [],
  internal: false,
};
export const FRONT: NetworkFacts = { id: 'bb'.repeat(32), name: 'front', bridge: 'br-bbbbbbbbbbbb', subnets: ['172.20.0.0/24'], subnets6: [], internal: false };
export const BACK: NetworkFacts = { id: 'cc'.repeat(32), name: 'back', bridge: 'dg-back', subnets: ['172.21.0.0/24'], subnets6: [], internal: false };
/** A `docker network create --internal` network. */
export const SEALED: NetworkFacts = { id: 'dd'.repeat(32), name: 'sealed', bridge: 'br-dddddddddddd', subnets: ['172.22.0.0/24'], subnets6: [], internal: true };
/** A dual-stack user network (`docker network create --ipv6 --subnet fd00:db8:1::/64`). */
export const DUAL: NetworkFacts = {
  id: 'ee'.repeat(32),
  name: 'dual',
  bridge: 'br-eeeeeeeeeeee',
  subnets: ['172.23.0.0/24'],
  subnets6: ['fd00:db8:1::/64'],
  internal: false,
};

export const DEFAULTS: PolicyDefaults = {
  mode: 'proxy',
  from: [
    { family: 4, text: '0.0.0.0/0' },
    { family: 6, text: '::/0' },
  ],
  egress: { kind: 'all' },
};

let counter = 0;
/** A container on `network` with the given labels and `-p` bindings ('HOSTIP:HOSTPORT:PORT/PROTO'). */
export function container(
  name: string,
  options: { labels?: Record<string, string>; image?: ContainerImage; publish?: string[]; network?: NetworkFacts; ip?: string; ip6?: string; id?: string; created?: string } = {},
): ContainerFacts {
  counter++;
  const id = options.id ?? (counter.toString(16).padStart(4, '0') + name.replace(/[^a-f0-9]/g, '')).padEnd(64, 'e').slice(0, 64);
  const network = options.network ?? BRIDGE;
  return {
    id,
    name,
    labels: options.labels ?? {},
    // An image without labels of its own: every label is the admin's.
    image: options.image ?? { kind: 'inspected', ref: 'dgbox:latest', sameAsImage: [] },
    // Later fixtures are younger, as containers created one after the other.
    created: options.created ?? `2026-01-01T00:00:${String(counter % 60).padStart(2, '0')}.${String(counter).padStart(9, '0')}Z`,
    networks: [{ networkId: network.id, networkName: network.name, ipv4: options.ip ?? '172.17.0.2', ...(options.ip6 !== undefined ? { ipv6: options.ip6 } : {}) }],
    ports: (options.publish ?? []).map((p) => {
      // 'HOSTIP:HOSTPORT:PORT/PROTO', an IPv6 host IP in brackets as Docker's CLI writes it.
      const m = /^(\[[0-9a-f:]+\]|[0-9.]+):(\d+):(\d+)\/(tcp|udp)$/.exec(p);
      if (!m) throw new Error(`bad fixture binding ${p}`);
      return { hostIp: m[1]!.replace(/^\[|\]$/g, ''), hostPort: Number(m[2]), containerPort: Number(m[3]), protocol: m[4] as 'tcp' | 'udp' };
    }),
  };
}

/** Every container line of a set chain (DOCKGATE-OPENINGS, -CONTAINERS, -DNAT): the lines of its shards. */
export function shardLines(p: Pick<RuleSet, 'chains'>, parent: string): string[] {
  const shard = new RegExp(`^${parent}-[0-9a-f]{2}$`);
  return p.chains.filter((c) => shard.test(c.name)).flatMap((c) => linesOf(c));
}

/** The planner over these fixtures: one home for the wrapper the plan, dataplane and trace tests use. */
export function plan(containers: ContainerFacts[], networks: NetworkFacts[] = [BRIDGE], extra: Partial<PlanInput> = {}): RuleSet {
  return buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks, ...extra });
}
