// What dockgate may read and delete, on a real kernel: each test in a network namespace of its
// own, made and removed here. A table iptables-save cannot show (native nft rules in `ip filter`),
// an admin's own jumps into dockgate chains, and dockgate names in a table dockgate does not
// manage (mangle).
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/cli/doctor.js';
import { defaultConfig } from '../../src/config/load.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { type ForeignRule, IncompatibleTableError, compare, parseSave } from '../../src/plan/kernel-state.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, sbinPath, saveClean } from '../support/netns.js';
import { handId, handPlan } from './hand-plan.js';

let base: string;

const shown = (f: ForeignRule): string => (f.kind === 'rule' ? `${f.table} ${f.chain} ${f.line}` : `${f.table} chain ${f.chain}`);

beforeAll(async () => {
  await cleanupLeftovers();
  base = await mkdtemp(join(tmpdir(), 'dockgate-own-'));
});

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

async function withNs(fn: (ns: Netns, dp: Dataplane, queue: CommandQueue) => Promise<void>): Promise<void> {
  const ns = await createNetns('own');
  try {
    const queue = new CommandQueue({ netns: ns.path });
    await fn(ns, new Dataplane(new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 })), queue);
  } finally {
    await destroyNetns(ns);
  }
}

/** iptables-save (one table, or all) without comments and counters. */
const saveText = (ns: Netns, table?: string): Promise<string> => saveClean(ns, 'iptables-save', table);

/** How many rules of the nft chain `ip filter INPUT` jump to DOCKGATE-INPUT (read with nft: iptables cannot). */
async function nftJumps(ns: Netns): Promise<number> {
  const r = await ns.exec('nft', ['list', 'chain', 'ip', 'filter', 'INPUT']);
  return r.stdout.split('\n').filter((l) => /jump DOCKGATE-INPUT\b/.test(l)).length;
}

describe('a table iptables-save cannot show', () => {
  it('is refused with a clear error: no write, no duplicated jumps, doctor fails; dockgate recovers once it is readable', async () => {
    await withNs(async (ns, dp, queue) => {
      const plan = handPlan([1, 2]);
      await dp.sync(plan);
      expect(await nftJumps(ns)).toBe(1);
      // A native nft rule iptables-nft 1.8.9 cannot translate back ("ct state" without a verdict).
      await ns.exec('nft', ['add', 'rule', 'ip', 'filter', 'INPUT', 'ct', 'state', 'new', 'counter']);
      expect((await ns.exec('iptables-save', [])).stdout).toContain("# Table `filter' is incompatible, use 'nft' tool.");
      const restores = dp.restores;
      for (let i = 0; i < 3; i++) {
        const err = await dp.repair(plan).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(IncompatibleTableError);
        expect((err as Error).message).toMatch(/filter/);
        expect((err as Error).message).toMatch(/nft (-a )?list table ip filter/);
      }
      // Nor does a change afterwards write blind: the failed check made it forget what it wrote.
      const change = await dp.sync(handPlan([1, 2, 3])).catch((e: unknown) => e);
      expect(change).toBeInstanceOf(IncompatibleTableError);
      const flushed = await dp.flush().catch((e: unknown) => e);
      expect(flushed).toBeInstanceOf(IncompatibleTableError);
      expect(dp.restores).toBe(restores);
      expect(await nftJumps(ns)).toBe(1);
      expect((await ns.exec('nft', ['list', 'table', 'ip', 'filter'])).stdout).toMatch(/ct state new counter/);

      const config = defaultConfig();
      config.externalInterfaces = { kind: 'list', names: [] };
      const results = await runDoctor({ config, queue, root: base, procDir: join(base, 'no-proc'), dockerHost: `unix://${base}/no-docker.sock`, dockerTimeoutMs: 2000 });
      const iptables = results.find((r) => r.name === 'iptables')!;
      expect(iptables.status).toBe('fail');
      expect(iptables.detail).toMatch(/filter.*incompatible/);
      expect(results.find((r) => r.name === 'jumps')!.detail).toMatch(/not checked/);

      // The admin moves the rule elsewhere: the next check repairs without help.
      const listing = (await ns.exec('nft', ['-a', 'list', 'chain', 'ip', 'filter', 'INPUT'])).stdout;
      const handle = /ct state new counter .*# handle (\d+)/.exec(listing)?.[1];
      expect(handle).toBeDefined();
      await ns.exec('nft', ['delete', 'rule', 'ip', 'filter', 'INPUT', 'handle', handle!]);
      await dp.repair(handPlan([1, 2, 3]));
      expect(compare(handPlan([1, 2, 3]), parseSave(await saveText(ns))).clean).toBe(true);
      expect(await nftJumps(ns)).toBe(1);
    });
  });
});

