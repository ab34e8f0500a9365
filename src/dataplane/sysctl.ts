// Per-interface sysctls under /proc/sys/net/ipv4/conf. Values are per network namespace, and
// /proc/sys/net always shows the namespace of the process that reads it: the daemon changes those
// of the namespace it runs in. Changes interface by interface; never touches `all` or `default`
// (all.forwarding is what makes a host an open router, all.route_localnet a loopback leak).
import { readFile, readdir, writeFile } from 'node:fs/promises';

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

export type InterfaceSetting = 'forwarding' | 'route_localnet';

export class Sysctl {
  constructor(readonly root = '/proc/sys') {}

  async read(key: string): Promise<string | undefined> {
    try {
      return (await readFile(`${this.root}/${key.replaceAll('.', '/')}`, 'utf8')).trim();
    } catch {
      return undefined;
    }
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
  async set(setting: InterfaceSetting, ifaces: readonly string[], value: '0' | '1'): Promise<{ changed: string[]; missing: string[] }> {
    const changed: string[] = [];
    const missing: string[] = [];
    for (const iface of ifaces) {
      if (!IFNAME.test(iface) || iface === 'all' || iface === 'default') continue;
      // Interface names may contain dots; the /proc path keeps them as they are.
      const path = `${this.root}/net/ipv4/conf/${iface}/${setting}`;
      let current: string;
      try {
        current = (await readFile(path, 'utf8')).trim();
      } catch {
        missing.push(iface);
        continue;
      }
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

  enable(setting: InterfaceSetting, ifaces: readonly string[]): Promise<{ changed: string[]; missing: string[] }> {
    return this.set(setting, ifaces, '1');
  }

  disable(setting: InterfaceSetting, ifaces: readonly string[]): Promise<{ changed: string[]; missing: string[] }> {
    return this.set(setting, ifaces, '0');
  }
}
