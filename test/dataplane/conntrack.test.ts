// conntrack clean-up: the arguments (pure), then real flows in a network namespace this test
// makes: only the changed opening's flows are deleted, and conntrack's answers are judged.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY_HOST, hostAddress } from '../../src/model/format.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Conntrack, conntrackDeleteArgs } from '../../src/dataplane/conntrack.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';

describe('conntrackDeleteArgs', () => {
  it('old target of an any-address opening: port, protocol and the reply source', () => {
    expect(conntrackDeleteArgs({ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000, target: { ip: '172.29.0.10', port: 53 } })).toEqual([
      '-D', '-p', 'udp', '--orig-port-dst', '5000', '--reply-src', '172.29.0.10', '--reply-port-src', '53',
    ]);
  });

  it('a specific host address is matched too', () => {
    expect(conntrackDeleteArgs({ family: 4, protocol: 'tcp', hostIp: hostAddress('10.0.0.5'), hostPort: 80, target: { ip: '172.17.0.2', port: 8000 } })).toEqual([
      '-D', '-p', 'tcp', '--orig-port-dst', '80', '--orig-dst', '10.0.0.5', '--reply-src', '172.17.0.2', '--reply-port-src', '8000',
    ]);
  });

  it('flows that were not DNATed answer from the port (and address) they were sent to', () => {
    expect(conntrackDeleteArgs({ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000 })).toEqual(['-D', '-p', 'udp', '--orig-port-dst', '5000', '--reply-port-src', '5000']);
    expect(conntrackDeleteArgs({ family: 4, protocol: 'udp', hostIp: hostAddress('10.0.0.5'), hostPort: 5000 })).toEqual([
      '-D', '-p', 'udp', '--orig-port-dst', '5000', '--orig-dst', '10.0.0.5', '--reply-src', '10.0.0.5', '--reply-port-src', '5000',
    ]);
  });
});

describe('Conntrack on a real kernel', () => {
  let ns: Netns;
  let queue: CommandQueue;
  let dir: string;

  /** One UDP datagram from sport to 127.0.0.1:dport, which leaves a conntrack entry behind. */
  const send = (sport: number, dport: number) =>
    ns.exec(process.execPath, ['-e', `const s=require('dgram').createSocket('udp4');s.bind(${sport},()=>s.send('x',${dport},'127.0.0.1',()=>s.close()))`], { timeoutMs: 10_000 });
  const dnat = (op: '-A' | '-D', dport: number, to: string) =>
    ns.exec('iptables', ['-w', '-t', 'nat', op, 'OUTPUT', '-p', 'udp', '-d', '127.0.0.1', '--dport', String(dport), '-j', 'DNAT', '--to-destination', to]);
  /** Source ports of the UDP entries now in the namespace's table. */
  const flows = async (): Promise<number[]> => {
    const r = await ns.exec('conntrack', ['-L', '-p', 'udp'], { reject: false });
    return [...r.stdout.matchAll(/^udp .*? sport=(\d+) dport=\d+/gm)].map((m) => Number(m[1])).sort();
  };

  beforeAll(async () => {
    await cleanupLeftovers();
    ns = await createNetns('ct');
    queue = new CommandQueue({ netns: ns.path });
    dir = await mkdtemp(join(tmpdir(), 'dockgate-ct-'));
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('deletes only the flows of the changed opening', async () => {
    // 7000 was DNATed to an old target (41001) and now to a new one (41002); 7001 is another
    // opening (41003); 7002 had no DNAT at all (41004).
    await dnat('-A', 7000, '127.0.0.2:8000');
    await dnat('-A', 7001, '127.0.0.3:8001');
    await send(41001, 7000);
    await dnat('-D', 7000, '127.0.0.2:8000');
    await dnat('-A', 7000, '127.0.0.4:8000');
    await send(41002, 7000);
    await send(41003, 7001);
    await send(41004, 7002);
    expect(await flows()).toEqual([41001, 41002, 41003, 41004]);

    const ct = new Conntrack(queue);
    const moved = await ct.flush([{ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 7000, target: { ip: '127.0.0.2', port: 8000 } }]);
    expect(moved).toEqual({ deleted: 1, errors: [] });
    expect(await flows()).toEqual([41002, 41003, 41004]);

    const appeared = await ct.flush([{ family: 4, protocol: 'udp', hostIp: hostAddress('127.0.0.1'), hostPort: 7002 }]);
    expect(appeared).toEqual({ deleted: 1, errors: [] });
    expect(await flows()).toEqual([41002, 41003]);

    // Nothing matches: conntrack exits 1, which is no error.
    expect(await ct.flush([{ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 7009, target: { ip: '127.0.0.9', port: 1 } }])).toEqual({ deleted: 0, errors: [] });
    expect(await flows()).toEqual([41002, 41003]);
  });

  it('a missing tool warns once; a failure is an error with its stderr; a hang is cut short', async () => {
    const flush = [{ family: 4 as const, protocol: 'udp' as const, hostIp: ANY_HOST, hostPort: 7000 }];
    const missing = new Conntrack(queue, { command: 'dockgate-no-such-conntrack' });
    const first = await missing.flush(flush);
    expect(first.warning).toMatch(/not found/);
    expect(first.errors).toEqual([]);
    expect((await missing.flush(flush)).warning).toBeUndefined();

    const failing = join(dir, 'failing');
    await writeFile(failing, '#!/bin/sh\necho "conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted" >&2\nexit 1\n');
    await chmod(failing, 0o755);
    const failed = await new Conntrack(queue, { command: failing }).flush(flush);
    expect(failed.errors).toHaveLength(1);
    expect(failed.errors[0]).toMatch(/exit 1.*Operation not permitted/);

    const hanging = join(dir, 'hanging');
    await writeFile(hanging, '#!/bin/sh\nexec sleep 30\n');
    await chmod(hanging, 0o755);
    const t0 = Date.now();
    const hung = await new Conntrack(queue, { command: hanging, timeoutMs: 300 }).flush(flush);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(hung.errors[0]).toMatch(/timed out/);
  });
});
