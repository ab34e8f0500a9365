// A token bucket per key: `rate` tokens a second, at most `burst` saved up. The kernel already
// limits each reason (hashlimit in src/plan/drop-log.ts); this keeps the daemon's own output to the
// same promise whatever the kernel let through (a restarted ulogd, a second group user).
export class TokenBuckets<K> {
  readonly #buckets = new Map<K, { tokens: number; at: number }>();
  constructor(
    readonly rate: number,
    readonly burst: number,
  ) {}

  /** Takes one token for `key` at `now` (ms); false when the bucket is empty. */
  take(key: K, now: number): boolean {
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: now };
    // A clock that steps back refills nothing and takes nothing away.
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) * this.rate) / 1000);
    b.at = Math.max(b.at, now);
    this.#buckets.set(key, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
