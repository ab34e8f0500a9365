// Drift found by the kernel: `nft monitor` in a namespace this test makes. dockgate's own writes
// (through its queue) are not drift; anyone else's change is reported at once.
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { ChangeParser, type ForeignChange, NftMonitor } from '../../src/dataplane/nft-monitor.js';
import { until } from '../support/poll.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, isGoneOrZombie } from '../support/netns.js';

describe('ChangeParser', () => {
  // As `nft monitor` printed them for iptables-nft and nft changes on this machine.
  const lines = [
    'add table ip filter',
    'create chain ip filter DOCKGATE-X',
    '# new generation 2 by process 1840 (iptables)',
    'add rule ip filter DOCKGATE-X ip saddr 1.2.3.4  counter packets 0 bytes 0 accept',
    '# new generation 3 by process 1841 (iptables-restor)',
    'add element inet f2b addr-set-sshd { 203.0.113.9 }',
    '# new generation 4 by process 1900 (nft)',
    'delete rule ip filter INPUT handle 5',
    '# new generation 5 by process 1901 (iptables)',
  ];

  it('reports changes made by others, with their pid, and ignores ours and set elements', () => {
    const p = new ChangeParser((pid) => pid === 1841);
    const out = lines.map((l) => p.line(l)).filter((c): c is ForeignChange => c !== undefined);
    expect(out).toEqual([
      { pid: 1840, lines: ['add table ip filter', 'create chain ip filter DOCKGATE-X'] },
      { pid: 1901, lines: ['delete rule ip filter INPUT handle 5'] },
    ]);
  });
});

let ns: Netns;
beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('nm');
});
afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('NftMonitor on a real kernel', () => {
  it('ignores dockgate\'s own restores, reports an admin\'s flush within a bounded time, and stops by pid', async () => {
    const queue = new CommandQueue({ netns: ns.path });
    const changes: Array<{ at: number; change: ForeignChange | undefined }> = [];
    const log = pino({ level: 'silent' });
    const m = new NftMonitor({ queue, log, onChange: (change) => changes.push({ at: performance.now(), change }), onGiveUp: () => undefined });
    m.start();
    try {
      await until(() => m.pid, { what: 'nft monitor running', timeoutMs: 5000, intervalMs: 20 });
      await new Promise((r) => setTimeout(r, 300)); // nft monitor subscribes after it starts
      const r = await queue.run('iptables-restore', ['--noflush'], { input: '*filter\n:DOCKGATE-T - [0:0]\n-A DOCKGATE-T -m comment --comment t -j ACCEPT\nCOMMIT\n' });
      expect(r).toMatchObject({ kind: 'exited', code: 0 });
      await new Promise((r) => setTimeout(r, 300));
      expect(changes).toEqual([]);
      await ns.exec('iptables', ['-F', 'DOCKGATE-T']);
      await until(() => changes.length > 0, { what: "the admin's flush reported", timeoutMs: 3000 });
      expect(changes).toHaveLength(1);
      expect(changes[0]!.change?.lines.join('\n')).toMatch(/ip filter DOCKGATE-T/);
      // Reported within the 3 s bound above; the latency figure belongs to the benchmark.
    } finally {
      const pid = m.pid;
      await m.stop();
      if (pid !== undefined) expect(await isGoneOrZombie(pid)).toBe(true);
    }
  });
});
