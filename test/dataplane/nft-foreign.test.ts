// Reading other firewalls' tables (`Nft.listForeign`), which every sync does, on a real kernel in
// a namespace this test makes: it finds the admin's tables and chains, and never asks nft for a
// listing that fetches the whole ruleset. On nft 1.0.x `list tables` does: with 1,000 containers'
// iptables-nft rules beside it, that one listing cost more CPU than iptables-save itself, at
// every full check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue, type CommandResult, type RunOptions } from '../../src/dataplane/command-queue.js';
import { Nft } from '../../src/dataplane/nft.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';

/** The queue, recording what nft was asked. */
class RecordingQueue extends CommandQueue {
  readonly asked: string[] = [];
  override run(file: string, args: readonly string[], options?: RunOptions): Promise<CommandResult> {
    if (file === 'nft') this.asked.push(args.join(' '));
    return super.run(file, args, options);
  }
}

let ns: Netns;

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('nftf');
  await ns.exec('nft', ['-f', '-'], {
    input: [
      'table inet admin {',
      '  chain input { type filter hook input priority 0; policy drop; iif lo accept; }',
      '  chain helper { tcp dport 22 accept; }',
      '}',
      'table ip empty { }',
      // dockgate's own anti-spoofing table (an element per container): the footprint never works there.
      'table bridge dockgate { chain ports { type filter hook forward priority -200; policy accept; }; }',
      'table netdev admin2 { chain x { }; }',
      // iptables-nft's own table: never foreign.
      'table ip filter { chain INPUT { type filter hook input priority 0; policy accept; }; }',
    ].join('\n'),
  });
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('listForeign', () => {
  it("reads the admin's ip, ip6 and inet tables and their chains and rules, iptables' own and other families' not, without `list tables` or `list ruleset`", async () => {
    const queue = new RecordingQueue({ netns: ns.path });
    const rs = await new Nft(queue).listForeign();
    expect(rs.chains.map((c) => `${c.family} ${c.table} ${c.name}`).sort()).toEqual(['inet admin helper', 'inet admin input']);
    expect(rs.chains.find((c) => c.name === 'input')!.rules).toHaveLength(1);
    expect(queue.asked.some((a) => a.includes('"tables"') || a.includes('"ruleset"'))).toBe(false);
    // One listing of the chains, then one per foreign ip, ip6 or inet table that has any.
    expect(queue.asked).toHaveLength(2);
  });
});
