// Shared by the reliability suite (test/e2e/reliability.test.ts) and the soak run
// (test/soak/soak.test.ts): a seeded PRNG, an independent check that the kernel holds exactly
// `dockgate plan`, crash helpers for the dockgate process, drift sabotage, and a churn engine that
// drives a real dockerd through random container operations and then proves reachability from the
// outside namespace against its own model of what the labels allow.
//
// Safety: every iptables command runs inside the test's host namespace (h.host.exec); every probe
// goes from the outside namespace to HOST_IP; every wait is bounded; processes are signalled only
// by the pids this code started or found as children of a dockgate it started.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isGoneOrZombie, killQuiet, waitGone } from '../support/netns.js';
import { until } from '../support/poll.js';
import { OPENINGS, shardChain, shardOf } from '../../src/plan/chains.js';
import { type DaemonProcess, type DockerHost, HOST_IP, httpGet, runCli, waitFor } from '../e2e/harness.js';

// ---------------------------------------------------------------------------------------------
// Seeded randomness

/** mulberry32: tiny, fast, good enough to make a failing run reproducible from its seed. */
export class Rng {
  #state: number;
  constructor(readonly seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(items: readonly T[]): T {
    const v = items[Math.floor(this.next() * items.length)];
    if (v === undefined) throw new Error('pick from an empty list');
    return v;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  weighted<T extends string>(weights: Readonly<Record<T, number>>): T {
    const entries = Object.entries(weights) as Array<[T, number]>;
    const total = entries.reduce((n, [, w]) => n + w, 0);
    let x = this.next() * total;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    return entries[entries.length - 1]![0];
  }
}

/** The seed from `envName` when set (to replay a failure), otherwise a fresh one. */
export function seedFrom(envName: string): number {
  const v = process.env[envName];
  if (v !== undefined && /^\d+$/.test(v)) return Number(v) >>> 0;
  return Math.floor(Math.random() * 2 ** 31);
}

// ---------------------------------------------------------------------------------------------
// dockgate's rules in the kernel vs `dockgate plan`, compared independently of dockgate's own code

export interface OwnRules {
  /** 'table/CHAIN' → the chain's rule bodies, sorted (a multiset: duplicates stay visible) */
  chains: Map<string, string[]>;
  /** 'table BUILTIN rule-body' for every rule outside dockgate's chains that jumps into one, sorted */
  jumps: string[];
}

/**
 * Parses iptables-save output or `dockgate plan` output (an iptables-restore document whose jumps
 * are `-I BUILTIN 1 ...`) into dockgate's chains and jump rules.
 */
export function parseOwnRules(text: string): OwnRules {
  const chains = new Map<string, string[]>();
  const jumps: string[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    const decl = /^:(\S+) /.exec(line);
    if (decl) {
      const name = decl[1]!;
      if (name.startsWith('DOCKGATE-') && !chains.has(`${table}/${name}`)) chains.set(`${table}/${name}`, []);
      continue;
    }
    const m = /^-(?:A (\S+)|I (\S+) \d+) (.*)$/.exec(line);
    if (!m) continue;
    const chain = (m[1] ?? m[2])!;
    const body = m[3]!;
    if (chain.startsWith('DOCKGATE-')) {
      const key = `${table}/${chain}`;
      const list = chains.get(key) ?? [];
      list.push(body);
      chains.set(key, list);
    } else if (/-j DOCKGATE-\S+$/.test(body)) {
      jumps.push(`${table} ${chain} ${body}`);
    }
  }
  for (const list of chains.values()) list.sort();
  jumps.sort();
  return { chains, jumps };
}

/** Differences between the kernel and the plan, one readable line each; empty when equal. */
export function diffOwnRules(kernel: OwnRules, plan: OwnRules): string[] {
  const out: string[] = [];
  for (const key of plan.chains.keys()) if (!kernel.chains.has(key)) out.push(`chain missing in kernel: ${key}`);
  for (const key of kernel.chains.keys()) if (!plan.chains.has(key)) out.push(`orphan chain in kernel: ${key}`);
  for (const [key, want] of plan.chains) {
    const have = kernel.chains.get(key);
    if (!have) continue;
    if (have.length !== want.length || have.some((r, i) => r !== want[i])) {
      const missing = want.filter((r) => !have.includes(r));
      const extra = have.filter((r) => !want.includes(r));
      out.push(`chain ${key} differs: ${have.length} rules in kernel, ${want.length} planned; missing ${JSON.stringify(missing)}; unexpected ${JSON.stringify(extra)}`);
    }
  }
  const count = (list: string[]): Map<string, number> => {
    const m = new Map<string, number>();
    for (const j of list) m.set(j, (m.get(j) ?? 0) + 1);
    return m;
  };
  const kj = count(kernel.jumps);
  const pj = count(plan.jumps);
  for (const [j, n] of pj) if ((kj.get(j) ?? 0) !== n) out.push(`jump "${j}" found ${kj.get(j) ?? 0} times, planned ${n}`);
  for (const [j, n] of kj) if (!pj.has(j)) out.push(`stray jump "${j}" (${n} times)`);
  return out;
}

export async function iptablesSave(h: DockerHost, table?: string): Promise<string> {
  return (await h.host.exec('iptables-save', table ? ['-t', table] : [], { timeoutMs: 20_000 })).stdout;
}

/** Reads `dockgate plan` and iptables-save (in that order) and compares dockgate's part. */
export async function kernelVsPlan(h: DockerHost, configFile: string): Promise<{ diffs: string[]; plan: OwnRules; kernel: OwnRules }> {
  const p = await runCli(h, ['plan', '--config', configFile]);
  if (p.exitCode !== 0) throw new Error(`dockgate plan failed (exit ${p.exitCode}): ${p.stderr.trim()}`);
  // The IPv4 half: iptables-save is compared; the IPv6 rules follow under '# ip6tables (IPv6)'.
  const plan = parseOwnRules(p.stdout.split('# ip6tables (IPv6)')[0]!);
  const kernel = parseOwnRules(await iptablesSave(h));
  return { diffs: diffOwnRules(kernel, plan), plan, kernel };
}

export async function statusInSync(h: DockerHost, configFile: string): Promise<boolean> {
  const r = await runCli(h, ['status', '--json', '--config', configFile]);
  try {
    return (JSON.parse(r.stdout) as { inSync?: boolean }).inSync === true;
  } catch {
    return false;
  }
}

/**
 * Waits (bounded) until the kernel holds exactly the plan, twice in a row 300 ms apart (so that a
 * write still under way cannot pass for convergence) and `dockgate status --json` says inSync.
 * Throws with the last differences.
 */
export async function waitConverged(
  h: DockerHost,
  configFile: string,
  timeoutMs: number,
): Promise<{ ms: number; plan: OwnRules; /** the kernel already matched at the first comparison */ atOnce: boolean }> {
  const t0 = Date.now();
  let last: string[] = ['not compared yet'];
  let plan: OwnRules | undefined;
  let streak = 0;
  let atOnce = false;
  const deadline = t0 + timeoutMs;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const r = await kernelVsPlan(h, configFile).catch((err: Error) => ({ diffs: [err.message], plan: undefined }));
    last = r.diffs;
    if (i === 0) atOnce = last.length === 0;
    if (last.length === 0) {
      streak++;
      plan = r.plan;
      if (streak >= 2 && (await statusInSync(h, configFile))) return { ms: Date.now() - t0, plan: plan!, atOnce };
    } else {
      streak = 0;
    }
    await sleep(300);
  }
  throw new Error(`kernel did not converge to the plan within ${timeoutMs} ms:\n  ${last.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// The dockgate process: children, memory, crashes

export async function childPids(pid: number): Promise<number[]> {
  try {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8');
    return text.split(' ').filter((s) => /^\d+$/.test(s)).map(Number);
  } catch {
    return [];
  }
}

export async function cmdlineOf(pid: number): Promise<string> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The iptables-restore processes dockgate is running right now. */
export async function restoreChildren(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const c of await childPids(pid)) if ((await cmdlineOf(c)).includes('restore')) out.push(c);
  return out;
}

/** VmRSS of a process in KiB (0 when it is gone). */
export async function rssKb(pid: number): Promise<number> {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface CrashReport {
  /** an iptables-restore of this dockgate was running when the SIGKILL landed */
  midWrite: boolean;
  /** its children (iptables-restore/-save) killed with it, as systemd's KillMode does */
  childrenKilled: boolean;
}

/**
 * SIGKILLs dockgate. With `killChildren`, its iptables processes die with it (what systemd does to
 * the unit's cgroup); without, they are left to finish on their own — an orphaned write may then
 * land after the next dockgate has read the kernel, the harder case. Either way the test waits
 * (bounded) until they are gone and SIGKILLs any still there, by pid.
 */
export async function crash(d: DaemonProcess, killChildren: boolean): Promise<CrashReport> {
  const children = await childPids(d.pid);
  const restoring: number[] = [];
  for (const c of children) if ((await cmdlineOf(c)).includes('restore')) restoring.push(c);
  killQuiet(d.pid, 'SIGKILL');
  const midWrite = restoring.length > 0 && !(await isGoneOrZombie(restoring[0]!));
  if (killChildren) for (const c of children) killQuiet(c, 'SIGKILL');
  await d.stop('SIGKILL');
  const left = await waitGone(children, 5_000);
  for (const c of left) killQuiet(c, 'SIGKILL');
  await waitGone(left, 2_000);
  return { midWrite, childrenKilled: killChildren };
}

/** Polls (bounded) for an iptables-restore child of `pid`; true when one was seen. */
export async function waitForRestoreChild(pid: number, timeoutMs: number): Promise<boolean> {
  const restoring = async (): Promise<boolean> => {
    for (const c of await childPids(pid)) if ((await cmdlineOf(c)).includes('restore')) return true;
    return false;
  };
  return until(restoring, { what: 'an iptables-restore child', timeoutMs, intervalMs: 2 }).catch(() => false);
}

// ---------------------------------------------------------------------------------------------
// Logs

export type LogLine = Record<string, unknown>;

export const logTime = (l: LogLine): number => (typeof l.time === 'string' ? Date.parse(l.time) : typeof l.time === 'number' ? l.time : 0);

export function linesSince(d: DaemonProcess, t0: number, pred: (l: LogLine) => boolean = () => true): LogLine[] {
  return d.lines.filter((l): l is LogLine => typeof l === 'object' && l !== null && !Array.isArray(l) && logTime(l as LogLine) >= t0 && pred(l as LogLine));
}

// ---------------------------------------------------------------------------------------------
// Drift sabotage: what another program does to the firewall

export type SabotageKind = 'flush-input' | 'flush-container-chain' | 'delete-jump' | 'reload-filter' | 'flush-nat';
export const SABOTAGE_KINDS: readonly SabotageKind[] = ['flush-input', 'flush-container-chain', 'delete-jump', 'reload-filter', 'flush-nat'];

/** The admin's saved filter rules: the table as it is now without anything of dockgate's. */
export async function adminSavedFilter(h: DockerHost): Promise<string> {
  const text = await iptablesSave(h, 'filter');
  return `${text
    .split('\n')
    .filter((l) => !l.startsWith('#') && !l.includes('DOCKGATE-'))
    .join('\n')
    .trim()}\n`;
}

/**
 * Does one kind of damage in the host namespace. `containerChain` names a per-container chain for
 * 'flush-container-chain' (the shard holding a container's lines, e.g. 'filter DOCKGATE-OPENINGS-3f'). Returns what was hit, as
 * `table chain` strings, for matching the drift-repaired log lines.
 */
export async function sabotage(h: DockerHost, kind: SabotageKind, containerChain?: string): Promise<string[]> {
  const ipt = (args: string[]) => h.host.exec('iptables', ['-w', '5', ...args], { timeoutMs: 10_000 });
  switch (kind) {
    case 'flush-input':
      await ipt(['-F', 'DOCKGATE-INPUT']);
      return ['filter DOCKGATE-INPUT'];
    case 'flush-container-chain': {
      if (!containerChain) throw new Error('flush-container-chain needs a chain');
      const [table, chain] = containerChain.split(' ') as [string, string];
      await ipt(['-t', table, '-F', chain]);
      return [containerChain];
    }
    case 'delete-jump':
      await ipt(['-D', 'INPUT', '-m', 'comment', '--comment', 'dockgate', '-j', 'DOCKGATE-INPUT']);
      return ['filter INPUT'];
    case 'reload-filter': {
      // What `netfilter-persistent reload` / `iptables-restore /etc/iptables/rules.v4` does: the
      // whole filter table replaced by the admin's saved rules (no --noflush).
      const saved = await adminSavedFilter(h);
      await h.host.exec('iptables-restore', ['-w', '5'], { input: saved, timeoutMs: 10_000 });
      return ['filter INPUT', 'filter FORWARD', 'filter DOCKGATE-INPUT', 'filter DOCKGATE-FORWARD', 'filter DOCKGATE-CONTAINERS'];
    }
    case 'flush-nat':
      await ipt(['-t', 'nat', '-F']);
      return ['nat PREROUTING', 'nat OUTPUT', 'nat POSTROUTING', 'nat DOCKGATE-PREROUTING', 'nat DOCKGATE-OUTPUT', 'nat DOCKGATE-POSTROUTING'];
  }
}

/** 'filter DOCKGATE-OPENINGS-xx': the shard holding a container's proxy accepts (src/plan/chains.ts). */
export async function openingsShard(h: DockerHost, container: string): Promise<string> {
  const id = (await h.docker(['inspect', '-f', '{{.Id}}', container])).stdout.trim();
  return `filter ${shardChain(OPENINGS, shardOf(id))}`;
}

/** How many container lines the shards of a set chain ('nat/DOCKGATE-DNAT') hold. */
export function shardLineCount(rules: OwnRules, parent: string): number {
  const shard = new RegExp(`^${parent}-[0-9a-f]{2}$`);
  return [...rules.chains].filter(([name]) => shard.test(name)).reduce((n, [, lines]) => n + lines.length, 0);
}

/** Every rule and chain outside dockgate's (all tables), without counters: what must never change. */
export async function foreignRules(h: DockerHost): Promise<string[]> {
  return (await iptablesSave(h))
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#') && !l.includes('DOCKGATE-'))
    .map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]'));
}

/** Median and maximum of a list of numbers (0 for an empty list). */
export function medianMax(values: number[]): { median: number; max: number; n: number } {
  if (values.length === 0) return { median: 0, max: 0, n: 0 };
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, max: s[s.length - 1]!, n: s.length };
}

// ---------------------------------------------------------------------------------------------
// Churn

/** How a churned container is labelled; `open` = the outside may reach its port. */
export const VARIANTS = {
  proxy: { open: true, publish: true },
  dnat: { open: true, publish: true },
  dnatmap: { open: true, publish: false },
  nolabel: { open: false, publish: true },
  from: { open: false, publish: true },
  hostile: { open: false, publish: true },
} as const;
export type Variant = keyof typeof VARIANTS;
const VARIANT_WEIGHTS: Record<Variant, number> = { proxy: 3, dnat: 3, dnatmap: 3, nolabel: 1, from: 1, hostile: 1 };

function variantLabels(v: Variant, port: number): Record<string, string> {
  switch (v) {
    case 'proxy':
      return { 'dockgate.ports': '8000' };
    case 'dnat':
      return { 'dockgate.ports': '8000', 'dockgate.mode': 'dnat' };
    case 'dnatmap':
      return { 'dockgate.ports': `${HOST_IP}:${port}:8000`, 'dockgate.mode': 'dnat' };
    case 'nolabel':
      return {};
    case 'from':
      return { 'dockgate.ports': '8000', 'dockgate.from': '192.0.2.0/24' };
    case 'hostile':
      return { 'dockgate.ports': '8000 -j ACCEPT', 'dockgate.mode': 'dnat' };
  }
}

export type OpKind = 'run' | 'stop' | 'kill' | 'restart' | 'rm' | 'network' | 'relabel';
const OP_WEIGHTS: Record<OpKind, number> = { run: 22, stop: 10, kill: 8, restart: 12, rm: 10, network: 16, relabel: 14 };

export interface Op {
  index: number;
  kind: OpKind;
  slot: number;
  /** for run/relabel when a container is created */
  variant: Variant;
  restartAlways: boolean;
  /** primary network for a created container */
  network: 'bridge' | 'user';
}

interface SlotState {
  exists: boolean;
  running: boolean;
  onNet2: boolean;
  variant: Variant;
}

export interface ChurnOptions {
  h: DockerHost;
  seed: number;
  slots: number;
  /** host port of slot i is basePort + i */
  basePort: number;
  /** container names are `${prefix}-${slot}` */
  prefix: string;
  /** how many operations run at once (on distinct slots) */
  concurrency: number;
}

export interface ChurnStats {
  ops: number;
  byKind: Record<string, number>;
  /** commands Docker refused (the model was stale: e.g. kill of an already exited container) */
  refused: number;
}

/**
 * Random container operations on a fixed set of slots. Operations are generated from the seed;
 * each runs the Docker command that fits the slot's state (a `stop` of an absent container
 * becomes a `run`, ...). The model is refreshed from Docker after every batch that Docker refused
 * something in, and by `refresh()` (call it after a Docker restart).
 */
export class Churn {
  readonly rng: Rng;
  readonly net1: string;
  readonly net2: string;
  readonly #state = new Map<number, SlotState>();
  readonly stats: ChurnStats = { ops: 0, byKind: {}, refused: 0 };
  #next = 0;

  constructor(readonly o: ChurnOptions) {
    this.rng = new Rng(o.seed);
    this.net1 = `${o.prefix}net`;
    this.net2 = `${o.prefix}net2`;
  }

  name(slot: number): string {
    return `${this.o.prefix}-${slot}`;
  }

  port(slot: number): number {
    return this.o.basePort + slot;
  }

  /** Creates the two user networks. */
  async setup(): Promise<void> {
    for (const n of [this.net1, this.net2]) {
      const exists = await this.o.h.docker(['network', 'inspect', n], { reject: false });
      if (exists.exitCode !== 0) await this.o.h.docker(['network', 'create', n]);
    }
    await this.refresh();
  }

  /** Re-reads every slot's state from Docker. */
  async refresh(): Promise<void> {
    const r = await this.o.h.docker(
      ['ps', '-a', '--filter', `label=churn.prefix=${this.o.prefix}`, '--format', '{{.Names}}\t{{.State}}\t{{.Networks}}\t{{.Label "churn.variant"}}'],
      { timeoutMs: 60_000 },
    );
    this.#state.clear();
    for (const line of r.stdout.split('\n')) {
      const [name = '', state = '', networks = '', variant = ''] = line.split('\t');
      const m = new RegExp(`^${this.o.prefix}-(\\d+)$`).exec(name);
      if (!m || !(variant in VARIANTS)) continue;
      this.#state.set(Number(m[1]), {
        exists: true,
        running: state === 'running' || state === 'restarting',
        onNet2: networks.split(',').includes(this.net2),
        variant: variant as Variant,
      });
    }
  }

  /** The next `n` operations from the seed (deterministic). */
  generate(n: number): Op[] {
    const ops: Op[] = [];
    for (let i = 0; i < n; i++) {
      ops.push({
        index: this.#next++,
        kind: this.rng.weighted(OP_WEIGHTS),
        slot: this.rng.int(0, this.o.slots - 1),
        variant: this.rng.weighted(VARIANT_WEIGHTS),
        restartAlways: this.rng.chance(0.3),
        network: this.rng.chance(0.5) ? 'bridge' : 'user',
      });
    }
    return ops;
  }

  /** Runs `ops` in batches of up to `concurrency` operations on distinct slots. */
  async runOps(ops: readonly Op[]): Promise<void> {
    let i = 0;
    for (let guard = 0; i < ops.length && guard < ops.length + 1; guard++) {
      const batch: Op[] = [];
      const slots = new Set<number>();
      while (i < ops.length && batch.length < this.o.concurrency && !slots.has(ops[i]!.slot)) {
        slots.add(ops[i]!.slot);
        batch.push(ops[i]!);
        i++;
      }
      const results = await Promise.all(batch.map((op) => this.#exec(op)));
      if (results.some((ok) => !ok)) await this.refresh();
    }
  }

  async #docker(args: string[]): Promise<boolean> {
    const r = await this.o.h.docker(args, { reject: false, timeoutMs: 60_000 });
    return r.exitCode === 0;
  }

  async #create(op: Op, slot: number): Promise<boolean> {
    const name = this.name(slot);
    const port = this.port(slot);
    const v = op.variant;
    const args = ['run', '-d', '--init', '--name', name, '-l', `churn.prefix=${this.o.prefix}`, '-l', `churn.variant=${v}`];
    if (op.restartAlways) args.push('--restart', 'always');
    if (op.network === 'user') args.push('--network', this.net1);
    if (VARIANTS[v].publish) args.push('-p', `${HOST_IP}:${port}:8000`);
    for (const [k, val] of Object.entries(variantLabels(v, port))) args.push('-l', `${k}=${val}`);
    args.push(this.o.h.image, 'sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 8000 -h /www`);
    const ok = await this.#docker(args);
    if (ok) this.#state.set(slot, { exists: true, running: true, onNet2: false, variant: v });
    return ok;
  }

