// The daemon follows host-network containers' sockets (issue 22 item 2): a socket of their own
// appearing re-plans at the next poll; anyone else's socket elsewhere does not; with no such
// container nothing is read at all.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSocketWatch } from '../../src/daemon/host-socket-watch.js';
import type { ContainerFacts, HostSocket } from '../../src/model/types.js';
import { container } from '../plan/fixtures.js';

const log = pino({ level: 'silent' });
const edge: ContainerFacts = { ...container('edge', { labels: { 'dockgate.ports': '8090,8093' } }), networks: [], hostNetwork: true };
const own = (port: number): HostSocket => ({ protocol: 'tcp', table: 6, ip: undefined, port, owner: { kind: 'container', id: edge.id } });
const other = (port: number): HostSocket => ({ protocol: 'tcp', table: 4, ip: undefined, port, owner: { kind: 'other' } });

let watch: HostSocketWatch | undefined;
afterEach(() => watch?.stop());

function watching(containers: ContainerFacts[], sockets: { now: HostSocket[] }): { changes: number[]; reads: () => number; w: HostSocketWatch } {
  const changes: number[] = [];
  let reads = 0;
  const w = new HostSocketWatch({
    log,
    read: async () => {
      reads++;
      return sockets.now;
    },
    containers: () => containers,
    labelPrefix: () => 'dockgate',
    intervalMs: () => 20,
    stopped: () => false,
    changed: () => changes.push(Date.now()),
  });
  watch = w;
  return { changes, reads: () => reads, w };
}
const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('HostSocketWatch', () => {
  it('asks for a plan when a socket of its own appears, not when another process listens elsewhere', async () => {
    const sockets = { now: [own(8090)] };
    const { changes, w } = watching([edge], sockets);
    expect(await w.forPlan([edge])).toEqual([own(8090)]);
    w.start();
    sockets.now = [own(8090), other(8092)];
    await settle(100);
    expect(changes).toEqual([]);
    sockets.now = [other(8092), own(8093), own(8090)];
    await settle(100);
    expect(changes.length).toBeGreaterThan(0);
  });

  it('reads nothing without a host-network container that has a ports label', async () => {
    const plain = container('plain', { labels: { 'dockgate.ports': '80' } });
    const quiet: ContainerFacts = { ...edge, labels: {} };
    const { reads, w } = watching([plain, quiet], { now: [own(8090)] });
    expect(await w.forPlan([plain, quiet])).toBeUndefined();
    w.start();
    await settle(100);
    expect(reads()).toBe(0);
  });

  it('a failed read is no socket known: the plan gets none', async () => {
    const w = new HostSocketWatch({
      log,
      read: () => Promise.reject(new Error('EACCES')),
      containers: () => [edge],
      labelPrefix: () => 'dockgate',
      intervalMs: () => 20,
      stopped: () => false,
      changed: () => undefined,
    });
    expect(await w.forPlan([edge])).toBeUndefined();
  });
});
