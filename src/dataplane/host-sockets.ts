// Which listening socket belongs to which `--network host` container. Such a container's
// sockets are in the host's own /proc/net tables, beside every host process's: what makes one
// its own is the process holding it. /proc/net gives each socket's inode, /proc/PID/fd names the
// inodes a process holds (`socket:[INODE]`), and a process is the container's when it lives in
// the container's pid namespace (that of Docker's State.Pid) or, where that tells nothing (a
// container run with `--pid host` shares the host's), in its cgroup (`docker-<id>.scope` for
// the systemd driver, `/docker/<id>` for cgroupfs). Processes come and go while this reads:
// whatever vanished is simply not there.
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import type { Family, HostSocket, Protocol } from '../model/types.js';
import { type ListeningSocket, parseListening } from '../net/proc-net.js';

/** A host-network container as far as ownership goes. */
export interface SocketOwnerFacts {
  id: string;
  /** Docker's State.Pid; absent: its processes are found by cgroup alone. */
  pid?: number;
}

export interface HostSocketOptions {
  /** Where proc is mounted (tests point it at a fake tree). */
  procRoot?: string;
  /** The directory holding tcp, tcp6, udp and udp6 of the namespace to read; default `${procRoot}/self/net`. */
  netDir?: string;
}

const TABLES: ReadonlyArray<[string, Protocol, Family]> = [
  ['tcp', 'tcp', 4],
  ['tcp6', 'tcp', 6],
  ['udp', 'udp', 4],
  ['udp6', 'udp', 6],
];

const SOCKET_LINK = /^socket:\[(\d+)\]$/;

async function link(path: string): Promise<string | undefined> {
  try {
    return await readlink(path);
  } catch {
    return undefined;
  }
}

/** The listening sockets of one namespace, by table; a table the kernel lacks (no IPv6) is empty. */
async function listening(netDir: string): Promise<Array<ListeningSocket & { table: Family }>> {
  const out: Array<ListeningSocket & { table: Family }> = [];
  for (const [file, protocol, table] of TABLES) {
    let text: string;
    try {
      text = await readFile(`${netDir}/${file}`, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    for (const s of parseListening(text, protocol)) out.push({ ...s, table });
  }
  return out;
}

/** Whether a /proc/PID/cgroup text places the process in container `id`'s cgroup. */
export function inContainerCgroup(cgroup: string, id: string): boolean {
  return cgroup.split('\n').some((line) => {
    const path = line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1);
    return path.includes(`/docker-${id}.scope`) || path.split('/').some((part, i, parts) => part === id && parts[i - 1] === 'docker');
  });
}

/**
 * Every listening socket of the namespace at `netDir`, each with the container among
 * `containers` whose process holds it, or `other`. Throws only when /proc/net cannot be read.
 */
export async function readHostSockets(containers: readonly SocketOwnerFacts[], options: HostSocketOptions = {}): Promise<HostSocket[]> {
  const proc = options.procRoot ?? '/proc';
  const sockets = await listening(options.netDir ?? `${proc}/self/net`);
  const owners = containers.length === 0 || sockets.length === 0 ? new Map<number, string>() : await socketOwners(containers, proc);
  return sockets.map(({ protocol, table, ip, port, inode }) => {
    const id = inode === 0 ? undefined : owners.get(inode);
    return { protocol, table, ip, port, owner: id === undefined ? { kind: 'other' } : { kind: 'container', id } };
  });
}

/** Socket inode → id of the container whose process holds it. */
async function socketOwners(containers: readonly SocketOwnerFacts[], proc: string): Promise<Map<number, string>> {
  const own = await link(`${proc}/self/ns/pid`);
  const byNamespace = new Map<string, string>();
  for (const c of containers) {
    const ns = c.pid === undefined ? undefined : await link(`${proc}/${c.pid}/ns/pid`);
    // A container sharing the host's pid namespace would make every host process its own.
    if (ns !== undefined && ns !== own) byNamespace.set(ns, c.id);
  }
  const byCgroup = containers.filter((c) => ![...byNamespace.values()].includes(c.id));

  let entries: string[];
  try {
    entries = await readdir(proc);
  } catch {
    return new Map();
  }
  const owners = new Map<number, string>();
  for (const entry of entries) {
    if (!/^[1-9][0-9]*$/.test(entry)) continue;
    const ns = await link(`${proc}/${entry}/ns/pid`);
    let id = ns === undefined ? undefined : byNamespace.get(ns);
    if (id === undefined && byCgroup.length > 0) {
      const cgroup = await readFile(`${proc}/${entry}/cgroup`, 'utf8').catch(() => '');
      id = byCgroup.find((c) => inContainerCgroup(cgroup, c.id))?.id;
    }
    if (id === undefined) continue;
    let fds: string[];
    try {
      fds = await readdir(`${proc}/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const m = SOCKET_LINK.exec((await link(`${proc}/${entry}/fd/${fd}`)) ?? '');
      if (m) owners.set(Number(m[1]), id);
    }
  }
  return owners;
}

/**
 * The /proc/net directory of the network namespace at `netnsPath` (a /var/run/netns/NAME bind
 * mount): that of any process inside it, found by the namespace's inode. Undefined when no
 * process lives there (nothing can listen in it then either).
 */
export async function netDirOf(netnsPath: string, procRoot = '/proc'): Promise<string | undefined> {
  const { ino } = await stat(netnsPath);
  const want = `net:[${ino}]`;
  for (const entry of await readdir(procRoot)) {
    if (!/^[1-9][0-9]*$/.test(entry)) continue;
    if ((await link(`${procRoot}/${entry}/ns/net`)) === want) return `${procRoot}/${entry}/net`;
  }
  return undefined;
}

/**
 * As readHostSockets, in the network namespace at `netns` (the daemon's command queue's, in tests)
 * or, when undefined, the daemon's own.
 */
export async function readHostSocketsIn(netns: string | undefined, containers: readonly SocketOwnerFacts[]): Promise<HostSocket[]> {
  if (netns === undefined) return readHostSockets(containers);
  const netDir = await netDirOf(netns);
  return netDir === undefined ? [] : readHostSockets(containers, { netDir });
}
