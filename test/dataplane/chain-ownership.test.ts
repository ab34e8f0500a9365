// Chains are dockgate's by exact name, on a real kernel: each test in a network namespace of its
// own, made and removed here. An admin chain whose name merely starts like dockgate's
// (DOCKGATE-USER-BANS, jumped from DOCKGATE-USER; DOCKGATE-MYMARKS in mangle) survives repair and
// flush; the admin's jumps into dockgate's chains (filter and the mangle marks) never make a write
// fail; and a mangle table iptables-save cannot show is refused, not written blind (which put a
// second jump on top of the first).
import { beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Footprint } from '../../src/dataplane/footprint.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { Nft } from '../../src/dataplane/nft.js';
import type { RuleSet } from '../../src/model/types.js';
import { IncompatibleTableError, compare, parseSave } from '../../src/plan/kernel-state.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, saveClean } from '../support/netns.js';
import { BRIDGE, DEFAULTS, container } from '../plan/fixtures.js';

const HOST = '10.0.0.5';
const web = container('web', { id: `a0${'a'.repeat(62)}`, ip: '172.17.0.2', publish: [`${HOST}:8000:80/tcp`], labels: { 'dockgate.ports': '80' } });
const api = container('api', { id: `b0${'b'.repeat(62)}`, ip: '172.17.0.3', publish: [`${HOST}:8001:80/tcp`], labels: { 'dockgate.ports': '80' } });
const planOf = (...containers: (typeof web)[]): RuleSet =>
  buildRuleSet({ labelPrefix: 'dockgate', defaults: { ...DEFAULTS, from: [{ family: 4, text: '0.0.0.0/0' }] }, networks: [BRIDGE], ipv6: false, containers });
const both = planOf(web, api);
const apiOnly = planOf(api);

/** An admin firewall that drops what dockgate opens, so the footprint needs its marks. */
const ADMIN_NFT = `table inet admin {
  chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; }
  chain forward { type filter hook forward priority 0; policy drop; ct state established,related accept; }
}
`;

const OPTS = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 };

/** `restart`: a new Dataplane on the same namespace, knowing nothing written, as after a daemon restart. */
async function withNs(fn: (ns: Netns, dp: Dataplane, footprint: Footprint, restart: () => Dataplane) => Promise<void>): Promise<void> {
  const ns = await createNetns('owner');
  try {
    await ns.exec('nft', ['-f', '-'], { input: ADMIN_NFT });
    const queue = new CommandQueue({ netns: ns.path });
    const iptables = new Iptables(queue, OPTS);
    await fn(ns, new Dataplane(iptables), new Footprint(iptables, new Nft(queue)), () => new Dataplane(iptables));
  } finally {
    await destroyNetns(ns);
  }
}

const save = (ns: Netns, table?: string): Promise<string> => saveClean(ns, 'iptables-save', table);
const ipt = (ns: Netns, ...args: string[]) => ns.exec('iptables', args);

beforeAll(async () => {
  await cleanupLeftovers();
});