describe("an admin's own jumps into dockgate chains", () => {
  it('survive repair, a removed container and flush; are reported once; flush keeps the chains they need, emptied', async () => {
    await withNs(async (ns, dp) => {
      await ns.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
      const pristine = await saveText(ns);
      const plan = handPlan([1, 2]);
      await dp.sync(plan);
      const adminJump = '-s 10.9.0.0/16 -j DOCKGATE-INPUT';
      await ns.exec('iptables', ['-I', 'INPUT', '2', '-s', '10.9.0.0/16', '-j', 'DOCKGATE-INPUT']);
      await ns.exec('iptables', ['-N', 'ADMIN-FWD']);
      await ns.exec('iptables', ['-A', 'ADMIN-FWD', '-j', `DOCKGATE-CI-${handId(1)}`]);
      await ns.exec('iptables', ['-A', 'FORWARD', '-j', 'ADMIN-FWD']);
      await ns.exec('iptables', ['-t', 'nat', '-F', 'DOCKGATE-POSTROUTING']);

      const r1 = await dp.repair(plan);
      expect(r1.kind).toBe('full');
      expect(r1.drift!.foreign.map(shown).sort()).toEqual([
        `filter ADMIN-FWD -j DOCKGATE-CI-${handId(1)}`,
        `filter INPUT ${adminJump}`,
      ]);
      let text = await saveText(ns);
      expect(text).toContain(`-A INPUT ${adminJump}`);
      expect(text).toContain(`-A ADMIN-FWD -j DOCKGATE-CI-${handId(1)}`);
      expect(compare(plan, parseSave(text)).clean).toBe(true);

      // Reported once: the next checks find nothing new to say and write nothing.
      const restores = dp.restores;
      for (let i = 0; i < 3; i++) {
        const r = await dp.repair(plan);
        expect(r.kind).toBe('none');
        expect(r.drift!.clean).toBe(true);
        expect(r.drift!.foreign).toEqual([]);
      }
      expect(dp.restores).toBe(restores);

      // Container 1 goes: its chain cannot be deleted while the admin jumps to it, so it stays, empty.
      const plan2 = handPlan([2]);
      expect((await dp.sync(plan2)).kind).toBe('diff');
      text = await saveText(ns);
      expect(text).toContain(`:DOCKGATE-CI-${handId(1)} - [0:0]`);
      expect(text).not.toMatch(new RegExp(`^-A DOCKGATE-CI-${handId(1)} `, 'm'));
      expect(text).not.toContain(`DOCKGATE-CN-${handId(1)}`);
      expect((await dp.repair(plan2)).kind).toBe('none');
      expect(compare(plan2, parseSave(text)).clean).toBe(true);

      const flushed = await dp.flushReport();
      expect(flushed.left.map((f) => f.target).sort()).toEqual([`DOCKGATE-CI-${handId(1)}`, 'DOCKGATE-INPUT']);
      text = await saveText(ns);
      expect(text).toContain(`-A INPUT ${adminJump}`);
      expect(text).toContain(`-A ADMIN-FWD -j DOCKGATE-CI-${handId(1)}`);
      expect(text).not.toContain('--comment dockgate');
      const dockgateChains = text.split('\n').filter((l) => l.startsWith(':DOCKGATE-')).sort();
      expect(dockgateChains).toEqual([`:DOCKGATE-CI-${handId(1)} - [0:0]`, ':DOCKGATE-INPUT - [0:0]']);
      expect(text).not.toMatch(/^-A DOCKGATE-/m);
      // Idempotent, and once the admin's rules are gone a flush leaves no trace.
      await dp.flush();
      expect(await saveText(ns)).toBe(text);
      await ns.exec('iptables', ['-D', 'INPUT', '-s', '10.9.0.0/16', '-j', 'DOCKGATE-INPUT']);
      await ns.exec('iptables', ['-D', 'FORWARD', '-j', 'ADMIN-FWD']);
      await ns.exec('iptables', ['-F', 'ADMIN-FWD']);
      await ns.exec('iptables', ['-X', 'ADMIN-FWD']);
      await dp.flush();
      expect(await saveText(ns)).toBe(pristine);
    });
  });

  it('a jump the admin adds just before a container goes makes that write fail; the next check converges, keeping it', async () => {
    await withNs(async (ns, dp) => {
      await dp.sync(handPlan([1, 2]));
      await ns.exec('iptables', ['-A', 'INPUT', '-j', `DOCKGATE-CI-${handId(1)}`]);
      // The diff deletes container 1's chains in nat (committed) and filter (refused: referenced).
      await expect(dp.sync(handPlan([2]))).rejects.toMatchObject({ name: 'RestoreError', stderr: expect.stringMatching(/DOCKGATE-CI-/) });
      const r = await dp.repair(handPlan([2]));
      expect(r.kind).toBe('full');
      const text = await saveText(ns);
      expect(compare(handPlan([2]), parseSave(text)).clean).toBe(true);
      expect(text).toContain(`-A INPUT -j DOCKGATE-CI-${handId(1)}`);
      expect((await dp.repair(handPlan([2]))).kind).toBe('none');
    });
  });
});

