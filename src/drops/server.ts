// The root-only unix socket `dockgate drops` and `status` ask the running daemon over: the same
// whether it runs under systemd or in a terminal. One request line in, JSON lines out.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { type DropEntry, type DropRecorder, matchesContainer } from './recorder.js';
import { type DropsRequest, type WireContainerDrops, toWire } from './wire.js';

/** Followers at once; a further one is refused rather than memory spent on it. */
const MAX_CLIENTS = 32;
/** A follower this far behind is cut off: its backlog would otherwise grow with the drops. */
const MAX_BACKLOG_BYTES = 1 << 20;
const MAX_REQUEST_BYTES = 4096;

export class DropsServer {
  readonly #server: net.Server;
  readonly #followers = new Set<{ socket: net.Socket; container: string | undefined }>();

  private constructor(
    readonly path: string,
    readonly recorder: DropRecorder,
  ) {
    this.#server = net.createServer((socket) => this.#serve(socket));
    this.#server.maxConnections = MAX_CLIENTS;
  }

  static async listen(path: string, recorder: DropRecorder): Promise<DropsServer> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    // Another dockgate (another network namespace, same /run) serving it keeps it; a socket left by
    // a daemon that died answers nobody and is replaced.
    if (await answers(path)) throw new Error(`${path} is served by another running dockgate (set drops.socket to a path of its own)`);
    rmSync(path, { force: true });
    const s = new DropsServer(path, recorder);
    // Bound with no permission for anyone but root from the first moment, then made exact.
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        s.#server.once('error', reject);
        s.#server.listen(path, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chmodSync(path, 0o600);
    return s;
  }

  /** Hands a new entry to every follower whose filter it passes. */
  publish(entry: DropEntry): void {
    for (const f of this.#followers) {
      if (f.container !== undefined && !matchesContainer(entry.container, f.container)) continue;
      if (f.socket.writableLength > MAX_BACKLOG_BYTES) {
        f.socket.destroy();
        continue;
      }
      f.socket.write(`${JSON.stringify(toWire(entry))}\n`);
    }
  }

  async close(): Promise<void> {
    for (const f of this.#followers) f.socket.destroy();
    this.#followers.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  #serve(socket: net.Socket): void {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    const onData = (chunk: string): void => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > MAX_REQUEST_BYTES) socket.destroy();
        return;
      }
      socket.off('data', onData);
      let req: DropsRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as DropsRequest;
      } catch {
        socket.end(`${JSON.stringify({ error: 'bad request' })}\n`);
        return;
      }
      this.#answer(socket, req);
    };
    socket.on('data', onData);
  }

  #answer(socket: net.Socket, req: DropsRequest): void {
    if (req.op === 'containers') {
      const out: WireContainerDrops[] = this.recorder.containers().map((c) => ({ container: { ...c.container }, count: c.count, last: toWire(c.lastDrop) }));
      socket.end(`${JSON.stringify(out)}\n`);
      return;
    }
    const backlog = this.recorder.entries({ sinceMs: req.sinceMs, container: req.container });
    socket.write(backlog.map((e) => `${JSON.stringify(toWire(e))}\n`).join(''));
    if (!req.follow) {
      socket.end();
      return;
    }
    const f = { socket, container: req.container };
    this.#followers.add(f);
    socket.on('close', () => this.#followers.delete(f));
  }
}

/** Whether something accepts connections on the unix socket at `path` (bounded: 1 s). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.createConnection(path);
    const done = (v: boolean): void => {
      clearTimeout(timer);
      c.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), 1000);
    c.on('connect', () => done(true));
    c.on('error', () => done(false));
  });
}

/** The client side: one request, the answer's lines handed over as they come. */
export function askDrops(path: string, req: DropsRequest, onLine: (line: string) => void, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection(path);
    let buf = '';
    // Only until connected and answered once; a follower waits as long as the user wants.
    const timer = setTimeout(() => socket.destroy(new Error(`no answer on ${path} within ${timeoutMs} ms`)), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      socket.write(`${JSON.stringify(req)}\n`);
      if (req.op === 'entries' && req.follow) clearTimeout(timer);
    });
    socket.on('data', (chunk: string) => {
      if (!(req.op === 'entries' && req.follow)) timer.refresh();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line !== '') onLine(line);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
