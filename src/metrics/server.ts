// The scrape endpoint: GET /metrics on a unix socket or a loopback TCP address, nothing else.
// The schema (metrics.listen) already refuses network addresses; this only serves what it is given.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Registry } from 'prom-client';
import type { MetricsListen } from '../config/endpoints.js';
import { bracketed } from '../model/format.js';
import { errorMessage } from '../util/errors.js';

export type MetricsEndpoint = Exclude<MetricsListen, { kind: 'off' }>;

export interface MetricsServer {
  /** Where it listens: the socket path, or HOST:PORT with the port actually bound (0 picks one). */
  readonly address: string;
  readonly port: number | undefined;
  /** Stops listening, drops open connections, removes the socket file. */
  close(): Promise<void>;
}

/** rw for the owner and the socket's group (e.g. the one Prometheus runs in), nothing for others. */
export const SOCKET_MODE = 0o660;

export async function startMetricsServer(endpoint: MetricsEndpoint, registry: Registry): Promise<MetricsServer> {
  const server = createServer((req, res) => void answer(req, res, registry));
  // A scrape is one small request: nobody local gets to hold many sockets or stall one forever.
  server.maxConnections = 32;
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;

  if (endpoint.kind === 'unix') {
    const path = endpoint.path;
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);
    // The umask makes the socket 0660 from the moment it exists (the chmod after could come too
    // late for a client racing it). Node binds a path synchronously inside listen().
    const umask = process.umask(0o117);
    try {
      await listen(server, () => server.listen(path));
    } finally {
      process.umask(umask);
    }
    await chmod(path, SOCKET_MODE);
    return {
      address: path,
      port: undefined,
      close: async () => {
        await close(server);
        // libuv unlinks the socket it bound on close; this covers a close that did not get that far.
        await rm(path, { force: true });
      },
    };
  }

  await listen(server, () => server.listen({ host: endpoint.host, port: endpoint.port, exclusive: true }));
  const bound = server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : endpoint.port;
  const host = bracketed(endpoint.host);
  return { address: `${host}:${port}`, port, close: () => close(server) };
}

async function answer(req: IncomingMessage, res: ServerResponse, registry: Registry): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (req.method !== 'GET' || path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: dockgate serves GET /metrics only\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType }).end(body);
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`metrics failed: ${errorMessage(err)}\n`);
  }
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * A socket left by a dockgate that was killed (SIGKILL, a crash) would make the bind fail. It is
 * removed only when nothing answers on it; a file that is not a socket is never touched.
 */
async function removeStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  const alive = await new Promise<boolean>((resolve, reject) => {
    const s = connect(path);
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(true); // something holds it, however slowly: not ours to take
    });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    // Refused: a socket file nobody listens on. Anything else (EACCES, ...) is not ours to judge.
    s.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(new Error(`${path}: ${err.message}`))));
  });
  if (alive) throw new Error(`${path} is in use by another process`);
  await rm(path, { force: true });
}
