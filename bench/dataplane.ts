// Part 1: the dataplane's cost as the host grows, on a real kernel in a fresh network namespace
// per measurement, against the per-rule baseline in the same run.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { CommandQueue, failureMessage, succeeded } from '../src/dataplane/command-queue.js';
import { Dataplane } from '../src/dataplane/dataplane.js';
import { Iptables } from '../src/dataplane/iptables.js';
import type { RuleSet, Table } from '../src/model/types.js';
import { renderDiff, renderFull, renderPlan } from '../src/plan/restore.js';
import { PlanCache } from '../src/plan/ruleset.js';
import { type Netns, createNetns, destroyNetns, run } from '../test/support/netns.js';
import { checkInterrupted, onCleanup, wasInterrupted } from './lib/cleanup.js';
import { fleet, planFor, planSize, syntheticContainer } from './lib/facts.js';
import { restoreToCommands, shellScript } from './lib/naive.js';
import { type Summary, summarize } from './lib/stats.js';

const IPTABLES = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 10 };

/** Iptables that remembers how long its own processes took (the rest of a sync is Node.js). */
class TimedIptables extends Iptables {
  lastRestoreMs = 0;
  lastRestoreBytes = 0;
  lastSaveMs = 0;
  /** The tables and text of the last restore, for the kernel floor of the same transaction. */
  lastRestore: { tables: Table[]; input: string } = { tables: [], input: '' };
  override async restore(texts: ReadonlyMap<Table, string>): Promise<{ durationMs: number }> {
    const r = await super.restore(texts);
    this.lastRestoreMs = r.durationMs;
    this.lastRestoreBytes = [...texts.values()].reduce((a, t) => a + Buffer.byteLength(t), 0);
    this.lastRestore = { tables: [...texts.keys()], input: [...texts.values()].join('') };
    return r;
  }

  /**
   * The kernel floor of a transaction: the same text written by hand, one `iptables-restore`
   * with the arguments dockgate uses, through the same queue (so the same nsenter and process
   * start), without anything dockgate does around it (render, grammar check, bookkeeping).
   */
  async restoreByHand(input: string): Promise<number> {
    const args = ['-w', String(IPTABLES.waitSeconds), '--noflush'];
    const t0 = performance.now();
    const r = await this.queue.run(IPTABLES.restoreCommand, args, { input, timeoutMs: 60_000 });
    const ms = performance.now() - t0;
    if (!succeeded(r)) throw new Error(failureMessage('iptables-restore by hand', r));
    return ms;
  }
  override async save(table?: Table): Promise<Map<Table, import('../src/plan/kernel-state.js').TableState>> {
    const t0 = performance.now();
    const s = await super.save(table);
    this.lastSaveMs = performance.now() - t0;
    return s;
  }
}

export interface NaiveResult {
  /** iptables processes for the full rule set */
  processes: number;
  fullMs: number;
  /** the kernel then held exactly the plan (dockgate's own drift check says so) */
  verified: boolean;
  start: Summary;
  stop: Summary;
  /** iptables processes for one container's start / stop */
  startProcesses: number;
  stopProcesses: number;
}

/** A restore transaction's shape: the tables it touched and its lines (COMMIT and `*table` included). */
export interface Transaction {
  tables: Table[];
  lines: number;
}

function addShape(list: Transaction[], t: Transaction): void {
  if (!list.some((x) => x.lines === t.lines && x.tables.join() === t.tables.join())) list.push(t);
}

const transactionOf = (t: { tables: Table[]; input: string }): Transaction => ({ tables: t.tables, lines: t.input.split('\n').filter((l) => l !== '').length });

export interface DataplaneSize {
  n: number;
  chains: number;
  rules: number;
  /** bytes of iptables-restore input for the full write */
  fullRestoreBytes: number;
  /** Node.js only: buildRuleSet for N containers */
  planBuildMs: Summary;
  /** Node.js only: renderDiff of one container's start with N in place */
  renderDiffMs: Summary;
  /** Dataplane.sync on an empty namespace (iptables-save + compare + render + one iptables-restore) */
  fullSync: Summary;
  /** of which the iptables-restore process */
  fullSyncRestoreProcess: Summary;
  /** Dataplane.sync of one more container (N in place) / of that container gone again */
  start: Summary;
  stop: Summary;
  startRestoreProcess: Summary;
  stopRestoreProcess: Summary;
  /**
   * The kernel floor of the same change: the text dockgate wrote for each start / stop, written
   * again by hand right after (interleaved, same kernel state), through iptables-restore alone.
   */
  startFloor: Summary;
  stopFloor: Summary;
  /** the transactions those were, each shape once (proxy and dnat containers alternate) */
  startTransactions: Transaction[];
  stopTransactions: Transaction[];
  /** Dataplane.check: iptables-save + parse + compare (what the periodic drift check costs) */
  driftCheck: Summary;
  driftCheckSaveProcess: Summary;
  verified: boolean;
  naive?: NaiveResult;
  naiveSkipped?: string;
}

