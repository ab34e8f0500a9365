// Per-interface sysctls under /proc/sys/net/ipv4/conf. Values are per network namespace: the
// daemon changes those of the namespace it runs in. Only ever turns things on, interface by
// interface; never touches `all` (that is what makes a host an open router).
import { readFile, writeFile } from 'node:fs/promises';

const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;

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
   * Sets net.ipv4.conf.IFACE.SETTING to 1 where it is not. Returns the interfaces changed and
   * those that do not exist (yet: a bridge appears only once Docker needs it).
   */
  async enable(setting: 'forwarding' | 'route_localnet', ifaces: readonly string[]): Promise<{ changed: string[]; missing: string[] }> {
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
      if (current === '1') continue;
      await writeFile(path, '1\n');
      changed.push(iface);
    }
    return { changed, missing };
  }
}
