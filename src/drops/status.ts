// `dockgate status`'s share of the drop log: each container's last drop, asked of the running
// daemon. A daemon that does not answer (not running, drops.log off, not root) costs status
// nothing but these lines.
import type { Config } from '../config/schema.js';
import { askDrops } from './server.js';
import { escapeControls } from '../labels/text.js';
import { type WireContainerDrops, formatDrop } from './wire.js';

/** By short id; empty when the daemon cannot be asked. */
export async function lastDropsOf(config: Config): Promise<Map<string, WireContainerDrops>> {
  const out = new Map<string, WireContainerDrops>();
  if (!config.drops.log) return out;
  try {
    await askDrops(config.drops.socket, { op: 'containers' }, (line) => {
      for (const c of JSON.parse(line) as WireContainerDrops[]) out.set(c.container.id, c);
    }, 2000);
  } catch {
    // Not running here: status reports the firewall all the same.
  }
  return out;
}

export function lastDropText(d: WireContainerDrops | undefined): string {
  return d === undefined ? '' : `  last drop (${d.count} packet${d.count === 1 ? '' : 's'} logged): ${escapeControls(formatDrop(d.last))}\n`;
}
