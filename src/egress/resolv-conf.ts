// The host's nameservers, from resolv.conf: the resolvers a container with an egress allow-list
// may reach on port 53 (Docker gives the default bridge a copy of this file, and its embedded DNS
// on user networks forwards to these servers from inside the container's namespace), and the
// servers dockgate asks for the names in the lists.
import { readFile } from 'node:fs/promises';
import { parseAddress } from '../net/address.js';
import { type Result, ok } from '../model/result.js';
import { errorMessage } from '../util/errors.js';

/** `nameserver ADDRESS` lines, canonical, in order, each once; anything else is ignored as the libc resolver does. */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    // A zone (fe80::1%eth0) names a link of the host, not one a container's packets could use.
    const a = parseAddress(m[1]!);
    if (a.ok && !out.includes(a.value.text)) out.push(a.value.text);
  }
  return out;
}

/** Reads `path`; a missing or unreadable file is no nameservers, with the reason. */
export async function readResolvConf(path: string): Promise<Result<string[]>> {
  try {
    return ok(parseResolvConf(await readFile(path, 'utf8')));
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}
