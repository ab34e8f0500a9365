// Docker's HTTP API on a unix socket, as far as `dockgate run` needs it to start: the events
// stream (held open, silent), /info with a swarm state the test sets, and empty lists. For CLI
// tests that run the built daemon without a dockerd.
import { type Server, createServer } from 'node:http';

export interface FakeDockerApi {
  /** Docker's Swarm.LocalNodeState in /info. */
  swarm: string;
  close(): Promise<void>;
}

export async function startFakeDockerApi(socketPath: string): Promise<FakeDockerApi> {
  const api = { swarm: 'inactive' } as FakeDockerApi;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://docker');
    const route = url.pathname.replace(/^\/v[\d.]+/, '');
    if (route === '/events') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return; // silence is the stream's normal state
    }
    res.setHeader('content-type', 'application/json');
    if (route === '/info') return res.end(JSON.stringify({ ServerVersion: '20.10.24', Swarm: { LocalNodeState: api.swarm } }));
    if (route === '/_ping') return res.end('OK');
    if (route === '/containers/json' || route === '/networks') return res.end('[]');
    res.statusCode = 404;
    res.end(JSON.stringify({ message: `not scripted: ${route}` }));
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  api.close = () =>
    new Promise<void>((resolve) => {
      // the held-open events streams would keep close() waiting
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return api;
}