/** What one tiny iptables-restore (one chain, one rule) costs in an empty namespace: the floor. */
export async function restoreFloor(reps: number): Promise<{ restore: Summary; save: Summary; processStart: Summary }> {
  const { ns, done } = await freshNs();
  try {
    const { ipt } = dataplaneIn(ns);
    const restore: number[] = [];
    const save: number[] = [];
    const processStart: number[] = [];
    for (let r = 0; r < reps; r++) {
      checkInterrupted();
      // A chain of no one's (not dockgate's, so by hand: dockgate's own writes hold to its grammar).
      const chain = `FLOOR-${r % 2}`;
      const text = `*filter\n:${chain} - [0:0]\n-A ${chain} -p tcp -m tcp --dport ${1000 + r} -j ACCEPT\nCOMMIT\n`;
      restore.push(await ipt.restoreByHand(text));
      save.push((await timed(() => ipt.save())).ms);
      processStart.push((await timed(() => ipt.queue.run('true', []))).ms);
    }
    return { restore: summarize(restore), save: summarize(save), processStart: summarize(processStart) };
  } finally {
    await done();
  }
}

export interface DataplaneOptions {
  sizes: number[];
  naiveMax: number;
  fullReps: (n: number) => number;
  changeReps: number;
  naiveChangeReps: number;
  log: (msg: string) => void;
}

async function freshNs(): Promise<{ ns: Netns; done: () => Promise<void> }> {
  const ns = await createNetns('bdp');
  const done = onCleanup(`namespace ${ns.name}`, () => destroyNetns(ns));
  if (wasInterrupted()) {
    // Ctrl-C came while it was being made: the clean-up may already have run without it
    await done();
    checkInterrupted();
  }
  return { ns, done };
}

function dataplaneIn(ns: Netns): { dp: Dataplane; ipt: TimedIptables } {
  const ipt = new TimedIptables(new CommandQueue({ netns: ns.path }), IPTABLES);
  return { dp: new Dataplane(ipt), ipt };
}

function timeSync<T>(fn: () => T): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: performance.now() - t0, value };
}

async function runScript(ns: Netns, dir: string, name: string, cmds: string[][], timeoutMs: number): Promise<number> {
  const file = `${dir}/${name}.sh`;
  await writeFile(file, shellScript(cmds));
  const { ms } = await timed(() => ns.exec('sh', ['-e', file], { timeoutMs }));
  return ms;
}

const chainKeys = (plan: RuleSet): Set<string> => new Set(plan.chains.map((c) => `${c.table}/${c.name}`));

