// The drop log in the daemon: ulogd's lines → recorder → the `dropped` log line, the followers on
// the socket and the metrics. Started by `dockgate run` when drops.log is on.
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { CommandQueue } from '../dataplane/command-queue.js';
import type { ContainerFacts } from '../model/types.js';
import { shortId } from '../plan/chains.js';
import { type Attribution, type DropContainer, DropRecorder } from './recorder.js';
import { DropsServer } from './server.js';
import { UlogdReader, sweepStaleUlogdDirs } from './ulogd.js';
import { parseUlogdLine } from './ulogd-json.js';
import { formatDrop, toWire } from './wire.js';
import { errorMessage } from '../util/errors.js';

/** The daemon's facts as the drop log needs them (Daemon.facts). */
export interface FactsView {
  version: number;
  containers: () => readonly ContainerFacts[];
}

/**
 * Who holds an id or an address, from the daemon's current facts: indexed again when they change,
 * and on a miss at most once a second (a container's first packets may come before the version
 * that holds its inspect answer is looked at).
 */
export function factsAttribution(facts: () => FactsView, now: () => number = Date.now): Attribution {
  let seen: number | undefined;
  let indexedAt = -Infinity;
  let byId = new Map<string, DropContainer>();
  let byIp = new Map<string, DropContainer>();
  let byMac = new Map<string, DropContainer>();
  const index = (force: boolean): void => {
    const f = facts();
    if (f.version === seen && !(force && now() - indexedAt >= 1000)) return;
    seen = f.version;
    indexedAt = now();
    byId = new Map();
    byIp = new Map();
    byMac = new Map();
    for (const c of f.containers()) {
      const who = { id: shortId(c.id), name: c.name };
      byId.set(who.id, who);
      for (const n of c.networks) {
        if (n.ipv4) byIp.set(n.ipv4, who);
        if (n.ipv6) byIp.set(n.ipv6.toLowerCase(), who);
        if (n.mac) byMac.set(n.mac.toLowerCase(), who);
      }
    }
  };
  const lookup = <K>(map: () => Map<K, DropContainer>, key: K): DropContainer | undefined => {
    index(false);
    const hit = map().get(key);
    if (hit !== undefined) return hit;
    index(true);
    return map().get(key);
  };
  return {
    byShortId: (id) => lookup(() => byId, id),
    byAddress: (ip) => lookup(() => byIp, ip.toLowerCase()),
    byMac: (mac) => lookup(() => byMac, mac.toLowerCase()),
  };
}

export interface DropLogServiceOptions {
  config: Config['drops'];
  queue: CommandQueue;
  log: Logger;
  facts: () => FactsView;
  now?: () => number;
}

export class DropLogService {
  readonly recorder: DropRecorder;
  #server: DropsServer | undefined;
  #reader: UlogdReader | undefined;

  private constructor(readonly o: DropLogServiceOptions) {
    this.recorder = new DropRecorder({ ratePerSecond: o.config.ratePerSecond, burst: o.config.burst, attribution: factsAttribution(o.facts) });
  }

  /** The socket first (a `dockgate drops` gets an answer even while ulogd is missing), then ulogd. */
  static async start(o: DropLogServiceOptions): Promise<DropLogService> {
    const s = new DropLogService(o);
    try {
      s.#server = await DropsServer.listen(o.config.socket, s.recorder);
      o.log.info({ event: 'drops-listening', socket: o.config.socket }, `drop log served on ${o.config.socket} (dockgate drops)`);
    } catch (err) {
      o.log.error({ event: 'drops-failed', socket: o.config.socket, err: errorMessage(err) }, `cannot serve the drop log on ${o.config.socket}: ${errorMessage(err)}`);
    }
    // The drop log never costs the firewall: whatever fails here is logged, and dockgate runs on.
    // What a daemon killed without stop() left beside the socket goes first (it never throws).
    await sweepStaleUlogdDirs(dirname(o.config.socket), o.log);
    try {
      s.#reader = UlogdReader.start({
        command: o.config.ulogdCommand,
        group: o.config.nflogGroup,
        queue: o.queue,
        log: o.log,
        onLine: (line) => s.ingest(line),
        parentDir: dirname(o.config.socket),
      });
    } catch (err) {
      o.log.error({ event: 'drop-log-failed', err: errorMessage(err) }, `cannot start the drop log's reader: ${errorMessage(err)}`);
    }
    return s;
  }

  get ulogdPid(): number | undefined {
    return this.#reader?.pid;
  }

  /** One line of ulogd's output. */
  ingest(line: string): void {
    const p = parseUlogdLine(line);
    if (p === undefined) return;
    const r = this.recorder.record(p, (this.o.now ?? Date.now)());
    if (r.kind !== 'new') return;
    const w = toWire(r.entry);
    // `at`, not `time`: pino's own time field comes first, and a second one would shadow it.
    const { time: at, ...fields } = w;
    this.o.log.info({ event: 'dropped', at, ...fields }, formatDrop(w));
    this.#server?.publish(r.entry);
  }

  async stop(): Promise<void> {
    await Promise.allSettled([this.#reader?.stop(), this.#server?.close()]);
  }
}
