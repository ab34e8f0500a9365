// The daemon's memory of what was turned away: logged packets attributed to containers, repeats
// folded into one entry with a count, new entries rate-limited per reason, all of it bounded.
// Nothing here grows with the traffic: a ring of entries, a fold index over that ring, and a
// capped table of containers (README "Drop log").
import type { DropReason } from '../plan/drop-log.js';
import { DROP_REASONS } from '../plan/drop-log.js';
import { TokenBuckets } from './rate-limit.js';
import type { DropProtocol, LoggedPacket } from './ulogd-json.js';

/** A container as `dockgate drops` names it. */
export interface DropContainer {
  /** 12 hex digits. */
  id: string;
  name: string;
}

/** One line of `dockgate drops`: one or more packets with the same reason, container, source and destination. */
export interface DropEntry {
  /** Increasing with every new entry: `--follow` asks for those after the last it printed. */
  seq: number;
  /** Milliseconds since the epoch: first and latest packet folded into it. */
  first: number;
  last: number;
  reason: DropReason;
  /** undefined: no container (the host, or an address no container holds now). */
  container: DropContainer | undefined;
  family: 4 | 6;
  src: string;
  dst: string;
  protocol: DropProtocol;
  dport: number | undefined;
  count: number;
}

/** Who holds what, asked at the moment a packet is read (the daemon's fact store answers). */
export interface Attribution {
  byShortId(shortId: string): DropContainer | undefined;
  byAddress(ip: string): DropContainer | undefined;
  /** The container whose interface has this MAC (spoofed frames: their source address is forged). */
  byMac?(mac: string): DropContainer | undefined;
}

export interface RecorderOptions {
  ratePerSecond: number;
  burst: number;
  attribution: Attribution;
  /** Entries kept (default 2000). */
  capacity?: number;
  /** A repeat within this long of the entry's latest packet is folded into it (default 10 s). */
  foldWindowMs?: number;
  /** Containers whose counts are kept (default 1000); the least recently dropped go first. */
  maxContainers?: number;
}

export type RecordResult = { kind: 'new'; entry: DropEntry } | { kind: 'folded'; entry: DropEntry } | { kind: 'limited' };

/** Per container: what `status` and the metrics show. */
export interface ContainerDrops {
  container: DropContainer;
  count: number;
  lastDrop: DropEntry;
}

// Where a network-wide line cannot name the container, the address does: the sender for what
// leaves a container, the receiver for what tries to reach one.
const ATTRIBUTE_BY: Readonly<Record<DropReason, 'src' | 'dst'>> = {
  'not-labelled': 'dst',
  'source-not-allowed': 'dst',
  'direct-access': 'dst',
  'egress-denied': 'src',
  isolation: 'src',
  spoofed: 'src',
};