describe("the admin's DOCKGATE-USER-BANS, jumped from DOCKGATE-USER", () => {
  it('survives every repair, a container going, a restart and flush; is never drift', async () => {
    await withNs(async (ns, dp, footprint, restart) => {
      await dp.sync(both);
      await footprint.sync(both, 'allow');
      await ipt(ns, '-N', 'DOCKGATE-USER-BANS');
      await ipt(ns, '-A', 'DOCKGATE-USER-BANS', '-s', '203.0.113.9/32', '-j', 'DROP');
      await ipt(ns, '-A', 'DOCKGATE-USER', '-j', 'DOCKGATE-USER-BANS');
      const bans = ['-A DOCKGATE-USER -j DOCKGATE-USER-BANS', '-A DOCKGATE-USER-BANS -s 203.0.113.9/32 -j DROP'];
      const kept = async (): Promise<void> => {
        const text = await save(ns, 'filter');
        for (const line of bans) expect(text).toContain(line);
      };

      // Something of dockgate's drifts: the repair rewrites the filter table, and only dockgate's chains.
      await ipt(ns, '-F', 'DOCKGATE-FORWARD');
      const r1 = await dp.repair(both);
      expect(r1.kind).toBe('full');
      expect(r1.drift!.chains.map((c) => c.chain)).toEqual(['DOCKGATE-FORWARD']);
      expect(r1.drift!.foreign).toEqual([]);
      await kept();
      for (let i = 0; i < 3; i++) expect((await dp.repair(both)).kind).toBe('none');
      expect(compare(both, parseSave(await save(ns))).clean).toBe(true);

      // A container goes (a diff), the daemon restarts (a full write from nothing known), the marks follow.
      expect((await dp.sync(apiOnly)).kind).toBe('diff');
      await footprint.sync(apiOnly, 'allow');
      await restart().sync(apiOnly);
      await kept();

      // flush (without --user-chain): every dockgate chain goes; the admin's two stay, as they were.
      const flushed = await dp.flushReport();
      expect(flushed.left).toEqual([]);
      await footprint.remove();
      const text = await save(ns, 'filter');
      await kept();
      expect(text.split('\n').filter((l) => l.startsWith(':DOCKGATE-')).sort()).toEqual([':DOCKGATE-USER - [0:0]', ':DOCKGATE-USER-BANS - [0:0]']);
      expect(await save(ns, 'nat')).not.toContain('DOCKGATE');
    });
  });
});

describe("the admin's jumps into dockgate's chains", () => {
  it('never make the next write fail: mark chains and shard chains they need are emptied and kept; a look-alike mangle chain stays whole', async () => {
    await withNs(async (ns, dp, footprint) => {
      await dp.sync(both);
      expect((await footprint.sync(both, 'allow')).marksWritten).toBe(true);
      expect(await save(ns, 'mangle')).toContain(':DOCKGATE-MOPENINGS-a0 ');
      // The admin's: a jump into dockgate's mark chain of web's shard, and a mangle chain of their own.
      await ipt(ns, '-t', 'mangle', '-A', 'PREROUTING', '-s', '198.51.100.0/24', '-j', 'DOCKGATE-MOPENINGS-a0');
      await ipt(ns, '-t', 'mangle', '-N', 'DOCKGATE-MYMARKS');
      await ipt(ns, '-t', 'mangle', '-A', 'DOCKGATE-MYMARKS', '-s', '192.0.2.0/24', '-j', 'MARK', '--set-xmark', '0x4/0x4');
      await ipt(ns, '-t', 'mangle', '-A', 'PREROUTING', '-j', 'DOCKGATE-MYMARKS');
      // And in filter, from their own chain into web's shard chain.
      await ipt(ns, '-A', 'DOCKGATE-USER', '-s', '198.51.100.7/32', '-j', 'DOCKGATE-OPENINGS-a0');
      const admin = [
        '-A PREROUTING -s 198.51.100.0/24 -j DOCKGATE-MOPENINGS-a0',
        '-A PREROUTING -j DOCKGATE-MYMARKS',
        '-A DOCKGATE-MYMARKS -s 192.0.2.0/24 -j MARK --set-xmark 0x4/0x4',
      ];

      // web goes: its shard chains are no longer planned.
      const r = await footprint.sync(apiOnly, 'allow');
      expect(r.marksWritten).toBe(true);
      let mangle = await save(ns, 'mangle');
      for (const line of admin) expect(mangle).toContain(line);
      expect(mangle).toContain(':DOCKGATE-MOPENINGS-a0 - [0:0]');
      expect(mangle).not.toMatch(/^-A DOCKGATE-MOPENINGS-a0 /m);
      // Converged: nothing more to write for it.
      expect((await footprint.sync(apiOnly, 'allow')).marksWritten).toBe(false);
      expect((await footprint.inspect(apiOnly, 'allow')).marksInPlace).toBe(true);

      // A fresh read knows the admin's jump: the chain is emptied, not deleted (a refused -X fails the table).
      expect(['diff', 'full']).toContain((await dp.repair(apiOnly)).kind);
      const filter = await save(ns, 'filter');
      expect(filter).toContain('-A DOCKGATE-USER -s 198.51.100.7/32 -j DOCKGATE-OPENINGS-a0');
      expect(filter).toContain(':DOCKGATE-OPENINGS-a0 - [0:0]');
      expect(filter).not.toMatch(/^-A DOCKGATE-OPENINGS-a0 /m);
      expect((await dp.repair(apiOnly)).kind).toBe('none');

      // flush: the marks go, except the chain the admin still jumps to (emptied); theirs stays whole.
      expect(await footprint.remove()).toContain('ip mangle');
      mangle = await save(ns, 'mangle');
      for (const line of admin) expect(mangle).toContain(line);
      expect(mangle.split('\n').filter((l) => l.startsWith(':DOCKGATE-')).sort()).toEqual([':DOCKGATE-MOPENINGS-a0 - [0:0]', ':DOCKGATE-MYMARKS - [0:0]']);
      expect(mangle).not.toContain('--comment dockgate');
    });
  });
});

