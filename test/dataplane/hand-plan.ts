// A RuleSet written by hand in an older layout of dockgate's (raw, nat and filter chains,
// per-container chains reached from set chains, the six jumps), with lines exactly as iptables-save prints them.
// The dataplane tests that use it are about writing, reading back and deleting, not about
// planning, so they do not depend on the planner.
import type { ChainPlan, RuleSet, Table } from '../../src/model/types.js';
import { JUMPS } from '../../src/plan/chains.js';
import { rulesOf } from '../support/rule-text.js';

const chain = (table: Table, name: string, kind: ChainPlan['kind'], rules: string[]): ChainPlan => ({ table, name, kind, rules: rulesOf(rules) });

/** Container `i` has id `c0ffee` + 6 digits (the 12 hex dockgate shows), a proxy and a dnat port. */
export const handId = (i: number): string => `c0ffee${String(i).padStart(6, '0')}`;

export function handPlan(containers: readonly number[]): RuleSet {
  const chains: ChainPlan[] = [
    chain('raw', 'DOCKGATE-RAW', 'ordered', ['-d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP']),
  ];
  const prerouting: string[] = [];
  const input: string[] = [];
  const forward: string[] = [];
  const perContainer: ChainPlan[] = [];
  for (const i of containers) {
    const id = handId(i);
    const note = `-m comment --comment "c${i}/${id}"`;
    const ip = `172.17.${Math.floor(i / 200)}.${(i % 200) + 2}`;
    input.push(`${note} -j DOCKGATE-CI-${id}`);
    prerouting.push(`${note} -j DOCKGATE-CN-${id}`);
    forward.push(`${note} -j DOCKGATE-CF-${id}`);
    perContainer.push(
      chain('filter', `DOCKGATE-CI-${id}`, 'ordered', [`-d 10.0.0.5/32 -p tcp -m tcp --dport ${8000 + i} -m conntrack --ctstate NEW ${note} -j ACCEPT`]),
      chain('nat', `DOCKGATE-CN-${id}`, 'ordered', [`-d 10.0.0.5/32 -p tcp -m tcp --dport ${9000 + i} ${note} -j DNAT --to-destination ${ip}:80`]),
      chain('filter', `DOCKGATE-CF-${id}`, 'ordered', [`-d ${ip}/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT ${note} -j ACCEPT`]),
    );
  }
  chains.push(
    chain('nat', 'DOCKGATE-PREROUTING', 'set', prerouting),
    chain('nat', 'DOCKGATE-OUTPUT', 'set', [...prerouting]),
    chain('nat', 'DOCKGATE-POSTROUTING', 'ordered', ['-s 172.17.0.0/16 ! -o docker0 -m comment --comment "dockgate egress of bridge" -j MASQUERADE']),
    chain('filter', 'DOCKGATE-INPUT', 'set', input),
    chain('filter', 'DOCKGATE-CONTAINERS', 'set', forward),
    chain('filter', 'DOCKGATE-FORWARD', 'ordered', [
      '-o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "dockgate replies into bridge" -j ACCEPT',
      '-m comment --comment dockgate -j DOCKGATE-CONTAINERS',
      '-o docker0 -m comment --comment "dockgate fail closed into bridge" -j DROP',
    ]),
    ...perContainer,
  );
  return { chains, jumps: [...JUMPS], containers: [] };
}
