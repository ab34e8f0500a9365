// The daemon follows host-network containers' sockets (issue 22 item 2): a socket of their own
// appearing re-plans at the next poll; anyone else's socket elsewhere does not; with no such
// container nothing is read at all.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { HostSocketWatch } from '../../src/daemon/host-socket-watch.js';
import type { ContainerFacts, HostSocket } from '../../src/model/types.js';
import { container } from '../plan/fixtures.js';
import { FakeClock } from '../support/fake-clock.js';

const log = pino({ level: 'silent' });
const edge: ContainerFacts = { ...container('edge', { labels: { 'dockgate.ports': '8090,8093' } }), networks: [], hostNetwork: true };
const own = (port: number): HostSocket => ({ protocol: 'tcp', table: 6, ip: undefined, port, owner: { kind: 'container', id: edge.id } });
const other = (port: number): HostSocket => ({ protocol: 'tcp', table: 4, ip: undefined, port, owner: { kind: 'other' } });

let watch: HostSocketWatch | undefined;
afterEach(() => watch?.stop());
const clock = new FakeClock();

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
    changed: () => changes.push(clock.now()),
    clock,
  });
  watch = w;
  return { changes, reads: () => reads, w };
}

describe('HostSocketWatch', () => {
  it('asks for a plan when a socket of its own appears, not when another process listens elsewhere', async () => {
    const sockets = { now: [own(8090)] };
    const { changes, w } = watching([edge], sockets);
    expect(await w.forPlan([edge])).toEqual([own(8090)]);
    w.start();
    sockets.now = [own(8090), other(8092)];
    await clock.advance(100);
    expect(changes).toEqual([]);
    sockets.now = [other(8092), own(8093), own(8090)];
    // At the next poll (every 20 ms), and at each after it until a plan reads them.
    const at = clock.now();
    await clock.advance(20);
    expect(changes).toEqual([at + 20]);
  });

  it('reads nothing without a host-network container that has a ports label', async () => {
    const plain = container('plain', { labels: { 'dockgate.ports': '80' } });
    const quiet: ContainerFacts = { ...edge, labels: {} };
    const { reads, w } = watching([plain, quiet], { now: [own(8090)] });
    expect(await w.forPlan([plain, quiet])).toBeUndefined();
    w.start();
    await clock.advance(100);
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
