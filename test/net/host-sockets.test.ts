// Ownership of listening sockets (issue 22 item 2), read from a fake /proc: socket inodes from
// /proc/net, the processes holding them from /proc/PID/fd, and the container of each process from
// its pid namespace or, where that is the host's, its cgroup.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inContainerCgroup, netDirOf, readHostSockets } from '../../src/dataplane/host-sockets.js';
import type { HostSocket } from '../../src/model/types.js';

const A = 'a1'.repeat(32);
const B = 'b2'.repeat(32);
const HOST_NS = 'pid:[4026531836]';

let proc: string;

const hexPort = (port: number): string => port.toString(16).toUpperCase().padStart(4, '0');
/** One /proc/net/tcp line as the kernel prints it: local address, state, uid, timeout, inode. */
const line = (i: number, hexIp: string, port: number, state: string, inode: number): string =>
  `  ${i}: ${hexIp}:${hexPort(port)} ${'0'.repeat(hexIp.length)}:0000 ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 100 0 0 10 0`;
const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

async function processOf(pid: number | 'self', o: { ns: string; cgroup?: string; sockets?: number[] }): Promise<void> {
  const dir = `${proc}/${pid}`;
  await mkdir(`${dir}/ns`, { recursive: true });
  await mkdir(`${dir}/fd`, { recursive: true });
  await symlink(o.ns, `${dir}/ns/pid`);
  await writeFile(`${dir}/cgroup`, o.cgroup ?? '0::/\n');
  await symlink('/dev/null', `${dir}/fd/0`);
  for (const [i, inode] of (o.sockets ?? []).entries()) await symlink(`socket:[${inode}]`, `${dir}/fd/${i + 3}`);
}

beforeEach(async () => {
  proc = await mkdtemp(`${tmpdir()}/dg-proc-`);
  await processOf('self', { ns: HOST_NS });
  await mkdir(`${proc}/self/net`, { recursive: true });
  await writeFile(
    `${proc}/self/net/tcp`,
    [
      HEADER,
      line(0, '00000000', 8090, '0A', 5001), // A's init, every IPv4 address
      line(1, '00000000', 8091, '0A', 6001), // a host process
      line(2, '0500000A', 8092, '0A', 7001), // B, run with --pid host, on 10.0.0.5
      line(3, '00000000', 9000, '01', 5003), // A's, but an established connection, not a listener
      '',
    ].join('\n'),
  );
  await writeFile(`${proc}/self/net/tcp6`, [HEADER, line(0, '0'.repeat(32), 8093, '0A', 5002), ''].join('\n'));
  await writeFile(`${proc}/self/net/udp`, [HEADER, line(0, '00000000', 5353, '07', 5004), ''].join('\n'));
  // No udp6: a host without IPv6 UDP tables is read as having none.
  await processOf(100, { ns: 'pid:[4026532001]', cgroup: `12:pids:/docker/${A}\n0::/\n`, sockets: [5001, 5003] });
  // A second process of A (docker exec, a worker), found through the namespace alone.
  await processOf(101, { ns: 'pid:[4026532001]', cgroup: '0::/\n', sockets: [5002, 5004] });
  await processOf(300, { ns: HOST_NS, sockets: [6001] });
  await processOf(400, { ns: HOST_NS, cgroup: `0::/system.slice/docker-${B}.scope\n`, sockets: [7001] });
});

afterEach(async () => {
  await rm(proc, { recursive: true, force: true });
});

const owner = (sockets: HostSocket[], port: number): string | undefined => {
  const s = sockets.find((x) => x.port === port);
  return s?.owner.kind === 'container' ? s.owner.id : s?.owner.kind;
};

describe('readHostSockets', () => {
  it('maps each listening socket to the container whose process holds it, by pid namespace or cgroup', async () => {
    const sockets = await readHostSockets([{ id: A, pid: 100 }, { id: B, pid: 400 }], { procRoot: proc });
    expect(sockets).toEqual([
      { protocol: 'tcp', table: 4, ip: undefined, port: 8090, owner: { kind: 'container', id: A } },
      { protocol: 'tcp', table: 4, ip: undefined, port: 8091, owner: { kind: 'other' } },
      { protocol: 'tcp', table: 4, ip: '10.0.0.5', port: 8092, owner: { kind: 'container', id: B } },
      { protocol: 'tcp', table: 6, ip: undefined, port: 8093, owner: { kind: 'container', id: A } },
      { protocol: 'udp', table: 4, ip: undefined, port: 5353, owner: { kind: 'container', id: A } },
    ]);
  });

  it('a container sharing the host\'s pid namespace does not own every host process', async () => {
    // B's State.Pid is in the host's pid namespace: only its cgroup tells its processes apart.
    const sockets = await readHostSockets([{ id: B, pid: 400 }], { procRoot: proc });
    expect(owner(sockets, 8091)).toBe('other');
    expect(owner(sockets, 8090)).toBe('other');
    expect(owner(sockets, 8092)).toBe(B);
  });

  it('without a pid, the cgroup still finds its processes', async () => {
    const sockets = await readHostSockets([{ id: A }], { procRoot: proc });
    expect(owner(sockets, 8090)).toBe(A);
    // 101 is A's only by namespace, which is unknown without the pid.
    expect(owner(sockets, 8093)).toBe('other');
  });

  it('with no host-network container asked about, every socket is another\'s', async () => {
    const sockets = await readHostSockets([], { procRoot: proc });
    expect(sockets.every((s) => s.owner.kind === 'other')).toBe(true);
    expect(sockets).toHaveLength(5);
  });

  it('a process gone by the time it is read is no owner, and no failure', async () => {
    const sockets = await readHostSockets([{ id: A, pid: 4242 }], { procRoot: proc });
    // 100 is still A's through its cgroup.
    expect(owner(sockets, 8090)).toBe(A);
  });
});

describe('inContainerCgroup', () => {
  it.each([
    [`0::/system.slice/docker-${A}.scope`, true],
    [`12:pids:/docker/${A}`, true],
    [`0::/docker/${A}/init`, true],
    [`0::/docker/${A.slice(0, 12)}`, false],
    [`0::/user.slice/docker/${B}`, false],
    ['0::/', false],
  ])('%s → %s', (text, expected) => {
    expect(inContainerCgroup(text, A)).toBe(expected);
  });
});

describe('netDirOf', () => {
  it('finds the /proc/PID/net of a process in the namespace, or none', async () => {
    // The machine's own namespace, by its /proc/self link: some process lives there.
    const dir = await netDirOf('/proc/self/ns/net');
    expect(dir).toMatch(/^\/proc\/\d+\/net$/);
    expect(await netDirOf('/proc/self/ns/net', proc)).toBeUndefined();
  });
});
