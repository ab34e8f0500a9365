// What travels over the drops socket, one JSON object per line each way. One home for the shape,
// so the daemon that writes it and `dockgate drops` / `status` that read it cannot disagree.
import type { DropReason } from '../plan/drop-log.js';
import type { DropEntry } from './recorder.js';
import type { DropProtocol } from './ulogd-json.js';

export type DropsRequest =
  /** Entries newest last; with `follow`, the connection stays open and new entries follow. */
  | { op: 'entries'; sinceMs?: number; container?: string; follow?: boolean }
  /** Each container's count and last drop (for `status`). */
  | { op: 'containers' };

/** One entry as `dockgate drops --json` prints it. */
export interface WireDrop {
  /** ISO 8601 UTC: the latest packet folded into the entry. */
  time: string;
  first: string;
  /** null: the host, or an address no container holds. */
  container: { name: string; id: string } | null;
  reason: DropReason;
  family: 4 | 6;
  src: string;
  dst: string;
  dport: number | null;
  protocol: DropProtocol;
  count: number;
}

export interface WireContainerDrops {
  container: { name: string; id: string };
  count: number;
  last: WireDrop;
}

export function toWire(e: DropEntry): WireDrop {
  return {
    time: new Date(e.last).toISOString(),
    first: new Date(e.first).toISOString(),
    container: e.container ? { name: e.container.name, id: e.container.id } : null,
    reason: e.reason,
    family: e.family,
    src: e.src,
    dst: e.dst,
    dport: e.dport ?? null,
    protocol: e.protocol,
    count: e.count,
  };
}

/** The text line of `dockgate drops`: time, container or "host", reason, src → dst:port/proto, count. */
export function formatDrop(d: WireDrop): string {
  const who = d.container ? `${d.container.name || '?'}/${d.container.id}` : 'host';
  const dst = d.family === 6 ? `[${d.dst}]` : d.dst;
  const to = d.dport === null ? `${dst}/${d.protocol}` : `${dst}:${d.dport}/${d.protocol}`;
  return `${d.time}  ${who}  ${d.reason}  ${d.src} → ${to}  x${d.count}`;
}
