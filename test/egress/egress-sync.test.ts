// The daemon's side of egress names without a kernel: sets made before the write that needs them,
// each answer one add, a flushed set refilled on repair, unused sets removed, no process at all
// on a host without names.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { EgressSync } from '../../src/daemon/egress-sync.js';
import { IpsetError } from '../../src/dataplane/ipset.js';
import { FakeIpsets } from '../support/fake-ipsets.js';
import { setFor } from '../../src/egress/sets.js';
import type { EgressSet, RuleSet } from '../../src/model/types.js';

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
  it('new nameservers ask every name again at once, also after a spell with none (resolv.conf gone)', async () => {
    const asked: string[] = [];
    const sync = new EgressSync({
      queue: new CommandQueue(),
      log: pino({ level: 'silent' }),
      graceS: 300,
      ipsets: new FakeIpsets(),
      lookup: async (name, family) => {
        asked.push(`${name}/${family}`);
        return family === 4 ? [{ address: '192.0.2.1', ttl: 600 }] : [];
      },
    });
    sync.setServers(['192.0.2.53']);
    await sync.beforeWrite(planWith([S4]), false);
    await vi.advanceTimersByTimeAsync(50);
    expect(asked).toEqual([`${NAME}/4`, `${NAME}/6`]);
    // The same servers again (a sync that read them unchanged): nothing asked.
    sync.setServers(['192.0.2.53']);
    await vi.advanceTimersByTimeAsync(50);
    expect(asked).toHaveLength(2);
    // None: nobody to ask; the answers kept age out as usual.
    sync.setServers([]);
    await vi.advanceTimersByTimeAsync(50);
    expect(asked).toHaveLength(2);
    sync.setServers(['192.0.2.54']);
    await vi.advanceTimersByTimeAsync(50);
    expect(asked).toHaveLength(4);
    sync.stop();
  });
});
