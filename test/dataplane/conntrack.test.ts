// conntrack clean-up: the arguments (pure), then real flows in a network namespace this test
// makes: only the changed opening's flows are deleted, and conntrack's answers are judged.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY_HOST, hostAddress } from '../../src/model/format.js';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Conntrack, conntrackDeletions } from '../../src/dataplane/conntrack.js';
import { parseLocalRoutes } from '../../src/net/routes.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, linkNamespaces } from '../support/netns.js';

describe('conntrackDeletions', () => {
  it('old target of an any-address opening: port, protocol and the reply source', () => {
    expect(conntrackDeletions({ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000, target: { ip: '172.29.0.10', port: 53 } })).toEqual([
      ['-D', '-p', 'udp', '--orig-port-dst', '5000', '--reply-src', '172.29.0.10', '--reply-port-src', '53'],
    ]);
  });

  it('a specific host address is matched too', () => {
    expect(conntrackDeletions({ family: 4, protocol: 'tcp', hostIp: hostAddress('10.0.0.5'), hostPort: 80, target: { ip: '172.17.0.2', port: 8000 } })).toEqual([
      ['-D', '-p', 'tcp', '--orig-port-dst', '80', '--orig-dst', '10.0.0.5', '--reply-src', '172.17.0.2', '--reply-port-src', '8000'],
    ]);
  });

  it('flows that were not DNATed: sent to the host port at a local destination, answered from that port', () => {
    expect(conntrackDeletions({ family: 4, protocol: 'udp', hostIp: hostAddress('10.0.0.5'), hostPort: 5000 })).toEqual([
      ['-D', '-p', 'udp', '--orig-port-dst', '5000', '--orig-dst', '10.0.0.5', '--reply-src', '10.0.0.5', '--reply-port-src', '5000'],
    ]);
    // Any address: one deletion per local destination, never one by port alone (that would take
    // the host's own flows out to port 5000 of other machines with it).
    expect(conntrackDeletions({ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000 }, ['127.0.0.0/8', '10.0.0.5/32'])).toEqual([
      ['-D', '-p', 'udp', '--orig-port-dst', '5000', '--orig-dst', '127.0.0.0/8', '--reply-port-src', '5000'],
      ['-D', '-p', 'udp', '--orig-port-dst', '5000', '--orig-dst', '10.0.0.5/32', '--reply-port-src', '5000'],
    ]);
    expect(conntrackDeletions({ family: 6, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000 }, ['::1/128'])).toEqual([
      ['-D', '-f', 'ipv6', '-p', 'udp', '--orig-port-dst', '5000', '--orig-dst', '::1/128', '--reply-port-src', '5000'],
    ]);
    expect(conntrackDeletions({ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000 }, [])).toEqual([]);
  });

  it('local destinations are the local routes of the family, canonical, each once', () => {
    const v4 = JSON.stringify([
      { type: 'local', dst: '127.0.0.0/8', dev: 'lo' },
      { type: 'local', dst: '127.0.0.1', dev: 'lo' },
      { type: 'broadcast', dst: '10.0.0.255', dev: 'eth0' },
      { type: 'local', dst: '10.0.0.5', dev: 'eth0' },
      { type: 'local', dst: '10.0.0.5', dev: 'eth1' },
    ]);
    expect(parseLocalRoutes(v4, 4)).toEqual({ ok: true, value: ['127.0.0.0/8', '127.0.0.1/32', '10.0.0.5/32'] });
    const v6 = JSON.stringify([
      { type: 'local', dst: '::1', dev: 'lo' },
      { type: 'anycast', dst: 'fd00::', dev: 'eth0' },
      { type: 'local', dst: 'FD00::0005', dev: 'eth0' },
      { type: 'multicast', dst: 'ff00::/8', dev: 'eth0' },
    ]);
    expect(parseLocalRoutes(v6, 6)).toEqual({ ok: true, value: ['::1/128', 'fd00::5/128'] });
    expect(parseLocalRoutes('', 4)).toEqual({ ok: true, value: [] });
    expect(parseLocalRoutes('nope', 4).ok).toBe(false);
  });
});