  /** Runs one operation; false when Docker refused the command. */
  async #exec(op: Op): Promise<boolean> {
    const s = this.#state.get(op.slot);
    const name = this.name(op.slot);
    let kind: string = op.kind;
    let ok: boolean;
    if (!s?.exists) {
      kind = 'run';
      ok = await this.#create(op, op.slot);
    } else {
      switch (op.kind) {
        case 'run':
          kind = s.running ? 'restart' : 'start';
          ok = await this.#docker(s.running ? ['restart', '-t', '1', name] : ['start', name]);
          if (ok) s.running = true;
          break;
        case 'stop':
        case 'kill':
          if (!s.running) {
            kind = 'start';
            ok = await this.#docker(['start', name]);
            if (ok) s.running = true;
          } else {
            ok = await this.#docker(op.kind === 'stop' ? ['stop', '-t', '1', name] : ['kill', name]);
            if (ok) s.running = false;
          }
          break;
        case 'restart':
          ok = await this.#docker(['restart', '-t', '1', name]);
          if (ok) s.running = true;
          break;
        case 'rm':
          ok = await this.#docker(['rm', '-f', name]);
          if (ok) this.#state.delete(op.slot);
          break;
        case 'network':
          kind = s.onNet2 ? 'disconnect' : 'connect';
          ok = await this.#docker(['network', s.onNet2 ? 'disconnect' : 'connect', this.net2, name]);
          if (ok) s.onNet2 = !s.onNet2;
          break;
        case 'relabel':
          ok = await this.#docker(['rm', '-f', name]);
          if (ok) {
            this.#state.delete(op.slot);
            ok = await this.#create(op, op.slot);
          }
          break;
      }
    }
    this.stats.ops++;
    this.stats.byKind[kind] = (this.stats.byKind[kind] ?? 0) + 1;
    if (!ok) this.stats.refused++;
    return ok;
  }

  /** Removes every container of this churn (bounded). */
  async removeAll(): Promise<void> {
    const r = await this.o.h.docker(['ps', '-aq', '--filter', `label=churn.prefix=${this.o.prefix}`], { reject: false, timeoutMs: 60_000 });
    const ids = r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
    if (ids.length > 0) await this.o.h.docker(['rm', '-f', ...ids], { reject: false, timeoutMs: 120_000 });
    this.#state.clear();
  }

  /**
   * Waits (bounded) until Docker is quiet: no container restarting, and the same running set
   * twice in a row one second apart. Returns the running containers' slots and variants.
   */
  async settle(timeoutMs: number): Promise<Map<number, Variant>> {
    let prev = '';
    return waitFor(
      'Docker quiet',
      async () => {
        const r = await this.o.h.docker(
          ['ps', '-a', '--filter', `label=churn.prefix=${this.o.prefix}`, '--format', '{{.Names}}\t{{.State}}\t{{.Label "churn.variant"}}'],
          { timeoutMs: 30_000 },
        );
        const lines = r.stdout.split('\n').filter(Boolean).sort();
        if (lines.some((l) => l.split('\t')[1] === 'restarting')) return undefined;
        const now = lines.join('\n');
        const same = now === prev;
        prev = now;
        if (!same) return undefined;
        const running = new Map<number, Variant>();
        for (const l of lines) {
          const [name = '', state = '', variant = ''] = l.split('\t');
          const m = new RegExp(`^${this.o.prefix}-(\\d+)$`).exec(name);
          if (m && state === 'running' && variant in VARIANTS) running.set(Number(m[1]), variant as Variant);
        }
        return running;
      },
      timeoutMs,
      1000,
    );
  }

  /**
   * From the outside namespace: every slot whose container runs with an opening label answers
   * with its own name (so a stale DNAT to a reused address would show), every other slot's port
   * does not answer. Returns the failures (empty = all as expected) and the counts.
   */
  async verifyReachability(
    running: ReadonlyMap<number, Variant>,
    parallel = 10,
  ): Promise<{ failures: string[]; open: number; closed: number }> {
    const failures: string[] = [];
    let open = 0;
    let closed = 0;
    const slots = Array.from({ length: this.o.slots }, (_, i) => i);
    const url = (slot: number) => `http://${HOST_IP}:${this.port(slot)}/`;
    const check = async (slot: number): Promise<void> => {
      const v = running.get(slot);
      const name = this.name(slot);
      if (v !== undefined && VARIANTS[v].open) {
        open++;
        // httpd of a just (re)started container may need a moment; the rule must be there already.
        const got = await waitFor(
          `${name} (${v}) on port ${this.port(slot)}`,
          async () => {
            const g = await httpGet(this.o.h.outside, url(slot), 1500);
            return g.ok ? g.body.trim() : undefined;
          },
          10_000,
          200,
        ).catch((err: Error) => `FAILED: ${err.message}`);
        if (got !== name) failures.push(`slot ${slot} ${name} (${v}, open): expected body "${name}", got "${got}"`);
      } else {
        closed++;
        const g = await httpGet(this.o.h.outside, url(slot), 1500);
        if (g.ok) failures.push(`slot ${slot} (${v ?? 'not running'}, closed): port ${this.port(slot)} answered "${g.body.trim()}"`);
      }
    };
    for (let i = 0; i < slots.length; i += parallel) await Promise.all(slots.slice(i, i + parallel).map(check));
    return { failures, open, closed };
  }
}

