// Faults on a real kernel: another program holding the xtables lock, and iptables-restore
// killed in the middle of a large write. Inside a namespace this test makes.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables, RestoreError } from '../../src/dataplane/iptables.js';
import type { ContainerFacts } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { renderPlan } from '../../src/plan/restore.js';
import { container, plan } from '../plan/fixtures.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';

let ns: Netns;
let tmp: string;
const children = new Set<ChildProcess>();


const fleet = (n: number, port = 10000): ContainerFacts[] =>
  Array.from({ length: n }, (_, i) =>
    container(`k${i}`, {
      ip: `172.17.${(i >> 8) & 255}.${(i & 255) + 1 > 254 ? 2 : (i & 255) + 1}`,
      labels: { 'dockgate.ports': '80,443', 'dockgate.mode': i % 2 ? 'dnat' : 'proxy' },
      publish: [`0.0.0.0:${port + i}:80/tcp`, `0.0.0.0:${port + 20000 + i}:443/tcp`],
    }),
  );

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('fault');
  tmp = await mkdtemp('/tmp/dgt-lock-');
});

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (ns) await destroyNetns(ns);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('xtables lock held by another program (legacy backend)', () => {
  const lockFile = (): string => `${tmp}/xtables.lock`;
  const legacy = (waitSeconds: number): Dataplane =>
    new Dataplane(
      new Iptables(new CommandQueue({ netns: ns.path, env: { XTABLES_LOCKFILE: lockFile() } }), {
        restoreCommand: 'iptables-legacy-restore',
        saveCommand: 'iptables-legacy-save',
        waitSeconds,
      }),
    );
  /** Holds the lock for `seconds`, the way another iptables would; resolves once it is held. */
  async function holdLock(seconds: number): Promise<ChildProcess> {
    await writeFile(lockFile(), '');
    const child = spawn('flock', ['-x', lockFile(), 'sh', '-c', `echo held; sleep ${seconds}`], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.add(child);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('flock did not take the lock within 5 s')), 5_000);
      child.stdout?.once('data', () => {
        clearTimeout(t);
        resolve();
      });
    });
    return child;
  }

  it('waits for the lock (-w) and then applies, without errors', async () => {
    const dp = legacy(30);
    const p = plan(fleet(5));
    const holder = await holdLock(10);
    const t0 = Date.now();
    await dp.sync(p);
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThan(9_000);
    expect(holder.exitCode ?? holder.signalCode).not.toBeNull();
    const state = parseSave((await ns.exec('iptables-legacy-save', [])).stdout);
    expect(compare(p, state).clean).toBe(true);
  }, 40_000);

  it('a lock held longer than -w is exit 4: retryable, nothing lost, applied once free', async () => {
    const dp = legacy(1);
    const before = (await ns.exec('iptables-legacy-save', [])).stdout.replace(/^#.*$/gm, '');
    const p = plan(fleet(8, 15000));
    const holder = await holdLock(4);
    const err = await dp.sync(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RestoreError);
    expect((err as RestoreError).ended).toMatchObject({ kind: 'exited', code: 4 });
    expect((err as RestoreError).retryable).toBe(true);
    expect((await ns.exec('iptables-legacy-save', [])).stdout.replace(/^#.*$/gm, '')).toBe(before);
    await new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    await dp.sync(p);
    expect(compare(p, parseSave((await ns.exec('iptables-legacy-save', [])).stdout)).clean).toBe(true);
  }, 40_000);
});

describe('iptables-restore killed in the middle of a large write (nft backend)', () => {
  it('leaves each table old or new, and the next start converges exactly to the plan', async () => {
    const big = plan(fleet(1500, 2000));
    const text = renderPlan(big);
    for (const delayMs of [5, 40, 150]) {
      const child = spawn('nsenter', [`--net=${ns.path}`, 'iptables-restore', '-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'ignore'] });
      children.add(child);
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(text);
      await new Promise((r) => setTimeout(r, delayMs));
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
      // A fresh daemon: knows nothing, reads the kernel, writes what differs.
      const dp = new Dataplane(new Iptables(new CommandQueue({ netns: ns.path }), { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 }));
      const small = plan(fleet(3, 40000 + delayMs));
      await dp.sync(small);
      const save = (await ns.exec('iptables-save', [])).stdout;
      const drift = compare(small, parseSave(save));
      expect(drift.clean, JSON.stringify(drift).slice(0, 500)).toBe(true);
      expect(save.split('\n').filter((l) => /^-A (INPUT|FORWARD|PREROUTING|OUTPUT|POSTROUTING) .*DOCKGATE/.test(l))).toHaveLength(6);
    }
  }, 60_000);
});
