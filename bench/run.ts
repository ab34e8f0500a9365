// `npm run bench`: dockgate against per-rule iptables and against Docker's own firewall, side by
// side, on this machine, in network namespaces the benchmark makes and removes (issue 6).
//
//   npm run bench                      full run (about 30 minutes on 2 cores) → bench/results/latest.{json,md}
//   npm run bench -- --quick           smaller pass (N ≤ 1,000, 10 containers) → latest-quick.{json,md}
//   npm run bench -- --only dataplane  one or more of dataplane,events,versus → partial.{json,md}
//
// Needs root, iptables (nft backend for part 2's kernel timestamps), nft, Debian's docker.io and
// busybox-static (like the e2e tests). Ctrl-C stops it and removes everything it made.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { REPO_ROOT } from '../test/e2e/harness.js';
import { cleanupLeftovers, listTestNetns } from '../test/support/netns.js';
import { benchDataplane, restoreFloor } from './dataplane.js';
import { benchEvents } from './events.js';
import { benchNameRefresh } from './names.js';
import { defaultConfig } from '../src/config/load.js';
import { Interrupted, cleanupAll, installSignalHandlers, wasInterrupted } from './lib/cleanup.js';
import { machine } from './lib/machine.js';
import { type Results, evaluate, renderMarkdown, renderTables } from './report.js';
import { benchVersus } from './versus.js';

type Part = 'dataplane' | 'events' | 'versus';
const PARTS: Part[] = ['dataplane', 'events', 'versus'];

function parseArgs(argv: string[]): { quick: boolean; only: Part[] } {
  let quick = false;
  let only: Part[] = PARTS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i] ?? '';
      only = v.split(',').map((s) => s.trim()) as Part[];
      const bad = only.filter((p) => !PARTS.includes(p));
      if (bad.length > 0 || only.length === 0) throw new Error(`--only takes a comma list of ${PARTS.join(', ')}`);
    } else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench [-- --quick] [-- --only dataplane,events,versus]');
      process.exit(0);
    } else {
      throw new Error(`unknown argument ${a} (try --help)`);
    }
  }
  return { quick, only };
}

const log = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};
const load1 = (): number => Math.round(os.loadavg()[0]! * 100) / 100;