export class DropRecorder {
  readonly #o: Required<RecorderOptions>;
  readonly #buckets: TokenBuckets<DropReason>;
  /** Oldest first; at most `capacity`. */
  #ring: Array<DropEntry | undefined>;
  #head = 0;
  #size = 0;
  #seq = 0;
  /** Fold key → the newest entry with it, only while that entry is in the ring. */
  readonly #open = new Map<string, DropEntry>();
  readonly #keyOf = new WeakMap<DropEntry, string>();
  /** Insertion order is recency: the first key is the least recently dropped. */
  readonly #containers = new Map<string, ContainerDrops>();
  /** Packets read per reason, folded and rate-limited ones included. */
  readonly packets = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));
  /** Packets read but neither folded nor kept, per reason (the daemon's own rate limit). */
  readonly limited = new Map<DropReason, number>(DROP_REASONS.map((r) => [r, 0]));

  constructor(options: RecorderOptions) {
    this.#o = { capacity: 2000, foldWindowMs: 10_000, maxContainers: 1000, ...options };
    this.#buckets = new TokenBuckets(this.#o.ratePerSecond, this.#o.burst);
    this.#ring = new Array<DropEntry | undefined>(this.#o.capacity);
  }

  /** `now`: the daemon's clock (ms), for the rate limit; the packet carries its own time. */
  record(p: LoggedPacket, now: number): RecordResult {
    this.packets.set(p.reason, (this.packets.get(p.reason) ?? 0) + 1);
    const container =
      p.shortId !== undefined
        ? (this.#o.attribution.byShortId(p.shortId) ?? { id: p.shortId, name: '' })
        : p.reason === 'spoofed' && p.srcMac !== undefined
          ? this.#o.attribution.byMac?.(p.srcMac)
          : this.#o.attribution.byAddress(ATTRIBUTE_BY[p.reason] === 'src' ? p.src : p.dst);
    const key = [p.reason, container?.id ?? '', p.src, p.dst, p.protocol, p.dport ?? ''].join('|');
    const open = this.#open.get(key);
    if (open && p.at - open.last <= this.#o.foldWindowMs && p.at >= open.first) {
      open.count++;
      open.last = Math.max(open.last, p.at);
      this.#count(open);
      return { kind: 'folded', entry: open };
    }
    if (!this.#buckets.take(p.reason, now)) {
      this.limited.set(p.reason, (this.limited.get(p.reason) ?? 0) + 1);
      return { kind: 'limited' };
    }
    const entry: DropEntry = { seq: ++this.#seq, first: p.at, last: p.at, reason: p.reason, container, family: p.family, src: p.src, dst: p.dst, protocol: p.protocol, dport: p.dport, count: 1 };
    this.#push(entry);
    this.#open.set(key, entry);
    this.#keyOf.set(entry, key);
    this.#count(entry);
    return { kind: 'new', entry };
  }

  /** Entries oldest first (newest last), as `dockgate drops` prints them. */
  entries(filter: { sinceMs?: number; afterSeq?: number; container?: string } = {}): DropEntry[] {
    const out: DropEntry[] = [];
    for (let i = 0; i < this.#size; i++) {
      const e = this.#ring[(this.#head + i) % this.#o.capacity]!;
      if (filter.sinceMs !== undefined && e.last < filter.sinceMs) continue;
      if (filter.afterSeq !== undefined && e.seq <= filter.afterSeq) continue;
      if (filter.container !== undefined && !matchesContainer(e.container, filter.container)) continue;
      out.push(e);
    }
    return out;
  }

  get size(): number {
    return this.#size;
  }

  /** The containers with drops, most recent first, at most `maxContainers`. */
  containers(): ContainerDrops[] {
    return [...this.#containers.values()].reverse();
  }

  lastDrop(shortId: string): DropEntry | undefined {
    return this.#containers.get(shortId)?.lastDrop;
  }

  #push(entry: DropEntry): void {
    const cap = this.#o.capacity;
    if (this.#size === cap) {
      const old = this.#ring[this.#head]!;
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % cap;
      this.#size--;
      const k = this.#keyOf.get(old);
      if (k !== undefined && this.#open.get(k) === old) this.#open.delete(k);
    }
    this.#ring[(this.#head + this.#size) % cap] = entry;
    this.#size++;
  }

  #count(entry: DropEntry): void {
    const c = entry.container;
    if (c === undefined) return;
    const had = this.#containers.get(c.id);
    this.#containers.delete(c.id);
    this.#containers.set(c.id, { container: c, count: (had?.count ?? 0) + 1, lastDrop: entry });
    if (this.#containers.size > this.#o.maxContainers) this.#containers.delete(this.#containers.keys().next().value!);
  }
}

/** `--container NAME`: its name, or a prefix of its id. */
export function matchesContainer(c: DropContainer | undefined, wanted: string): boolean {
  if (c === undefined) return wanted === 'host';
  return c.name === wanted || (wanted.length >= 3 && c.id.startsWith(wanted.slice(0, 12)));
}
