// The `bridge dockgate` table on a real kernel, in a namespace of the test's own: a full sync that
// carries a planned change (a new container) is not drift; only what someone else did to the
// table since dockgate's last write is.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeTable } from '../../src/dataplane/bridge-table.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import type { BridgeFilter, PortOwner } from '../../src/model/types.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';

let ns: Netns;
let table: BridgeTable;

const owner = (name: string, n: number): PortOwner => ({
  comment: `${name}/c0ffee0000${String(n).padStart(2, '0')}`,
  bridge: 'docker0',
  port: `veth${n}`,
  mac: `02:42:ac:11:00:${String(n).padStart(2, '0')}`,
  ipv4: [`172.17.0.${n}`],
  ipv6: [`fe80::42:acff:fe11:${n}`],
});
const one: BridgeFilter = { owners: [owner('web', 2)] };
const two: BridgeFilter = { owners: [owner('web', 2), owner('api', 3)] };

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('brt');
  table = new BridgeTable(new CommandQueue({ netns: ns.path }));
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('bridge table, full syncs', () => {
  it('a full sync with a new container writes it and reports no drift; a hand-deleted element is drift', async () => {
    expect(await table.sync(one, true)).toMatchObject({ kind: 'full' });
    // What the nft monitor, a retry or the periodic check starts while a container comes up.
    const grown = await table.sync(two, true);
    expect(grown.kind).toBe('full');
    expect(grown.drift?.clean).toBe(true);
    expect((await table.check(two)).clean).toBe(true);
    // Unchanged plan, untouched table: nothing to do.
    expect(await table.sync(two, true)).toMatchObject({ kind: 'none', drift: expect.objectContaining({ clean: true }) });
    // Someone deletes the table: drift, and the whole plan goes back.
    await ns.exec('nft', ['delete', 'table', 'bridge', 'dockgate']);
    const repaired = await table.sync(one, true);
    expect(repaired.drift).toMatchObject({ clean: false, absent: true });
    expect((await table.check(one)).clean).toBe(true);
  });
});
