// Which ports host processes listen on, read from /proc/net of the namespace the daemon runs in.
// A label may never claim such a port (a dnat mapping without -p would take it from the host).
import { readFile } from 'node:fs/promises';
import type { Listener, Protocol } from '../model/types.js';
import { parseProcNet } from '../net/proc-net.js';

const FILES: ReadonlyArray<[string, Protocol]> = [
  ['tcp', 'tcp'],
  ['tcp6', 'tcp'],
  ['udp', 'udp'],
  ['udp6', 'udp'],
];

export async function readListeners(root = '/proc/net'): Promise<Listener[]> {
  const out: Listener[] = [];
  for (const [file, protocol] of FILES) {
    let text: string;
    try {
      text = await readFile(`${root}/${file}`, 'utf8');
    } catch {
      // A host booted without IPv6 has no tcp6/udp6.
      continue;
    }
    out.push(...parseProcNet(text, protocol));
  }
  return out;
}