// ---------------------------------------------------------------------------------------------
// Drift repair, measured from outside

/**
 * Milliseconds from `t0` until a new connection to HOST_IP:`port` answers with `body`: three
 * staggered probers with short timeouts, so the figure overshoots the repair by a few hundred
 * milliseconds at most. Throws after `limitMs`.
 */
export async function connectionBackAfter(h: DockerHost, port: number, body: string, t0: number, limitMs = 10_000): Promise<number> {
  let done = 0;
  const prober = async (offset: number): Promise<void> => {
    await sleep(offset);
    for (let i = 0; i < 200 && done === 0 && Date.now() - t0 < limitMs; i++) {
      const g = await httpGet(h.outside, `http://${HOST_IP}:${port}/`, 500);
      if (g.ok && g.body.trim() === body && done === 0) done = Date.now();
    }
  };
  await Promise.all([prober(0), prober(170), prober(340)]);
  if (done === 0) throw new Error(`port ${port} did not answer "${body}" within ${limitMs} ms`);
  return done - t0;
}

export interface DriftRound {
  kind: SabotageKind;
  /** when the sabotage started (Date.now()) */
  t0: number;
  /** sabotage start → the last drift-repaired line's timestamp */
  logMs: number;
  /** sabotage start → a new connection from outside answered again (all probed ports) */
  connMs: number;
  /** `table chain` of every drift-repaired line, in order */
  repaired: string[];
  /** what the sabotage hit (all of it must be among `repaired`) */
  hit: string[];
}