describe('a mangle table iptables-save cannot show', () => {
  /** How many rules of nft's `ip mangle INPUT` jump to DOCKGATE-MINPUT (read with nft: iptables cannot). */
  async function markJumps(ns: Netns): Promise<number> {
    const r = await ns.exec('nft', ['list', 'chain', 'ip', 'mangle', 'INPUT']);
    return r.stdout.split('\n').filter((l) => /jump DOCKGATE-MINPUT\b/.test(l)).length;
  }

  it('is refused for marks to write and to remove: no second jump, nothing written blind; once readable, the marks converge', async () => {
    await withNs(async (ns, dp, footprint) => {
      await dp.sync(both);
      await footprint.sync(both, 'allow');
      expect(await markJumps(ns)).toBe(1);
      // A native nft rule iptables-nft cannot translate back ("ct state" without a verdict).
      await ns.exec('nft', ['add', 'rule', 'ip', 'mangle', 'INPUT', 'ct', 'state', 'new', 'counter']);
      expect((await ns.exec('iptables-save', ['-t', 'mangle'])).stdout).toContain("# Table `mangle' is incompatible");
      const before = (await ns.exec('nft', ['list', 'table', 'ip', 'mangle'])).stdout;

      // The marks first (before the filter write), then the sync after it: neither writes, both say why.
      await expect(footprint.marksFirst(apiOnly)).rejects.toBeInstanceOf(IncompatibleTableError);
      for (const plan of [both, apiOnly]) {
        const r = await footprint.sync(plan, 'allow');
        expect(r.marksWritten).toBe(false);
        expect(r.marksFailed).toMatch(/mangle.*incompatible/);
      }
      await expect(footprint.remove()).rejects.toThrow(/mangle/);
      expect(await markJumps(ns)).toBe(1);
      expect((await ns.exec('nft', ['list', 'table', 'ip', 'mangle'])).stdout).toBe(before);
      // Status never calls marks it cannot read "in place".
      expect((await footprint.inspect(both, 'allow')).marksInPlace).toBe(false);

      const listing = (await ns.exec('nft', ['-a', 'list', 'chain', 'ip', 'mangle', 'INPUT'])).stdout;
      const handle = /ct state new counter .*# handle (\d+)/.exec(listing)?.[1];
      expect(handle).toBeDefined();
      await ns.exec('nft', ['delete', 'rule', 'ip', 'mangle', 'INPUT', 'handle', handle!]);
      expect((await footprint.sync(apiOnly, 'allow')).marksWritten).toBe(true);
      expect(await markJumps(ns)).toBe(1);
      expect((await footprint.inspect(apiOnly, 'allow')).marksInPlace).toBe(true);
    });
  });
});
