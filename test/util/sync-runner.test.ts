// The sync runner with fake timers: no root, no kernel, milliseconds.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type RunOutcome, SyncRunner } from '../../src/util/sync-runner.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A runner whose syncs take `ms` of fake time and answer what `outcomes` says, in order. */
function runner(o: { ms?: number; outcomes?: RunOutcome[]; behind?: () => boolean } = {}) {
  const runs: Array<{ full: boolean; at: number }> = [];
  const outcomes = [...(o.outcomes ?? [])];
  const r = new SyncRunner({
    run: async (full) => {
      runs.push({ full, at: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, o.ms ?? 10));
      return outcomes.shift() ?? { ok: true };
    },
    debounceMs: () => 20,
    behind: o.behind ?? (() => false),
  });
  return { r, runs };
}

describe('SyncRunner', () => {
  it('a burst of requests within the debounce is one sync', async () => {
    const { r, runs } = runner();
    for (let i = 0; i < 50; i++) r.request(20);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(1);
  });

  it('requests during a sync make exactly one more sync after it, never two at once', async () => {
    const { r, runs } = runner({ ms: 50 });
    r.request(0);
    await vi.advanceTimersByTimeAsync(1);
    for (let i = 0; i < 10; i++) r.request(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(runs).toHaveLength(2);
    expect(runs[1]!.at - runs[0]!.at).toBeGreaterThanOrEqual(50);
  });

  it('a full request is carried into the next sync, even when it arrives during one', async () => {
    const { r, runs } = runner({ ms: 50 });
    r.request(0);
    await vi.advanceTimersByTimeAsync(1);
    r.request(0, { full: true });
    await vi.advanceTimersByTimeAsync(200);
    expect(runs.map((x) => x.full)).toEqual([false, true]);
  });

  it('a failed sync is retried in full after its delay, and new requests are served meanwhile', async () => {
    const { r, runs } = runner({ outcomes: [{ ok: false, retryInMs: 1000 }] });
    r.request(0);
    await vi.advanceTimersByTimeAsync(20);
    expect(r.retryPending).toBe(true);
    r.request(0); // an event while the retry waits: served now, not after the delay
    await vi.advanceTimersByTimeAsync(50);
    expect(runs).toHaveLength(2);
    expect(runs[1]!.full).toBe(true);
    expect(r.retryPending).toBe(false);
    await vi.advanceTimersByTimeAsync(2000);
    expect(runs).toHaveLength(2); // the success cancelled the retry
  });

  it('a sync that ends behind the facts (they changed after it planned) is followed by another', async () => {
    let behind = true;
    const { r, runs } = runner({
      behind: () => {
        const b = behind;
        behind = false;
        return b;
      },
    });
    r.request(0);
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(2);
  });

  it('stop cancels what is pending', async () => {
    const { r, runs } = runner();
    r.request(20);
    r.stop();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toHaveLength(0);
  });
});
