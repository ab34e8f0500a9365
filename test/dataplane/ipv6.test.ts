// The IPv6 half of the dataplane on a real kernel: real ip6tables-restore and ip6tables-save in a
// namespace this test makes. What the planner writes reads back exactly, diffs touch only one
// container's lines, and flush leaves ip6tables-save as it was.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { FamilyDataplanes, probeIpv6 } from '../../src/dataplane/families.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { buildRuleSet, familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DEFAULTS, DUAL, container } from '../plan/fixtures.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, saveClean } from '../support/netns.js';

let ns: Netns;
let queue: CommandQueue;
let both: FamilyDataplanes;
let pristine6: string;
let pristine4: string;

const save = (cmd: 'iptables-save' | 'ip6tables-save'): Promise<string> => saveClean(ns, cmd);

const plan = (containers: ContainerFacts[]): RuleSet =>
  buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks: [BRIDGE, DUAL] });

const fleet = Array.from({ length: 12 }, (_, i) =>
  container(`v6svc${i}`, {
    network: DUAL,
    ip: `172.23.0.${i + 2}`,
    ip6: `fd00:db8:1::${(i + 2).toString(16)}`,
    labels: {
      'dockgate.ports': i % 3 === 0 ? `${20000 + i}:80` : '80',
      'dockgate.mode': i % 3 === 0 ? 'dnat' : 'proxy',
      'dockgate.from': i % 4 === 0 ? '10.0.0.0/24,2001:db8:9::/48' : '0.0.0.0/0,::/0',
      'dockgate.egress': i % 5 === 0 ? 'false' : 'true',
    },
    publish: [`0.0.0.0:${10000 + i}:80/tcp`, `[::]:${10000 + i}:80/tcp`, `[fd00:1::5]:${11000 + i}:80/udp`],
  }),
);

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('v6');
  await ns.exec('ip6tables', ['-P', 'INPUT', 'DROP']);
  await ns.exec('ip6tables', ['-A', 'INPUT', '-p', 'ipv6-icmp', '-j', 'ACCEPT']);
  pristine6 = await save('ip6tables-save');
  pristine4 = await save('iptables-save');
  queue = new CommandQueue({ netns: ns.path });
  const v6 = { restoreCommand: 'ip6tables-restore', saveCommand: 'ip6tables-save', waitSeconds: 5 };
  both = new FamilyDataplanes(
    new Dataplane(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 })),
    new Dataplane(new Iptables(queue, v6, 6)),
  );
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('ip6tables on a real kernel', () => {
  it('the host has IPv6 in the namespace', async () => {
    expect(await probeIpv6(queue, { restoreCommand: 'ip6tables-restore', saveCommand: 'ip6tables-save', waitSeconds: 5 })).toBe(true);
  });

  it('writes both families, and ip6tables-save reads back exactly the IPv6 plan', async () => {
    const p = plan(fleet);
    const r = await both.sync(p);
    expect(r.kind).toBe('full');
    const state = parseSave((await ns.exec('ip6tables-save', [])).stdout);
    const drift = compare(familyRuleSet(p, 6)!, state);
    expect(drift.chains).toEqual([]);
    expect(drift.jumps).toEqual([]);
    expect(drift.clean).toBe(true);
    expect(compare(p, parseSave((await ns.exec('iptables-save', [])).stdout)).clean).toBe(true);
    const text = await save('ip6tables-save');
    expect(text).toMatch(/-j DNAT --to-destination \[fd00:db8:1::2\]:80/);
    expect(text).toContain('-A INPUT -p ipv6-icmp -j ACCEPT');
  });

  it('a repair of an untouched kernel writes nothing; one container\'s change is a diff of its own lines', async () => {
    const p = plan(fleet);
    expect((await both.repair(p)).kind).toBe('none');
    const fewer = plan(fleet.slice(1));
    const r = await both.sync(fewer);
    expect(r.kind).toBe('diff');
    expect(compare(familyRuleSet(fewer, 6)!, parseSave((await ns.exec('ip6tables-save', [])).stdout)).clean).toBe(true);
  });

  it('drift in ip6tables is found and repaired, and says it is about IPv6', async () => {
    await ns.exec('ip6tables', ['-F', 'DOCKGATE-FORWARD']);
    const p = plan(fleet.slice(1));
    const r = await both.repair(p);
    expect(r.kind).toBe('full');
    expect(r.drift?.chains.some((c) => (c as { family?: number }).family === 6 && c.chain === 'DOCKGATE-FORWARD')).toBe(true);
    expect(compare(familyRuleSet(p, 6)!, parseSave((await ns.exec('ip6tables-save', [])).stdout)).clean).toBe(true);
  });

  it('flush --user-chain leaves ip6tables-save (and iptables-save) exactly as before', async () => {
    await both.flushReport({ userChain: true });
    expect(await save('ip6tables-save')).toBe(pristine6);
    expect(await save('iptables-save')).toBe(pristine4);
  });
});
