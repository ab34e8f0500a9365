// The addresses of the DNS names in egress allow-lists. Each name is asked for A and AAAA with
// their TTLs; every address in an answer is kept for max(TTL, 30 s) plus a grace, and the name
// is asked again before the shortest of those runs out. An address that leaves the answer is not
// taken away: it ages out after its grace, so a container that got a rotating CDN answer shortly
// before keeps reaching it. A name that does not resolve allows nothing new, is reported, and is
// asked again with backoff. Nothing here touches the kernel: `onAnswer` hands each answer to the
// caller, which writes it into the name's sets (one small write per answer).
import { Resolver } from 'node:dns/promises';
import type { Family } from '../model/types.js';
import { Backoff } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';

/** One address of an answer, with the TTL the server gave it (seconds). */
export interface Answer {
  address: string;
  ttl: number;
}

/** Asks one name for one family. An empty list is "no such records"; a throw is a failure. */
export type Lookup = (name: string, family: Family) => Promise<Answer[]>;

/** An address as kept: until when (ms since the epoch) it stays allowed. */
export interface KeptAddress {
  address: string;
  family: Family;
  expiresAt: number;
}

export interface NameStatus {
  name: string;
  /** The addresses allowed now, answers of the past grace included. */
  addresses: KeptAddress[];
  /** Undefined while it resolves; else why the last attempt got no address. */
  problem: string | undefined;
  /** When it was last answered with at least one address (ms), undefined if never. */
  resolvedAt: number | undefined;
}

export interface ResolverEvents {
  /** A fresh answer: each address to be allowed for `keepS` seconds from now. */
  onAnswer(name: string, family: Family, addresses: ReadonlyArray<{ address: string; keepS: number }>): void;
  /** An attempt that gave no address at all (NXDOMAIN, timeout, no A nor AAAA). */
  onFailure(name: string, reason: string): void;
}

export interface NameResolverOptions {
  lookup: Lookup;
  events: ResolverEvents;
  /** egress.dns_grace_s. */
  graceS: number;
  now?: () => number;
  /** Shortest TTL honoured: a 1 s answer is kept (and asked again) as if it said this. */
  minTtlS?: number;
  /** Backoff of a name that does not resolve. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export const MIN_TTL_S = 30;
/** Asked again when this share of the shortest kept TTL has passed, well before it runs out. */
const REFRESH_AT = 0.8;

interface Entry {
  name: string;
  kept: Map<string, KeptAddress>;
  problem: string | undefined;
  resolvedAt: number | undefined;
  timer: NodeJS.Timeout | undefined;
  backoff: Backoff;
  inFlight: boolean;
}

const FAMILIES: readonly Family[] = [4, 6];

/** "No such records" is an answer, not a failure: a name may have A records only. */
const EMPTY_ANSWER = new Set(['ENODATA', 'ENOTFOUND']);

export class NameResolver {
  readonly #o: Required<NameResolverOptions>;
  readonly #names = new Map<string, Entry>();
  #stopped = false;

  constructor(options: NameResolverOptions) {
    this.#o = { now: () => Date.now(), minTtlS: MIN_TTL_S, retryMinMs: 1_000, retryMaxMs: 60_000, ...options };
  }

  /** Follows exactly these names: new ones are asked at once, others forgotten. */
  setNames(names: Iterable<string>): void {
    const wanted = new Set(names);
    for (const [name, e] of this.#names) {
      if (wanted.has(name)) continue;
      clearTimeout(e.timer);
      this.#names.delete(name);
    }
    for (const name of wanted) {
      if (this.#names.has(name)) continue;
      const e: Entry = { name, kept: new Map(), problem: undefined, resolvedAt: undefined, timer: undefined, backoff: new Backoff(this.#o.retryMinMs, this.#o.retryMaxMs), inFlight: false };
      this.#names.set(name, e);
      void this.#resolve(e);
    }
  }

  /** Asks every name again now (the nameservers changed). */
  refreshAll(): void {
    for (const e of this.#names.values()) void this.#resolve(e);
  }

  /** The addresses each name allows now, by name. */
  status(): NameStatus[] {
    const now = this.#o.now();
    return [...this.#names.values()]
      .map((e) => ({
        name: e.name,
        addresses: [...e.kept.values()].filter((k) => k.expiresAt > now).sort((a, b) => a.family - b.family || a.address.localeCompare(b.address)),
        problem: e.problem,
        resolvedAt: e.resolvedAt,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every address still allowed, with the seconds left: what a repaired set must hold. */
  members(name: string, family: Family): Array<{ address: string; keepS: number }> {
    const now = this.#o.now();
    const e = this.#names.get(name);
    if (!e) return [];
    return [...e.kept.values()]
      .filter((k) => k.family === family && k.expiresAt > now)
      .map((k) => ({ address: k.address, keepS: Math.max(1, Math.ceil((k.expiresAt - now) / 1000)) }));
  }

  stop(): void {
    this.#stopped = true;
    for (const e of this.#names.values()) clearTimeout(e.timer);
    this.#names.clear();
  }

  async #resolve(e: Entry): Promise<void> {
    if (e.inFlight || this.#stopped) return;
    e.inFlight = true;
    clearTimeout(e.timer);
    const answers = await Promise.all(
      FAMILIES.map(async (family) => {
        try {
          return { family, answers: await this.#o.lookup(e.name, family), error: undefined };
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== undefined && EMPTY_ANSWER.has(code)) return { family, answers: [], error: undefined };
          return { family, answers: [], error: errorMessage(err) };
        }
      }),
    );
    e.inFlight = false;
    // Forgotten or stopped while asking: the answer is nobody's any more.
    if (this.#stopped || this.#names.get(e.name) !== e) return;
    const now = this.#o.now();
    let shortest = Infinity;
    for (const { family, answers: list } of answers) {
      if (list.length === 0) continue;
      const fresh = list.map((a) => {
        const ttl = Math.max(this.#o.minTtlS, a.ttl);
        shortest = Math.min(shortest, ttl);
        const keepS = ttl + this.#o.graceS;
        e.kept.set(`${family} ${a.address}`, { address: a.address, family, expiresAt: now + keepS * 1000 });
        return { address: a.address, keepS };
      });
      this.#o.events.onAnswer(e.name, family, fresh);
    }
    for (const [key, k] of e.kept) if (k.expiresAt <= now) e.kept.delete(key);
    let delay: number;
    if (shortest < Infinity) {
      e.problem = undefined;
      e.resolvedAt = now;
      e.backoff.reset();
      delay = shortest * REFRESH_AT * 1000;
    } else {
      const errors = answers.map((a) => a.error).filter((x): x is string => x !== undefined);
      e.problem = errors.length > 0 ? errors.join('; ') : 'no A or AAAA records (or no such name)';
      this.#o.events.onFailure(e.name, e.problem);
      delay = e.backoff.take();
    }
    e.timer = setTimeout(() => void this.#resolve(e), delay);
    e.timer.unref?.();
  }
}

/** A Lookup through node's resolver, asking exactly `servers` (the host's resolv.conf). */
export function dnsLookup(servers: () => readonly string[], timeoutMs = 3_000): Lookup {
  return async (name, family) => {
    const r = new Resolver({ timeout: timeoutMs, tries: 2 });
    const list = servers();
    if (list.length === 0) throw new Error('no nameserver in the resolver configuration');
    r.setServers([...list]);
    const answers = family === 4 ? await r.resolve4(name, { ttl: true }) : await r.resolve6(name, { ttl: true });
    return answers.map((a) => ({ address: a.address, ttl: a.ttl }));
  };
}