describe('dockgate names in a table dockgate does not manage', () => {
  it('are reported once and left alone, by repair and by flush', async () => {
    await withNs(async (ns, dp) => {
      const plan = handPlan([1]);
      await dp.sync(plan);
      // dockgate's raw chain by name, in mangle (an admin's DOCKGATE-FOO would just be theirs).
      await ns.exec('iptables', ['-t', 'mangle', '-N', 'DOCKGATE-RAW']);
      await ns.exec('iptables', ['-t', 'mangle', '-A', 'PREROUTING', '-j', 'DOCKGATE-RAW']);
      const mangle = await saveText(ns, 'mangle');
      const restores = dp.restores;
      const first = await dp.repair(plan);
      expect(first.kind).toBe('none');
      expect(first.drift!.clean).toBe(false);
      expect(first.drift!.foreign.map(shown).sort()).toEqual(['mangle PREROUTING -j DOCKGATE-RAW', 'mangle chain DOCKGATE-RAW']);
      for (let i = 0; i < 5; i++) {
        const r = await dp.repair(plan);
        expect(r.kind).toBe('none');
        expect(r.drift!.clean).toBe(true);
      }
      expect(dp.restores).toBe(restores);
      const flushed = await dp.flushReport();
      expect(flushed.left.map((f) => f.table)).toEqual(['mangle', 'mangle']);
      expect(await saveText(ns, 'mangle')).toBe(mangle);
      expect(await saveText(ns, 'filter')).not.toContain('DOCKGATE');
    });
  });
});

describe('the daemon', () => {
  it('logs each rule it leaves alone once, while checking for drift every 100 ms, and writes nothing for them', async () => {
    await withNs(async (ns) => {
      const r = await execa('nsenter', [`--net=${ns.path}`, process.execPath, '--import', 'tsx', fileURLToPath(new URL('./foreign-rules.child.ts', import.meta.url))], {
        cwd: fileURLToPath(new URL('../../', import.meta.url)),
        reject: false,
        timeout: 45_000,
        killSignal: 'SIGKILL',
        env: { PATH: sbinPath() },
        input: '',
      });
      if (r.exitCode !== 0) throw new Error(`child failed (exit ${r.exitCode}, timedOut ${r.timedOut}):\n${r.stderr}\n${r.stdout}`);
      const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      const logs = lines.slice(0, -1);
      expect(lines.at(-1)).toEqual({ restoresAfterReady: 0 });
      const reported = logs.filter((l) => l.event === 'drift-reported').map((l) => `${l.table} ${l.chain} ${l.line}`);
      expect(reported.sort()).toEqual(['filter INPUT -s 10.9.0.0/16 -j DOCKGATE-INPUT', 'mangle DOCKGATE-RAW ', 'mangle PREROUTING -j DOCKGATE-RAW']);
      expect(logs.filter((l) => l.event === 'drift-repaired')).toEqual([]);
      expect((await ns.exec('iptables-save', ['-t', 'mangle'])).stdout).toContain('-A PREROUTING -j DOCKGATE-RAW');
      expect((await ns.exec('iptables-save', ['-t', 'filter'])).stdout).toContain('-A INPUT -s 10.9.0.0/16 -j DOCKGATE-INPUT');
    });
  });
});