/**
 * One sabotage of `kind`, then waits for the connections to `ports` ([port, expected body]) to
 * come back and for drift-repaired lines covering everything hit. `extraForeign` is run right
 * after the sabotage: the admin adding a rule of their own meanwhile.
 */
export async function driftRound(
  h: DockerHost,
  d: DaemonProcess,
  kind: SabotageKind,
  ports: ReadonlyArray<readonly [number, string]>,
  opts: { containerChain?: string; meanwhile?: () => Promise<unknown> } = {},
): Promise<DriftRound> {
  const t0 = Date.now();
  const hit = await sabotage(h, kind, opts.containerChain);
  await opts.meanwhile?.();
  const back = await Promise.all(ports.map(([p, body]) => connectionBackAfter(h, p, body, t0)));
  const key = (l: LogLine): string => `${String(l.table)} ${String(l.chain)}`;
  const lines = await waitFor(
    `drift-repaired lines for ${hit.join(', ')}`,
    async () => {
      const ls = linesSince(d, t0, (l) => l.event === 'drift-repaired');
      return hit.every((k) => ls.some((l) => key(l) === k)) ? ls : undefined;
    },
    10_000,
    100,
  );
  return { kind, t0, logMs: Math.max(...lines.map(logTime)) - t0, connMs: Math.max(0, ...back), repaired: lines.map(key), hit };
}
