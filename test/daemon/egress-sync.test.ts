// EgressSync's repair of the name sets on fake time, against ipsets in memory: what counts as an
// address the kernel lost (dockgate wrote it, the set no longer holds it) and what is only on its
// way there (an answer waiting for its batched write, or in that write).
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { EgressSync } from '../../src/daemon/egress-sync.js';
import type { Lookup } from '../../src/egress/resolver.js';
import { setFor } from '../../src/egress/sets.js';
import type { RuleSet } from '../../src/model/types.js';
import { FakeIpsets } from '../support/fake-ipsets.js';

const NAMES = Array.from({ length: 5 }, (_, i) => `svc${i}.example.com`);
const SETS = NAMES.map((n) => setFor(n, 4));
const address = (name: string): string => `198.51.100.${NAMES.indexOf(name) + 1}`;
/** Only the sets matter here: beforeWrite reads nothing else of a plan. */
const plan = { egressSets: SETS } as unknown as RuleSet;

/** Lets the resolver's answers (promises, not timers) arrive while fake time stands still. */
const answersIn = (): Promise<void> => new Promise((r) => setImmediate(r));

function egress(ipsets: FakeIpsets) {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const lookup: Lookup = async (name, family) => (family === 4 ? [{ address: address(name), ttl: 3600 }] : []);
  const sync = new EgressSync({ queue: new CommandQueue(), log, graceS: 60, lookup, ipsets });
  const repaired = () => lines.filter((l) => l.event === 'egress-set-repaired');
  const held = () => SETS.filter((s) => ipsets.sets.get(s.set)?.members.has(address(s.name))).length;
  return { sync, lines, repaired, held };
}

beforeEach(() => void vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }));
afterEach(() => void vi.useRealTimers());

describe('the repair of the name sets', () => {
  it('an answer still waiting for its batched write when the repair reads the sets is not reported lost', async () => {
    const ipsets = new FakeIpsets();
    // The reading takes a while, as `ipset save` does: the first answers arrive meanwhile.
    const read = ipsets.read.bind(ipsets);
    ipsets.read = async () => {
      await answersIn();
      return read();
    };
    const { sync, repaired, held } = egress(ipsets);
    try {
      await sync.beforeWrite(plan, true);
      expect(repaired()).toEqual([]);
      // The batch writes them: every set holds its name's address, in one write.
      await vi.advanceTimersByTimeAsync(50);
      expect(held()).toBe(SETS.length);
      expect(ipsets.calls.filter((c) => c.startsWith('add '))).toHaveLength(1);
    } finally {
      sync.stop();
    }
  });

  it('an answer in the batched write while the repair reads is not reported lost either', async () => {
    const ipsets = new FakeIpsets();
    const addMany = ipsets.addMany.bind(ipsets);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    ipsets.addMany = async (members) => {
      await held;
      return addMany(members);
    };
    const { sync, repaired, held: holding } = egress(ipsets);
    try {
      await sync.beforeWrite(plan, false);
      await answersIn();
      // The batch starts its write, which hangs: the addresses are in flight.
      await vi.advanceTimersByTimeAsync(50);
      await sync.beforeWrite(plan, true);
      expect(repaired()).toEqual([]);
      release();
      await answersIn();
      expect(holding()).toBe(SETS.length);
    } finally {
      release();
      sync.stop();
    }
  });

  it('an address dockgate wrote and the kernel no longer holds is reported and put back', async () => {
    const ipsets = new FakeIpsets();
    const { sync, repaired, held } = egress(ipsets);
    try {
      await sync.beforeWrite(plan, false);
      await answersIn();
      await vi.advanceTimersByTimeAsync(50);
      expect(held()).toBe(SETS.length);
      // Someone flushes one set behind dockgate's back.
      ipsets.sets.get(SETS[2]!.set)!.members.clear();
      await sync.beforeWrite(plan, true);
      expect(repaired()).toEqual([expect.objectContaining({ set: SETS[2]!.set, addresses: [address(NAMES[2]!)] })]);
      expect(held()).toBe(SETS.length);
    } finally {
      sync.stop();
    }
  });

  it('a full check creates only the sets its read did not find: none when all are there', async () => {
    const ipsets = new FakeIpsets();
    const { sync, held } = egress(ipsets);
    try {
      await sync.beforeWrite(plan, true);
      await sync.afterWrite(plan, true);
      await vi.advanceTimersByTimeAsync(50);
      expect(held()).toBe(SETS.length);
      // Every set in place: the full check reads, and runs no `ipset restore` of creates.
      ipsets.calls.length = 0;
      await sync.beforeWrite(plan, true);
      await sync.afterWrite(plan, true);
      expect(ipsets.calls.filter((c) => c.startsWith('ensure'))).toEqual([]);
      // One destroyed behind dockgate's back: that one is made again, and gets its address back.
      ipsets.sets.delete(SETS[2]!.set);
      ipsets.calls.length = 0;
      await sync.beforeWrite(plan, true);
      expect(ipsets.calls.filter((c) => c.startsWith('ensure'))).toEqual([`ensure ${SETS[2]!.set}`]);
      expect(held()).toBe(SETS.length);
    } finally {
      sync.stop();
    }
  });

  it('a full check reads the sets once: the removal of unused sets uses the repair\'s read', async () => {
    const ipsets = new FakeIpsets();
    const { sync } = egress(ipsets);
    try {
      // An unused set of an earlier plan, which the full check removes.
      ipsets.sets.set('dockgate-e4-000000000000', { family: 4, members: new Map() });
      await sync.beforeWrite(plan, true);
      await sync.afterWrite(plan, true);
      expect(ipsets.calls.filter((c) => c === 'read')).toHaveLength(1);
      expect(ipsets.sets.has('dockgate-e4-000000000000')).toBe(false);
      // A sync that is not a full check and changes nothing reads nothing; the next full check reads afresh.
      ipsets.calls.length = 0;
      await sync.beforeWrite(plan, false);
      await sync.afterWrite(plan, false);
      expect(ipsets.calls.filter((c) => c === 'read')).toHaveLength(0);
      await sync.beforeWrite(plan, true);
      await sync.afterWrite(plan, true);
      expect(ipsets.calls.filter((c) => c === 'read')).toHaveLength(1);
    } finally {
      sync.stop();
    }
  });
});