describe('Conntrack on a real kernel', () => {
  let ns: Netns;
  /** Another host on a link of ns's: the far end of outbound flows, the client of inbound ones. */
  let remote: Netns;
  let queue: CommandQueue;
  let dir: string;

  /** One UDP datagram from sport to dst:dport, sent from `from`: a conntrack entry in each namespace it crosses. */
  const send = (sport: number, dport: number, dst = '127.0.0.1', from = ns) =>
    from.exec(process.execPath, ['-e', `const s=require('dgram').createSocket('udp${dst.includes(':') ? 6 : 4}');s.bind(${sport},()=>s.send('x',${dport},'${dst}',()=>s.close()))`], {
      timeoutMs: 10_000,
    });
  const dnat = (op: '-A' | '-D', dport: number, to: string) =>
    ns.exec('iptables', ['-w', '-t', 'nat', op, 'OUTPUT', '-p', 'udp', '-d', '127.0.0.1', '--dport', String(dport), '-j', 'DNAT', '--to-destination', to]);
  /** Source ports of the UDP entries of one family now in the namespace's table. */
  const flows = async (family: 4 | 6 = 4): Promise<number[]> => {
    const r = await ns.exec('conntrack', ['-L', '-f', family === 6 ? 'ipv6' : 'ipv4', '-p', 'udp'], { reject: false, timeoutMs: 10_000 });
    return [...r.stdout.matchAll(/^udp .*? sport=(\d+) dport=\d+/gm)].map((m) => Number(m[1])).sort();
  };

  beforeAll(async () => {
    await cleanupLeftovers();
    ns = await createNetns('ct');
    remote = await createNetns('ctr');
    const link = await linkNamespaces(ns, '10.77.0.1/24', remote, '10.77.0.2/24');
    await ns.exec('ip', ['-6', 'addr', 'add', 'fd77::1/64', 'dev', link.aIf, 'nodad'], { timeoutMs: 10_000 });
    await remote.exec('ip', ['-6', 'addr', 'add', 'fd77::2/64', 'dev', link.bIf, 'nodad'], { timeoutMs: 10_000 });
    queue = new CommandQueue({ netns: ns.path });
    dir = await mkdtemp(join(tmpdir(), 'dockgate-ct-'));
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
    if (remote) await destroyNetns(remote);
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

  it('a port that only now gets DNATed loses its inbound flows, not the host\'s outbound flows to that port elsewhere', async () => {
    // A namespace tracks connections of a family only once a rule of that family needs it.
    for (const tool of ['iptables', 'ip6tables']) await ns.exec(tool, ['-w', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED', '-j', 'ACCEPT']);
    // All on port 7003: the host's own flow out to the remote (41010) stays; the remote's flow in
    // to the host (41011) and the host's to itself (41012) reached it without DNAT and go.
    await send(41010, 7003, '10.77.0.2');
    await send(41011, 7003, '10.77.0.1', remote);
    await send(41012, 7003, '127.0.0.1');
    expect(await flows()).toEqual(expect.arrayContaining([41010, 41011, 41012]));

    const r = await new Conntrack(queue).flush([{ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 7003 }]);
    expect(r.errors).toEqual([]);
    expect(r.deleted).toBe(2);
    const left = await flows();
    expect(left).toContain(41010);
    expect(left).not.toContain(41011);
    expect(left).not.toContain(41012);

    // The same for IPv6.
    await send(41020, 7004, 'fd77::2');
    await send(41021, 7004, 'fd77::1', remote);
    await send(41022, 7004, '::1');
    expect(await flows(6)).toEqual(expect.arrayContaining([41020, 41021, 41022]));
    const r6 = await new Conntrack(queue).flush([{ family: 6, protocol: 'udp', hostIp: ANY_HOST, hostPort: 7004 }]);
    expect(r6.errors).toEqual([]);
    expect(r6.deleted).toBe(2);
    expect(await flows(6)).toEqual([41020]);
  });

  it('a missing tool warns once; a failure is an error with its stderr; a hang is cut short', async () => {
    const flush = [{ family: 4 as const, protocol: 'udp' as const, hostIp: hostAddress('127.0.0.1'), hostPort: 7000 }];
    const missing = new Conntrack(queue, { command: 'dockgate-no-such-conntrack' });
    const first = await missing.flush(flush);
    expect(first.warning).toMatch(/not found/);
    expect(first.errors).toEqual([]);
    expect((await missing.flush(flush)).warning).toBeUndefined();

    // Without the local destinations, nothing rather than a deletion by port alone.
    const blind = await new Conntrack(queue, { ipCommand: 'dockgate-no-such-ip' }).flush([{ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 7000 }]);
    expect(blind.deleted).toBe(0);
    expect(blind.errors).toEqual([expect.stringMatching(/local addresses unknown, IPv4 udp port 7000 not cleaned/)]);

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
