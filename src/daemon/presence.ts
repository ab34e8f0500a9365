// How `dockgate flush` knows that `dockgate run` is at work: the daemon holds an abstract unix
// socket for as long as it runs. An abstract name belongs to the network namespace, which is
// exactly the scope of the firewall a daemon keeps (a daemon in a test's or the demo's namespace
// is no daemon of the host's); it disappears with the process however that ends, so a crash or a
// kill -9 leaves nothing stale, as a pid file would; and it needs no writable path, with or
// without systemd.
import { createServer, connect } from 'node:net';

/** The abstract name (without its leading NUL) a running daemon holds. */
export const DAEMON_PRESENCE = 'dockgate/run';

export interface DaemonSeen {
  /** The daemon's pid, as it says; undefined when it did not say in time. */
  pid: number | undefined;
}

export type Announcement = { kind: 'held'; close(): Promise<void> } | { kind: 'taken'; by: DaemonSeen | undefined };

const abstract = (name: string) => `\0${name}`;

/**
 * Holds `name` in this network namespace while the daemon runs. Whoever connects is told the pid
 * and hung up on. 'taken' when another process holds it already (another daemon here).
 */
export async function announce(name = DAEMON_PRESENCE): Promise<Announcement> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(`${JSON.stringify({ pid: process.pid })}\n`);
  });
  const listening = await new Promise<boolean>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err)));
    server.listen(abstract(name), () => resolve(true));
  });
  if (!listening) return { kind: 'taken', by: await findDaemon(name) };
  // Never what keeps the process alive.
  server.unref();
  return { kind: 'held', close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The daemon holding `name` in this network namespace, if any; at most `timeoutMs`. */
export async function findDaemon(name = DAEMON_PRESENCE, timeoutMs = 2000): Promise<DaemonSeen | undefined> {
  return new Promise<DaemonSeen | undefined>((resolve) => {
    let said = '';
    let connected = false;
    const done = (seen: DaemonSeen | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(seen);
    };
    const pidOf = (text: string): number | undefined => {
      try {
        const pid = (JSON.parse(text) as { pid?: unknown }).pid;
        return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    };
    // A holder that accepts and never answers is still a holder.
    const timer = setTimeout(() => done(connected ? { pid: pidOf(said) } : undefined), timeoutMs);
    const socket = connect(abstract(name));
    socket.setEncoding('utf8');
    socket.on('connect', () => (connected = true));
    socket.on('data', (chunk: string) => {
      said += chunk;
      if (said.length > 4096) done({ pid: undefined });
    });
    socket.on('end', () => done({ pid: pidOf(said) }));
    // ECONNREFUSED: nobody holds the name.
    socket.on('error', () => done(connected ? { pid: pidOf(said) } : undefined));
  });
}
