// The name resolver on fake timers: TTL floor, grace, refresh before expiry, backoff on failure.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type Answer, NameResolver } from '../../src/egress/resolver.js';
import type { Family } from '../../src/model/types.js';

type Zone = Record<string, Partial<Record<Family, Answer[] | Error>>>;

function setup(zone: Zone, graceS = 300) {
  const answers: Array<{ name: string; family: Family; addresses: Array<{ address: string; keepS: number }> }> = [];
  const failures: Array<{ name: string; reason: string }> = [];
  const asked: string[] = [];
  const r = new NameResolver({
    graceS,
    lookup: async (name, family) => {
      asked.push(`${name}/${family}`);
      const a = zone[name]?.[family];
      if (a instanceof Error) throw a;
      if (a === undefined) throw Object.assign(new Error(`queryA ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
      return a;
    },
    events: { onAnswer: (name, family, addresses) => answers.push({ name, family, addresses: [...addresses] }), onFailure: (name, reason) => failures.push({ name, reason }) },
  });
  return { r, answers, failures, asked };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('NameResolver', () => {
  it('keeps each address for max(TTL, 30 s) plus the grace, A and AAAA', async () => {
    const { r, answers } = setup({ 'api.example.com': { 4: [{ address: '192.0.2.1', ttl: 5 }, { address: '192.0.2.2', ttl: 600 }], 6: [{ address: '2001:db8::1', ttl: 60 }] } });
    r.setNames(['api.example.com']);
    await vi.advanceTimersByTimeAsync(0);
    expect(answers).toEqual([
      { name: 'api.example.com', family: 4, addresses: [{ address: '192.0.2.1', keepS: 330 }, { address: '192.0.2.2', keepS: 900 }] },
      { name: 'api.example.com', family: 6, addresses: [{ address: '2001:db8::1', keepS: 360 }] },
    ]);
    expect(r.status()[0]).toMatchObject({ problem: undefined, addresses: [{ address: '192.0.2.1' }, { address: '192.0.2.2' }, { address: '2001:db8::1' }] });
    r.stop();
  });

  it('asks again before the shortest TTL runs out; a rotated-away address ages out after the grace', async () => {
    const zone: Zone = { 'cdn.example.com': { 4: [{ address: '192.0.2.1', ttl: 30 }], 6: [] } };
    const { r, answers, asked } = setup(zone, 60);
    r.setNames(['cdn.example.com']);
    await vi.advanceTimersByTimeAsync(0);
    zone['cdn.example.com']![4] = [{ address: '192.0.2.9', ttl: 30 }];
    await vi.advanceTimersByTimeAsync(24_000);
    expect(asked.filter((a) => a.endsWith('/4'))).toHaveLength(2);
    expect(answers.at(-1)).toEqual({ name: 'cdn.example.com', family: 4, addresses: [{ address: '192.0.2.9', keepS: 90 }] });
    // The old one is still allowed within its TTL + grace...
    expect(r.members('cdn.example.com', 4).map((m) => m.address).sort()).toEqual(['192.0.2.1', '192.0.2.9']);
    // ...and gone after it (90 s from the first answer).
    await vi.advanceTimersByTimeAsync(66_001);
    expect(r.members('cdn.example.com', 4).map((m) => m.address)).toEqual(['192.0.2.9']);
    r.stop();
  });

  it('a name that does not resolve allows nothing, is reported, and is asked again with backoff', async () => {
    const { r, answers, failures, asked } = setup({});
    r.setNames(['nowhere.example']);
    await vi.advanceTimersByTimeAsync(0);
    expect(answers).toEqual([]);
    expect(failures).toEqual([{ name: 'nowhere.example', reason: 'no A or AAAA records (or no such name)' }]);
    expect(r.status()[0]).toMatchObject({ name: 'nowhere.example', addresses: [], problem: expect.any(String), resolvedAt: undefined });
    await vi.advanceTimersByTimeAsync(1_000);
    await vi.advanceTimersByTimeAsync(2_000);
    await vi.advanceTimersByTimeAsync(4_000);
    expect(asked.filter((a) => a.endsWith('/4'))).toHaveLength(4);
    expect(failures).toHaveLength(4);
    r.stop();
  });

  it('a failing server keeps what was allowed until it ages out, and says why', async () => {
    const zone: Zone = { 'db.example.com': { 4: [{ address: '192.0.2.5', ttl: 30 }], 6: [] } };
    const { r } = setup(zone, 0);
    r.setNames(['db.example.com']);
    await vi.advanceTimersByTimeAsync(0);
    zone['db.example.com'] = { 4: Object.assign(new Error('queryA ETIMEOUT db.example.com'), { code: 'ETIMEOUT' }), 6: [] };
    await vi.advanceTimersByTimeAsync(24_000);
    expect(r.status()[0]).toMatchObject({ addresses: [{ address: '192.0.2.5' }], problem: 'queryA ETIMEOUT db.example.com' });
    await vi.advanceTimersByTimeAsync(6_001);
    expect(r.status()[0]!.addresses).toEqual([]);
    r.stop();
  });

  it('forgets names no longer listed', async () => {
    const { r, asked } = setup({ 'a.example': { 4: [{ address: '192.0.2.1', ttl: 30 }], 6: [] } });
    r.setNames(['a.example']);
    await vi.advanceTimersByTimeAsync(0);
    r.setNames([]);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(asked).toEqual(['a.example/4', 'a.example/6']);
    expect(r.status()).toEqual([]);
  });
});
