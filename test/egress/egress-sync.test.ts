// The daemon's side of egress names without a kernel: sets made before the write that needs them,
// each answer one add, a flushed set refilled on repair, unused sets removed, no process at all
// on a host without names.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { EgressSync, type IpsetWriter } from '../../src/daemon/egress-sync.js';
import { IpsetError, type SetState } from '../../src/dataplane/ipset.js';
import { setFor } from '../../src/egress/sets.js';
import type { EgressSet, RuleSet } from '../../src/model/types.js';

class FakeIpsets implements IpsetWriter {
  readonly sets = new Map<string, SetState>();
  readonly calls: string[] = [];
  async read(): Promise<Map<string, SetState>> {
    this.calls.push('read');
    return new Map([...this.sets].map(([k, v]) => [k, { family: v.family, members: new Map(v.members) }]));
  }
  async ensure(sets: readonly EgressSet[]): Promise<void> {
    this.calls.push(`ensure ${sets.map((s) => s.set).join(',')}`);
    for (const s of sets) if (!this.sets.has(s.set)) this.sets.set(s.set, { family: s.family, members: new Map() });
  }
  async add(set: string, members: ReadonlyArray<{ address: string; keepS: number }>): Promise<void> {
    this.calls.push(`add ${set} ${members.map((m) => `${m.address}/${m.keepS}`).join(',')}`);
    for (const m of members) this.sets.get(set)?.members.set(m.address, m.keepS);
  }
  async addMany(members: ReadonlyArray<{ set: string; address: string; keepS: number }>): Promise<void> {
    this.calls.push(`add ${members.map((m) => `${m.set} ${m.address}/${m.keepS}`).join(',')}`);
    for (const m of members) this.sets.get(m.set)?.members.set(m.address, m.keepS);
  }
  async removeOthers(keep: ReadonlySet<string>): Promise<string[]> {
    const gone = [...this.sets.keys()].filter((k) => !keep.has(k));
    for (const g of gone) this.sets.delete(g);
    this.calls.push(`remove ${gone.join(',')}`);
    return gone;
  }
}

const NAME = 'api.example.com';
const S4 = setFor(NAME, 4);
const S6 = setFor(NAME, 6);
const planWith = (sets: EgressSet[]): RuleSet => ({ chains: [], jumps: [], containers: [], ...(sets.length ? { egressSets: sets } : {}) });

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('EgressSync', () => {
  const setup = () => {
    const ipsets = new FakeIpsets();
    const sync = new EgressSync({
      // Never used: the fake sets run no process.
      queue: new CommandQueue(),
      log: pino({ level: 'silent' }),
      graceS: 300,
      ipsets,
      lookup: async (_name, family) => (family === 4 ? [{ address: '192.0.2.1', ttl: 60 }] : []),
    });
    return { ipsets, sync };
  };

  it('ipset not installed: the write fails once, and the next plan leaves the names out', async () => {
    const { ipsets, sync } = setup();
    ipsets.ensure = async () => {
      throw new IpsetError('ipset -exist restore failed (not found): spawn ipset ENOENT', { kind: 'not-found', reason: 'spawn ipset ENOENT', durationMs: 0 });
    };
    expect(sync.available).toBe(true);
    await expect(sync.beforeWrite(planWith([S4]), false)).rejects.toThrow(/not found/);
    expect(sync.available).toBe(false);
    sync.stop();
  });

  it('a host without names runs no ipset command', async () => {
    const { ipsets, sync } = setup();
    await sync.beforeWrite(planWith([]), true);
    await sync.afterWrite(planWith([]), true);
    expect(ipsets.calls).toEqual([]);
    sync.stop();
  });

  it('sets exist before the write; an answer is one add with max(TTL, 30) + grace; repair refills; unused sets go', async () => {
    const { ipsets, sync } = setup();
    await sync.beforeWrite(planWith([S4, S6]), false);
    expect(ipsets.calls[0]).toBe(`ensure ${S4.set},${S6.set}`);
    await vi.advanceTimersByTimeAsync(50);
    expect(ipsets.calls).toContain(`add ${S4.set} 192.0.2.1/360`);
    // The refresh 48 s later (80% of the TTL): the kernel still keeps it for 312 s of 360, no write.
    const writes = ipsets.calls.filter((c) => c.startsWith('add')).length;
    await vi.advanceTimersByTimeAsync(48_000);
    expect(sync.snapshot().resolutions).toBe(2);
    expect(ipsets.calls.filter((c) => c.startsWith('add')).length).toBe(writes);
    expect(sync.snapshot()).toEqual({ resolutions: 2, failures: 0, sets: [{ set: S4.set, name: NAME, family: 4, size: 1 }, { set: S6.set, name: NAME, family: 6, size: 0 }] });
    // Someone flushes the set: the next repair puts the address back with the time it has left.
    ipsets.sets.get(S4.set)!.members.clear();
    await sync.beforeWrite(planWith([S4, S6]), true);
    expect(ipsets.sets.get(S4.set)!.members.get('192.0.2.1')).toBe(360);
    // The name leaves every list: after the write, its sets are destroyed.
    await sync.beforeWrite(planWith([]), false);
    await sync.afterWrite(planWith([]), false);
    expect([...ipsets.sets.keys()]).toEqual([]);
    sync.stop();
  });
});
