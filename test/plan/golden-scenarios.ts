// The scenarios behind test/plan/golden/*.rules, one home for the golden test and for the tests
// that compare variants of the same plans (the drop log adds only NFLOG lines to each).
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import type { PlanInput } from '../../src/plan/ruleset.js';
import { BACK, BRIDGE, DUAL, FRONT, container, plan } from './fixtures.js';

export const WEB = 'c0ffee000001'.padEnd(64, '0');
export const API = 'c0ffee000002'.padEnd(64, '0');
export const DB = 'c0ffee000003'.padEnd(64, '0');
export const BAD = 'c0ffee000004'.padEnd(64, '0');
export const LOOSE = 'c0ffee000005'.padEnd(64, '0');

type Scenario = (extra?: Partial<PlanInput>) => RuleSet;

/** Keyed by golden file name (without .rules); each takes extra planner input, none for the golden file itself. */
export const goldenScenarios: Record<string, Scenario> = {
  'proxy-basic': (extra) =>
    plan([container('web', { id: WEB, labels: { 'dockgate.ports': '8000' }, publish: ['10.0.0.5:8000:8000/tcp', '[::]:8000:8000/tcp'] })], undefined, extra),
  'dnat-mapping-and-sources': (extra) =>
    plan(
      [
        container('api', {
          id: API,
          ip: '172.17.0.3',
          labels: { 'dockgate.ports': '10.0.0.5:8080:80,5353/udp', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/24,192.168.7.9,2001:db8::/32' },
          publish: ['0.0.0.0:5353:5353/udp'],
        }),
      ],
      undefined,
      extra,
    ),
  'unlabelled-bad-and-egress-off': (extra) =>
    plan(
      [
        container('loose', { id: LOOSE, publish: ['0.0.0.0:9000:9000/tcp'] }),
        container('bad', { id: BAD, ip: '172.17.0.4', labels: { 'dockgate.ports': '80 -j ACCEPT' }, publish: ['0.0.0.0:80:80/tcp'] }),
        container('db', { id: DB, ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' } }),
      ],
      undefined,
      extra,
    ),
  'networks-two-user-bridges': (extra) =>
    plan(
      [
        container('web', { id: WEB, network: FRONT, ip: '172.20.0.2', labels: { 'dockgate.ports': '8000:80', 'dockgate.mode': 'dnat' } }),
        container('db', { id: DB, network: BACK, ip: '172.21.0.2', labels: { 'dockgate.egress': 'false' } }),
        container('api', { id: API, ip: '172.17.0.3' }),
      ],
      [BRIDGE, FRONT, BACK],
      extra,
    ),
};

/**
 * golden/ipv6-dual-stack.rules is the IPv6 half of this plan (test/plan/ipv6.test.ts builds the
 * same one for its own assertions); its IPv4 half is compared here as well.
 */
export function dualStackScenario(extra?: Partial<PlanInput>): RuleSet {
  const dual = (name: string, id: string, n: number, labels: Record<string, string>, publish: string[] = []): ContainerFacts => {
    const c = container(name, { id, network: DUAL, ip: `172.23.0.${n}`, ip6: `fd00:db8:1::${n}`, labels, publish });
    return { ...c, networks: c.networks.map((a) => ({ ...a, mac: `02:42:ac:17:00:0${n}` })) };
  };
  return plan(
    [
      dual('web', 'c0ffee000061'.padEnd(64, '0'), 2, { 'dockgate.ports': '80' }, ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp']),
      dual('api', 'c0ffee000062'.padEnd(64, '0'), 3, { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8,2001:db8:9::/48' }),
      dual('jail', 'c0ffee000063'.padEnd(64, '0'), 4, { 'dockgate.egress': 'false' }),
    ],
    [BRIDGE, DUAL],
    extra,
  );
}

