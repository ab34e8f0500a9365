// Per-interface sysctls under /proc/sys/net/ipv4/conf and /proc/sys/net/ipv6/conf. Values are
// per network namespace, and /proc/sys/net always shows the namespace of the process that reads
// it: the daemon changes those of the namespace it runs in. Changes interface by interface; never
// touches `all` or `default` (all.forwarding is what makes a host an open router,
// all.route_localnet a loopback leak).
import { access, readFile, readdir, writeFile } from 'node:fs/promises';
import { IFNAME } from '../net/ifname.js';
import type { Family } from '../model/types.js';


export type InterfaceSetting = 'forwarding' | 'route_localnet';
/**
 * IPv6 per interface (Documentation/networking/ip-sysctl.rst):
 * - `forwarding`: the interface's host/router behaviour. 1 stops it accepting router
 *   advertisements unless accept_ra=2, and writing 1 on *any* interface deletes the
 *   RA-learned default routes of every interface whose accept_ra is not 2 (rt6_purge_dflt_routers;
 *   seen on 6.18: a SLAAC default route vanished when a second interface got forwarding=1).
 *   Before Linux 6.17 it does not make the kernel forward at all: only all.forwarding does.
 * - `force_forwarding` (Linux 6.17+): forward packets arriving on this interface whatever
 *   all.forwarding says, as net.ipv4.conf.IFACE.forwarding does for IPv4 (seen on 6.18: with
 *   all.forwarding=0, forwarding=1 on both sides forwarded nothing; force_forwarding=1 did).
 * - `accept_ra`: 0 never, 1 only while forwarding is 0, 2 even while forwarding.
 */
export type Ipv6Setting = 'forwarding' | 'force_forwarding' | 'accept_ra';
export type SetResult = { changed: string[]; missing: string[] };

export class Sysctl {
  constructor(readonly root = '/proc/sys') {}

  async read(key: string): Promise<string | undefined> {
    try {
      return (await readFile(`${this.root}/${key.replaceAll('.', '/')}`, 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  /**
   * The families whose all.forwarding is 1: the host forwards between every interface of its own
   * accord (PlanInput.adminRouting). Unreadable counts as 0, so that dockgate's own forwarding
   * stays guarded: the guard drops only what no managed bridge is part of.
   */
  async adminRouting(): Promise<Family[]> {
    const out: Family[] = [];
    if ((await this.read('net.ipv4.conf.all.forwarding')) === '1') out.push(4);
    if ((await this.read('net.ipv6.conf.all.forwarding')) === '1') out.push(6);
    return out;
  }

  /** The interfaces of this network namespace that have IPv4 settings. */
  async interfaces(): Promise<string[]> {
    try {
      return (await readdir(`${this.root}/net/ipv4/conf`)).filter((i) => IFNAME.test(i) && i !== 'all' && i !== 'default').sort();
    } catch {
      return [];
    }
  }

  /**
   * Sets net.ipv4.conf.IFACE.SETTING to `value` where it is not. Returns the interfaces changed
   * and those that do not exist (yet: a bridge appears only once Docker needs it).
   */
  set(setting: InterfaceSetting, ifaces: readonly string[], value: '0' | '1'): Promise<SetResult> {
    return this.#set('ipv4', setting, ifaces, () => value);
  }

  /** Whether this namespace has IPv6 at all (booted with ipv6.disable=1 it has no /proc/sys/net/ipv6). */
  async hasIpv6(): Promise<boolean> {
    return this.#exists('net/ipv6/conf');
  }

  /** Whether this kernel knows an IPv6 per-interface setting (force_forwarding: Linux 6.17+). */
  async knowsIpv6(setting: Ipv6Setting): Promise<boolean> {
    return this.#exists(`net/ipv6/conf/all/${setting}`);
  }

  /** Sets net.ipv6.conf.IFACE.SETTING to `value` where it is not; as set(). */
  set6(setting: Ipv6Setting, ifaces: readonly string[], value: '0' | '1' | '2'): Promise<SetResult> {
    return this.#set('ipv6', setting, ifaces, () => value);
  }

  /**
   * accept_ra 1 → 2 on each interface that is about to get IPv6 forwarding (forwarding not 1
   * yet), so that it keeps accepting router advertisements, and with them its SLAAC address and
   * default route, once it forwards. 0 (the admin configured the interface statically) and 2 stay.
   */
  async keepAcceptingRa(ifaces: readonly string[]): Promise<SetResult> {
    const forwarding = new Map<string, string | undefined>();
    // By path, not read(): interface names may contain dots (eth0.100).
    for (const i of ifaces) forwarding.set(i, await readFile(`${this.root}/net/ipv6/conf/${i}/forwarding`, 'utf8').then((v) => v.trim(), () => undefined));
    return this.#set('ipv6', 'accept_ra', ifaces, (current, iface) => (current === '1' && forwarding.get(iface) !== '1' ? '2' : current));
  }

  async #exists(rel: string): Promise<boolean> {
    try {
      await access(`${this.root}/${rel}`);
      return true;
    } catch {
      return false;
    }
  }

  async #set(family: 'ipv4' | 'ipv6', setting: string, ifaces: readonly string[], want: (current: string, iface: string) => string): Promise<SetResult> {
    const changed: string[] = [];
    const missing: string[] = [];
    for (const iface of ifaces) {
      if (!IFNAME.test(iface) || iface === 'all' || iface === 'default') continue;
      // Interface names may contain dots; the /proc path keeps them as they are.
      const path = `${this.root}/net/${family}/conf/${iface}/${setting}`;
      let current: string;
      try {
        current = (await readFile(path, 'utf8')).trim();
      } catch {
        missing.push(iface);
        continue;
      }
      const value = want(current, iface);
      // Never rewrite an equal value: writing IPv6 forwarding=1 purges RA default routes even
      // when it was 1 already.
      if (current === value) continue;
      try {
        await writeFile(path, `${value}\n`);
      } catch (err) {
        // Removed since the read (a network deleted meanwhile): nothing left to set.
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        missing.push(iface);
        continue;
      }
      changed.push(iface);
    }
    return { changed, missing };
  }

  enable(setting: InterfaceSetting, ifaces: readonly string[]): Promise<SetResult> {
    return this.set(setting, ifaces, '1');
  }

  disable(setting: InterfaceSetting, ifaces: readonly string[]): Promise<SetResult> {
    return this.set(setting, ifaces, '0');
  }
}