async function naiveBaseline(n: number, base: RuleSet, plus: RuleSet, o: DataplaneOptions): Promise<NaiveResult> {
  const { ns, done } = await freshNs();
  const dir = await mkdtemp(`${tmpdir()}/dgbench-`);
  try {
    const full = restoreToCommands(renderPlan(base), new Set());
    o.log(`  N=${n}: per-rule baseline, ${full.length} iptables processes ...`);
    const fullMs = await runScript(ns, dir, 'full', full, 30 * 60_000);
    const { dp } = dataplaneIn(ns);
    const verified = (await dp.check(base)).clean;
    const startCmds = restoreToCommands([...renderDiff(base, plus).values()].join(''), chainKeys(base));
    const stopCmds = restoreToCommands([...renderDiff(plus, base).values()].join(''), chainKeys(plus));
    const start: number[] = [];
    const stop: number[] = [];
    for (let r = 0; r < o.naiveChangeReps; r++) {
      checkInterrupted();
      start.push(await runScript(ns, dir, 'start', startCmds, 120_000));
      stop.push(await runScript(ns, dir, 'stop', stopCmds, 120_000));
    }
    const still = (await dp.check(base)).clean;
    return {
      processes: full.length,
      fullMs,
      verified: verified && still,
      start: summarize(start),
      stop: summarize(stop),
      startProcesses: startCmds.length,
      stopProcesses: stopCmds.length,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
    await done();
  }
}

export async function benchDataplane(o: DataplaneOptions): Promise<DataplaneSize[]> {
  const out: DataplaneSize[] = [];
  for (const n of o.sizes) {
    checkInterrupted();
    const containers = fleet(n);
    const extra = (r: number) => syntheticContainer(n + (r % 2)); // alternately a proxy and a dnat container
    const planBuild: number[] = [];
    let base!: RuleSet;
    for (let r = 0; r < 5; r++) planBuild.push(timeSync(() => (base = planFor(containers))));
    // The changes below are planned as the daemon plans them: through one PlanCache, so the
    // containers that did not change keep their very rules and only the new one is rendered.
    const cache = new PlanCache();
    base = planFor(containers, cache);
    const plus = planFor([...containers, extra(0)], cache);
    const renderDiffMs: number[] = [];
    for (let r = 0; r < 5; r++) renderDiffMs.push(timeSync(() => renderDiff(base, plus)));
    const size = planSize(base);
    const fullBytes = [...renderFull(base, new Map()).values()].reduce((a, t) => a + Buffer.byteLength(t), 0);
    o.log(`  N=${n}: ${size.chains} chains, ${size.rules} rules, ${(fullBytes / 1024).toFixed(0)} KiB of restore input`);

    const fullSync: number[] = [];
    const fullProc: number[] = [];
    const start: number[] = [];
    const stop: number[] = [];
    const startProc: number[] = [];
    const stopProc: number[] = [];
    const drift: number[] = [];
    const driftSave: number[] = [];
    const startFloor: number[] = [];
    const stopFloor: number[] = [];
    const startTx: Transaction[] = [];
    const stopTx: Transaction[] = [];
    let verified = true;
    const reps = o.fullReps(n);
    for (let rep = 0; rep < reps; rep++) {
      checkInterrupted();
      const { ns, done } = await freshNs();
      try {
        const { dp, ipt } = dataplaneIn(ns);
        const { ms, value } = await timed(() => dp.sync(base));
        if (value.kind !== 'full') throw new Error(`first sync was ${value.kind}, not full`);
        fullSync.push(ms);
        fullProc.push(ipt.lastRestoreMs);
        if (rep < reps - 1) {
          verified &&= (await dp.check(base)).clean;
          continue;
        }
        // The last namespace stays for the single-container changes and the drift checks.
        for (let r = 0; r < o.changeReps; r++) {
          checkInterrupted();
          const p = r % 2 === 0 ? plus : planFor([...containers, extra(r)], cache);
          const s = await timed(() => dp.sync(p));
          if (s.value.kind !== 'diff') throw new Error(`start sync was ${s.value.kind}`);
          start.push(s.ms);
          startProc.push(ipt.lastRestoreMs);
          const startText = ipt.lastRestore;
          const t = await timed(() => dp.sync(base));
          if (t.value.kind !== 'diff') throw new Error(`stop sync was ${t.value.kind}`);
          stop.push(t.ms);
          stopProc.push(ipt.lastRestoreMs);
          const stopText = ipt.lastRestore;
          // The same two transactions by hand, from the same kernel state (base again after each pair).
          startFloor.push(await ipt.restoreByHand(startText.input));
          stopFloor.push(await ipt.restoreByHand(stopText.input));
          addShape(startTx, transactionOf(startText));
          addShape(stopTx, transactionOf(stopText));
        }
        for (let r = 0; r < 5; r++) {
          const c = await timed(() => dp.check(base));
          verified &&= c.value.clean;
          drift.push(c.ms);
          driftSave.push(ipt.lastSaveMs);
        }
      } finally {
        await done();
      }
    }
    const result: DataplaneSize = {
      n,
      chains: size.chains,
      rules: size.rules,
      fullRestoreBytes: fullBytes,
      planBuildMs: summarize(planBuild),
      renderDiffMs: summarize(renderDiffMs),
      fullSync: summarize(fullSync),
      fullSyncRestoreProcess: summarize(fullProc),
      start: summarize(start),
      stop: summarize(stop),
      startRestoreProcess: summarize(startProc),
      stopRestoreProcess: summarize(stopProc),
      startFloor: summarize(startFloor),
      stopFloor: summarize(stopFloor),
      startTransactions: startTx,
      stopTransactions: stopTx,
      driftCheck: summarize(drift),
      driftCheckSaveProcess: summarize(driftSave),
      verified,
    };
    o.log(
      `  N=${n}: full sync median ${result.fullSync.median} ms; start median ${result.start.median} ms (by hand ${result.startFloor.median} ms), stop median ${result.stop.median} ms (by hand ${result.stopFloor.median} ms); drift check ${result.driftCheck.median} ms`,
    );
    if (n <= o.naiveMax) {
      result.naive = await naiveBaseline(n, base, plus, o);
      o.log(`  N=${n}: per-rule baseline ${Math.round(result.naive.fullMs)} ms for the full set; start median ${result.naive.start.median} ms`);
    } else {
      result.naiveSkipped = `not run above N=${o.naiveMax}: one iptables process per rule would take too long`;
    }
    out.push(result);
  }
  return out;
}

/** For run.ts's --only dataplane smoke runs. */
export async function iptablesVersion(): Promise<string> {
  const r = await run('iptables', ['--version'], { reject: false });
  return r.stdout.trim();
}
