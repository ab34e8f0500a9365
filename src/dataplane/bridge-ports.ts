// The host end of each container interface: the veth on the network's bridge whose peer is the
// container's interface with the MAC Docker reports. Docker's API does not say; the kernel does.
// Inside the container's network namespace, `ip -j link` gives that interface's peer index (the
// host-side ifindex); on the host, that index must be a port of the right bridge whose own peer is
// the container's interface, or nothing is trusted.
import { readFile, readdir } from 'node:fs/promises';
import type { BridgePort, ContainerFacts, NetworkFacts } from '../model/types.js';
import { IFNAME } from '../net/ifname.js';
import { z } from 'zod';
import type { Result } from '../model/result.js';
import { readJsonOutput } from '../util/json-output.js';
import { type CommandQueue, firstErrorLine, howEnded, succeeded } from './command-queue.js';

/** One interface as `ip -j link show` prints it (the fields used). */
export interface LinkInfo {
  ifindex: number;
  ifname: string;
  /** The peer's ifindex (veth), in the peer's namespace. */
  link_index?: number;
  address?: string;
  master?: string;
}

// The answer must be a list; an entry without an index and a name is skipped, and optional
// fields of another type are left out.
const linkList = z.array(z.unknown());
const linkEntry = z.object({
  ifindex: z.number(),
  ifname: z.string(),
  link_index: z.number().optional().catch(undefined),
  address: z.string().optional().catch(undefined),
  master: z.string().optional().catch(undefined),
});

/** `ip -j link show` output, as `command` printed it. */
export function parseLinks(json: string, command = 'ip -j link show'): Result<LinkInfo[]> {
  const list = readJsonOutput(json, linkList, command, []);
  if (!list.ok) return list;
  const out: LinkInfo[] = [];
  for (const item of list.value) {
    const r = linkEntry.safeParse(item);
    if (!r.success) continue;
    const l = r.data;
    out.push({
      ifindex: l.ifindex,
      ifname: l.ifname,
      ...(l.link_index !== undefined ? { link_index: l.link_index } : {}),
      ...(l.address !== undefined ? { address: l.address.toLowerCase() } : {}),
      ...(l.master !== undefined ? { master: l.master } : {}),
    });
  }
  return { ok: true, value: out };
}

/** Pure: which host port is each of the container's interfaces on a managed bridge. */
export function matchPorts(
  container: ContainerFacts,
  networks: ReadonlyMap<string, NetworkFacts>,
  inside: readonly LinkInfo[],
  host: readonly LinkInfo[],
): BridgePort[] {
  const out: BridgePort[] = [];
  for (const a of container.networks) {
    const network = networks.get(a.networkId);
    if (!network || a.mac === undefined) continue;
    const mine = inside.find((l) => l.address === a.mac && l.link_index !== undefined);
    if (!mine) continue;
    const port = host.find((l) => l.ifindex === mine.link_index);
    // Both ends must name each other, and the host end must be on this network's bridge.
    if (!port || port.master !== network.bridge || port.link_index !== mine.ifindex || !IFNAME.test(port.ifname)) continue;
    out.push({ containerId: container.id, networkId: a.networkId, port: port.ifname });
  }
  return out;
}

/** Containers on a managed bridge with a MAC there: those anti-spoofing holds to their port. */
function needsPorts(c: ContainerFacts, networks: ReadonlyMap<string, NetworkFacts>): boolean {
  return c.networks.some((a) => a.mac !== undefined && networks.has(a.networkId));
}

export interface PortLookup {
  ports: BridgePort[];
  /** Containers whose ports could not all be found, with why (their own packets are dropped meanwhile). */
  failed: Array<{ container: ContainerFacts; reason: string }>;
  /** Processes started for this lookup. */
  processes: number;
}

/**
 * Finds the ports, remembering each container's answer for as long as its run and attachments
 * stay the same (a restart or a `docker network connect` asks again): one `ip -j link` in the
 * container's namespace per start, plus one on the host for all of them. A failure is not
 * remembered, so the next sync asks again.
 */
export class BridgePorts {
  readonly #known = new Map<string, { key: string; ports: BridgePort[] }>();

  constructor(readonly queue: CommandQueue, readonly command = 'ip') {}

