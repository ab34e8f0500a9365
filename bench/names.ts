// Egress DNS names (issue 20): what a refresh of names' answers costs, on a real kernel in a fresh
// network namespace. dockgate's own EgressSync and Ipsets run as in the daemon; only the DNS
// answers come from a scripted lookup, so the figure is the write, not a resolver's latency (the
// Docker part resolves through a real dnsmasq, see names-at-rest.ts).
import { pino } from 'pino';
import { CommandQueue } from '../src/dataplane/command-queue.js';
import { Ipsets } from '../src/dataplane/ipset.js';
import { EgressSync, type IpsetWriter } from '../src/daemon/egress-sync.js';
import type { Answer, Lookup } from '../src/egress/resolver.js';
import { setFor } from '../src/egress/sets.js';
import type { Family } from '../src/model/types.js';
import { createNetns, destroyNetns } from '../test/support/netns.js';
import { checkInterrupted, onCleanup, wasInterrupted } from './lib/cleanup.js';
import { until } from './lib/docker.js';
import { planFor } from './lib/facts.js';
import { type Summary, summarize } from './lib/stats.js';

export interface NameRefreshOptions {
  names: number;
  /** A and AAAA addresses in each name's answer */
  v4PerName: number;
  v6PerName: number;
  reps: number;
  log: (msg: string) => void;
}

export interface NameRefreshResult {
  names: number;
  /** addresses written by one refresh (every address of every answer is new) */
  addressesPerRefresh: number;
  /** `ipset restore` runs per refresh in which every answer changed: 1 is the design */
  writesPerRefresh: number[];
  /** the same when no answer changed: 0 (the kernel still keeps the addresses long enough) */
  writesPerUnchangedRefresh: number[];
  /** all answers in hand → the last `ipset restore` returned (the 20 ms batching window included) */
  answersToKernel: Summary;
  /** of which the one `ipset restore` process (nsenter + ipset) */
  write: Summary;
  /** `ipset save` in the namespace held every address of the last refresh */
  verified: boolean;
}

/** Records each write and passes it on to the real sets. */
class CountingIpsets implements IpsetWriter {
  readonly writes: Array<{ start: number; end: number; members: number }> = [];
  constructor(readonly inner: Ipsets) {}
  read: Ipsets['read'] = () => this.inner.read();
  ensure: Ipsets['ensure'] = (sets) => this.inner.ensure(sets);
  add: Ipsets['add'] = (set, members) => this.addMany(members.map((m) => ({ set, ...m })));
  removeOthers: Ipsets['removeOthers'] = (keep) => this.inner.removeOthers(keep);
  addMany: Ipsets['addMany'] = async (members) => {
    const start = performance.now();
    await this.inner.addMany(members);
    this.writes.push({ start, end: performance.now(), members: members.length });
  };
}

/** Name i's answer in round r: addresses no other name or round has (TEST-NET and doc ranges). */
function answerOf(i: number, r: number, family: Family, o: NameRefreshOptions): Answer[] {
  const count = family === 4 ? o.v4PerName : o.v6PerName;
  return Array.from({ length: count }, (_, k) => ({
    address: family === 4 ? `198.18.${r % 250}.${i * o.v4PerName + k + 1}` : `2001:db8:${(r % 65535).toString(16)}::${(i * o.v6PerName + k + 1).toString(16)}`,
    ttl: 60,
  }));
}

export async function benchNameRefresh(o: NameRefreshOptions): Promise<NameRefreshResult> {
  if (o.names * o.v4PerName > 250) throw new Error('at most 250 IPv4 addresses per round');
  const ns = await createNetns('bnm');
  const done = onCleanup(`namespace ${ns.name}`, () => destroyNetns(ns));
  if (wasInterrupted()) {
    await done();
    checkInterrupted();
  }
  const names = Array.from({ length: o.names }, (_, i) => `n${i}.bench.test`);
  const index = new Map(names.map((n, i) => [n, i]));
  let round = 0;
  const lookup: Lookup = async (name, family) => answerOf(index.get(name)!, round, family, o);
  const ipsets = new CountingIpsets(new Ipsets(new CommandQueue({ netns: ns.path })));
  const sync = new EgressSync({ queue: ipsets.inner.queue, log: pino({ level: 'silent' }), graceS: 300, lookup, ipsets });
  try {
    const sets = names.flatMap((n) => ([4, 6] as const).map((f) => setFor(n, f)));
    let servers = 0;
    const refresh = async (): Promise<{ writes: Array<{ start: number; end: number; members: number }>; t0: number }> => {
      const from = ipsets.writes.length;
      const t0 = performance.now();
      // New nameservers: dockgate asks every name again at once (as after a resolv.conf change).
      sync.setServers([`192.0.2.${(++servers % 250) + 1}`]);
      await until('the refresh written', () => ipsets.writes.length > from, 5000, 1);
      // Anything written later in the same refresh would be a second write: give it the time.
      await new Promise((res) => setTimeout(res, 100));
      return { writes: ipsets.writes.slice(from), t0 };
    };
    sync.setServers(['192.0.2.1']);
    // The first plan naming the sets: created, then filled from the first answers.
    await sync.beforeWrite({ ...planFor([]), egressSets: sets }, false);
    await until('the first answers written', () => ipsets.writes.length > 0, 5000, 1);
    const writes: number[] = [];
    const unchanged: number[] = [];
    const total: number[] = [];
    const proc: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      checkInterrupted();
      round = r + 1;
      const { writes: w, t0 } = await refresh();
      writes.push(w.length);
      total.push(Math.max(...w.map((x) => x.end)) - t0);
      proc.push(...w.map((x) => x.end - x.start));
      // The same answers again: the kernel keeps them for TTL + grace, so nothing is due.
      const from = ipsets.writes.length;
      sync.setServers([`192.0.2.${(++servers % 250) + 1}`]);
      await new Promise((res) => setTimeout(res, 100));
      unchanged.push(ipsets.writes.length - from);
    }
    const held = await ipsets.inner.read();
    const want = names.flatMap((n, i) => ([4, 6] as const).flatMap((f) => answerOf(i, round, f, o).map((a) => ({ set: setFor(n, f).set, address: a.address }))));
    const verified = want.every((w) => held.get(w.set)?.members.has(w.address) === true);
    const result: NameRefreshResult = {
      names: o.names,
      addressesPerRefresh: o.names * (o.v4PerName + o.v6PerName),
      writesPerRefresh: writes,
      writesPerUnchangedRefresh: unchanged,
      answersToKernel: summarize(total),
      write: summarize(proc),
      verified,
    };
    o.log(`  name refresh: ${o.names} names, ${result.addressesPerRefresh} new addresses: ${Math.max(...writes)} write(s), answers → kernel median ${result.answersToKernel.median} ms (ipset restore ${result.write.median} ms)`);
    return result;
  } finally {
    sync.stop();
    await done();
  }
}
