// A reload's new dataplane on a real kernel: where it writes with the same programs through the
// same queue, it takes over what the old one wrote (handOver), so its first write is a diff of the
// changed chains, not a read and rewrite of every table. Real iptables-restore and iptables-save
// inside a network namespace this test makes and removes.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { type FamilyIptablesOptions, handOver, makeDataplanes } from '../../src/dataplane/families.js';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { BACK, BRIDGE, FRONT, container, plan as planOn } from '../plan/fixtures.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, saveClean } from '../support/netns.js';

const plan = (containers: ContainerFacts[]): RuleSet => planOn(containers, [BRIDGE, FRONT, BACK]);

const section: FamilyIptablesOptions = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', ip6RestoreCommand: 'ip6tables-restore', ip6SaveCommand: 'ip6tables-save', waitSeconds: 5 };

// Each container in a shard of its own, so that the lines of one are told apart by their chains.
const fleet = Array.from({ length: 40 }, (_, i) =>
  container(`svc${i}`, {
    id: (i * 6).toString(16).padStart(2, '0').padEnd(64, 'c'),
    network: [BRIDGE, FRONT, BACK][i % 3],
    ip: `172.${[17, 20, 21][i % 3]}.0.${i + 2}`,
    labels: { 'dockgate.ports': '80', 'dockgate.mode': i % 2 === 0 ? 'dnat' : 'proxy', 'dockgate.from': '10.0.0.0/24' },
    publish: [`0.0.0.0:${10000 + i}:80/tcp`],
  }),
);
/** The fleet with one container's sources changed, as a reload of `defaults.from` would for a container on the defaults. */
const widened = (i: number): ContainerFacts[] => fleet.map((c, j) => (j === i ? { ...c, labels: { ...c.labels, 'dockgate.from': '10.0.0.0/16' } } : c));

let ns: Netns;
let queue: CommandQueue;

/** The restore inputs the queue ran while `f` did. */
async function restoresDuring(f: () => Promise<unknown>): Promise<string[]> {
  const run = vi.spyOn(queue, 'run');
  try {
    await f();
    return run.mock.calls.filter(([file]) => file === 'iptables-restore').map(([, , o]) => o?.input ?? '');
  } finally {
    run.mockRestore();
  }
}

const kernelEqualsPlan = async (p: RuleSet): Promise<boolean> => compare(p, parseSave((await ns.exec('iptables-save', [])).stdout)).clean;

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('ho');
  await ns.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
  queue = new CommandQueue({ netns: ns.path });
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('a dataplane that takes over from the one it replaces', () => {
  it("writes only the changed container's chains, and the kernel ends equal to the plan", async () => {
    const old = makeDataplanes(queue, section, false);
    expect((await old.sync(plan(fleet))).kind).toBe('full');
    const before = (await saveClean(ns)).split('\n');

    // A reload that changes only the lock wait: the same kernel.
    const next = makeDataplanes(queue, { ...section, waitSeconds: 7 }, false);
    expect(handOver(old, next)).toBe(true);
    const changed = plan(widened(9));
    // The daemon's first sync after a reload is a full check: it reads the kernel, finds it as
    // the old dataplane left it, and writes the change alone.
    let kind = '';
    const inputs = await restoresDuring(async () => (kind = (await next.repair(changed)).kind));
    expect(kind).toBe('diff');
    expect(inputs).toHaveLength(1);
    const written = inputs[0]!.split('\n').filter((l) => /^[-:]/.test(l));
    expect(written.length).toBeGreaterThan(0);
    const shard = fleet[9]!.id.slice(0, 2);
    for (const l of written) expect(l).toMatch(new RegExp(`-${shard}( |$)`));

    const after = (await saveClean(ns)).split('\n');
    const short = fleet[9]!.id.slice(0, 12);
    for (const l of [...before.filter((x) => !after.includes(x)), ...after.filter((x) => !before.includes(x))]) expect(l).toContain(short);
    expect(await kernelEqualsPlan(changed)).toBe(true);

    // Another reload that changes nothing: nothing written.
    const third = makeDataplanes(queue, section, false);
    expect(handOver(next, third)).toBe(true);
    expect(await restoresDuring(async () => expect((await third.repair(changed)).kind).toBe('none'))).toEqual([]);
    // And the ordinary sync after it is a diff again.
    const back = plan(fleet);
    expect(await restoresDuring(async () => expect((await third.sync(back)).kind).toBe('diff'))).toHaveLength(1);
    expect(await kernelEqualsPlan(back)).toBe(true);
  });

  it('other programs: nothing taken over, the first write reads the kernel and rewrites what differs', async () => {
    const old = makeDataplanes(queue, section, false);
    await old.sync(plan(fleet));
    // The same binaries by another name still count as another kernel: only a string compare is safe.
    const next = makeDataplanes(queue, { ...section, restoreCommand: '/usr/sbin/iptables-restore', saveCommand: '/usr/sbin/iptables-save' }, false);
    expect(handOver(old, next)).toBe(false);
    const changed = plan(widened(3));
    expect((await next.sync(changed)).kind).toBe('full');
    expect(await kernelEqualsPlan(changed)).toBe(true);
  });
});