  static #key(c: ContainerFacts): string {
    return `${c.pid ?? ''}|${c.networks.map((a) => `${a.networkId}=${a.mac ?? ''}`).join(',')}`;
  }

  async lookup(containers: readonly ContainerFacts[], networks: readonly NetworkFacts[]): Promise<PortLookup> {
    const byId = new Map(networks.map((n) => [n.id, n]));
    const ports: BridgePort[] = [];
    const failed: PortLookup['failed'] = [];
    const todo: ContainerFacts[] = [];
    for (const c of containers) {
      if (!needsPorts(c, byId)) continue;
      const hit = this.#known.get(c.id);
      if (hit?.key === BridgePorts.#key(c)) ports.push(...hit.ports);
      else todo.push(c);
    }
    this.#retain(new Set(containers.map((c) => c.id)));
    if (todo.length === 0) return { ports, failed, processes: 0 };
    let processes = 1;
    const hostAnswer = await this.queue.run(this.command, ['-j', 'link', 'show'], { timeoutMs: 10_000 });
    const hostLinks = succeeded(hostAnswer) ? parseLinks(hostAnswer.stdout, `${this.command} -j link show`) : undefined;
    // Without the host's side no port can be trusted: every container waits for the next lookup.
    const hostProblem = hostLinks === undefined ? `cannot read the host's interfaces (${howEnded(hostAnswer)}: ${firstErrorLine(hostAnswer)})` : hostLinks.ok ? undefined : hostLinks.error;
    const host = hostLinks?.ok ? hostLinks.value : [];
    for (const c of todo) {
      if (c.pid === undefined) {
        failed.push({ container: c, reason: 'Docker reported no pid' });
        continue;
      }
      if (hostProblem !== undefined) {
        failed.push({ container: c, reason: hostProblem });
        continue;
      }
      let inside = await this.#sysfsLinks(c.pid);
      if (inside === undefined) {
        processes++;
        const r = await this.queue.run('nsenter', [`--net=/proc/${c.pid}/ns/net`, this.command, '-j', 'link', 'show'], { timeoutMs: 10_000 });
        if (!succeeded(r)) {
          failed.push({ container: c, reason: `cannot read its interfaces (${howEnded(r)}: ${firstErrorLine(r)})` });
          continue;
        }
        const links = parseLinks(r.stdout, `${this.command} -j link show (in the container's namespace)`);
        if (!links.ok) {
          failed.push({ container: c, reason: links.error });
          continue;
        }
        inside = links.value;
      }
      const found = matchPorts(c, byId, inside, host);
      const wanted = c.networks.filter((a) => a.mac !== undefined && byId.has(a.networkId)).length;
      if (found.length < wanted) {
        failed.push({ container: c, reason: `${wanted - found.length} of its interfaces has no matching port on its bridge` });
        ports.push(...found);
        continue;
      }
      this.#known.set(c.id, { key: BridgePorts.#key(c), ports: found });
      ports.push(...found);
    }
    return { ports, failed, processes };
  }

  /**
   * The container's interfaces from the sysfs Docker mounts inside it (/proc/PID/root/sys): file
   * reads instead of a process per container, which made every start slower and kept a daemon
   * starting beside thousands of containers from writing for a long while. Undefined when that
   * sysfs is not there (a container with /sys unmounted, another runtime): ask `ip` then.
   * Only a container with CAP_SYS_ADMIN could mount something else over its /sys, and such a
   * container is root on the host anyway; and the answer must still match the host's side.
   */
  async #sysfsLinks(pid: number): Promise<LinkInfo[] | undefined> {
    const dir = `/proc/${pid}/root/sys/class/net`;
    try {
      const out: LinkInfo[] = [];
      for (const ifname of await readdir(dir)) {
        const read = async (f: string): Promise<string> => (await readFile(`${dir}/${ifname}/${f}`, 'utf8')).trim();
        const [ifindex, iflink, address] = await Promise.all([read('ifindex'), read('iflink'), read('address')]);
        const link = Number(iflink);
        const index = Number(ifindex);
        if (!Number.isInteger(index)) return undefined;
        // A veth's iflink is its peer's index; an interface without a peer names itself.
        out.push({ ifindex: index, ifname, address: address.toLowerCase(), ...(Number.isInteger(link) && link !== index ? { link_index: link } : {}) });
      }
      return out.length > 0 ? out : undefined;
    } catch {
      return undefined;
    }
  }

  #retain(ids: ReadonlySet<string>): void {
    for (const id of this.#known.keys()) if (!ids.has(id)) this.#known.delete(id);
  }
}