async function main(): Promise<number> {
  const { quick, only } = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (network namespaces, iptables, dockerd)');
  installSignalHandlers();
  const kind: Results['kind'] = only.length < PARTS.length ? 'partial' : quick ? 'quick' : 'full';
  const command = `npm run bench${quick ? ' -- --quick' : ''}${only.length < PARTS.length ? ` -- --only ${only.join(',')}` : ''}`;
  await cleanupLeftovers(); // what a crashed earlier run (of the benchmark or the tests) left
  const m = await machine();
  log(`dockgate benchmark (${kind}): ${m.cpus} cores, kernel ${m.kernel}, ${m.iptables}, node ${m.node}, load ${m.loadAtStart}`);
  if (m.loadAtStart > m.cpus / 2) log(`warning: the 1-minute load average is ${m.loadAtStart} on ${m.cpus} cores; other work will skew the figures`);
  if (m.iptablesBackend !== 'nf_tables') log('warning: iptables is not the nft backend; part 2 needs nft monitor for its kernel timestamps');

  // The daemon runs with its defaults: the long windows at rest cover two of its full checks.
  const fullCheckMs = defaultConfig().sync.fullCheckMs;
  const results: Omit<Results, 'targets'> = { kind, command, machine: m, fullCheckMs, load: {}, elapsedMs: {}, errors: {} };
  const part = async (name: Part, fn: () => Promise<void>): Promise<void> => {
    if (!only.includes(name) || wasInterrupted()) return;
    log(`\n== ${name} ==`);
    const t0 = performance.now();
    const l0 = load1();
    try {
      await fn();
    } catch (err) {
      if (err instanceof Interrupted || wasInterrupted()) throw err;
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      log(`${name} failed: ${msg}`);
      results.errors[name] = msg.slice(0, 4000);
      await cleanupAll();
    }
    results.elapsedMs[name] = Math.round(performance.now() - t0);
    results.load[name] = { start: l0, end: load1() };
  };

  const t0 = performance.now();
  await part('dataplane', async () => {
    results.floor = await restoreFloor(20);
    log(`  floor: one tiny iptables-restore ${results.floor.restore.median} ms, iptables-save ${results.floor.save.median} ms, \`true\` ${results.floor.processStart.median} ms (medians of 20, empty namespace)`);
    results.dataplane = await benchDataplane({
      sizes: quick ? [100, 1000] : [100, 1000, 5000],
      naiveMax: quick ? 100 : 1000,
      fullReps: (n) => (quick ? 3 : n >= 5000 ? 3 : 5),
      changeReps: quick ? 10 : 20,
      naiveChangeReps: quick ? 3 : 5,
      log,
    });
    results.nameRefresh = await benchNameRefresh({ names: 10, v4PerName: 4, v6PerName: 2, reps: quick ? 5 : 20, log });
  });
  await part('events', async () => {
    results.events = await benchEvents({
      sequential: quick ? 10 : 50,
      burst: quick ? 10 : 50,
      burstConcurrency: 10,
      resourceContainers: quick ? 50 : 200,
      manyContainers: quick ? 0 : 1000,
      idleSeconds: quick ? 5 : 10,
      settleSeconds: quick ? 5 : 20,
      restSeconds: quick ? 10 : 30,
      longRestSeconds: quick ? 10 : (2 * fullCheckMs) / 1000,
      names: 10,
      namesTtlS: 60,
      driftReps: quick ? 2 : 5,
      daemonLogFile: `${os.tmpdir()}/dockgate-bench-${kind}-daemon.jsonl`,
      log,
    });
    log(`  dockgate's own log of this part: ${os.tmpdir()}/dockgate-bench-${kind}-daemon.jsonl`);
  });
  await part('versus', async () => {
    results.versus = await benchVersus({
      containers: quick ? 10 : 30,
      burstConcurrency: 10,
      modes: quick ? ['docker', 'dockgate'] : ['docker', 'dockgate', 'dockgate-dnat'],
      log,
    });
  });
  results.elapsedMs.total = Math.round(performance.now() - t0);
  results.loadAtEnd = load1();

  const full: Results = { ...results, targets: evaluate(results) };
  const dir = `${REPO_ROOT}bench/results`;
  await mkdir(dir, { recursive: true });
  const base = kind === 'full' ? 'latest' : kind === 'quick' ? 'latest-quick' : 'partial';
  await writeFile(`${dir}/${base}.json`, `${JSON.stringify(full, null, 2)}\n`);
  await writeFile(`${dir}/${base}.md`, renderMarkdown(full));
  process.stdout.write(`\n${renderTables(full).join('\n')}\n`);
  log(`\nwritten: bench/results/${base}.json, bench/results/${base}.md (${Math.round(results.elapsedMs.total / 1000)} s)`);
  return Object.keys(results.errors).length > 0 ? 1 : 0;
}

async function leftovers(): Promise<string[]> {
  const mine = (await listTestNetns()).filter((n) => n.includes(`-${process.pid}-`));
  const tmp = (await readdir('/tmp').catch(() => [] as string[])).filter((e) => e.startsWith(`dgt-${process.pid}-`));
  return [...mine, ...tmp.map((t) => `/tmp/${t}`)];
}

let code = 1;
try {
  code = await main();
} catch (err) {
  if (!(err instanceof Interrupted)) log(`benchmark failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
} finally {
  await cleanupAll();
  const left = await leftovers();
  if (left.length > 0) log(`warning: left behind (removed by the next run's clean-up): ${left.join(', ')}`);
}
process.exit(wasInterrupted() ? 130 : code);
