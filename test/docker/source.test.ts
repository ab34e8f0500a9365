// Where dockgate connects to Docker, from docker.host or, when that is "", from the environment
// as the Docker CLI reads it. Every scheme either connects as it says (TLS really verified, both
// ways) or is refused with a message naming the setting: never a silent plain-HTTP connection.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DockerEndpointError, dockerOptions } from '../../src/docker/endpoint.js';
import { DockerSource } from '../../src/docker/source.js';

const tmp = mkdtempSync(join(tmpdir(), 'dockgate-source-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory holding the named files, each with its own name as content. */
function certDir(name: string, files = ['ca.pem', 'cert.pem', 'key.pem']): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f), `${f}\n`);
  return dir;
}

/** Files docker-modem itself accepts when it reads $DOCKER_CERT_PATH (it looks for PEM markers). */
function pemDir(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n');
  return dir;
}

const tlsFiles = (dir: string) => ({
  ca: Buffer.from('ca.pem\n'),
  cert: Buffer.from('cert.pem\n'),
  key: Buffer.from('key.pem\n'),
  dir,
});

describe('dockerOptions', () => {
  const certs = certDir('certs');
  const home = join(tmp, 'home');
  certDir('home/.docker');

  it.each([
    ['nothing set: the local socket', '', {}, { socketPath: '/var/run/docker.sock' }],
    ['$DOCKER_HOST "" counts as unset', '', { DOCKER_HOST: '' }, { socketPath: '/var/run/docker.sock' }],
    ['$DOCKER_HOST unix://', '', { DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }, { socketPath: '/run/user/1000/docker.sock' }],
    ['$DOCKER_HOST tcp://', '', { DOCKER_HOST: 'tcp://10.0.0.1:2375' }, { host: '10.0.0.1', port: 2375, protocol: 'http' }],
    ['$DOCKER_HOST without a scheme is tcp, as for the CLI', '', { DOCKER_HOST: '10.0.0.1:4243' }, { host: '10.0.0.1', port: 4243, protocol: 'http' }],
    ['$DOCKER_HOST tcp:// without a port', '', { DOCKER_HOST: 'tcp://docker.lan' }, { host: 'docker.lan', port: 2375, protocol: 'http' }],
    ['$DOCKER_TLS_VERIFY "" counts as unset', '', { DOCKER_HOST: 'tcp://docker.lan', DOCKER_TLS_VERIFY: '' }, { host: 'docker.lan', port: 2375, protocol: 'http' }],
    ['docker.host unix://', 'unix:///tmp/d.sock', {}, { socketPath: '/tmp/d.sock' }],
    ['docker.host wins over $DOCKER_HOST', 'unix:///tmp/d.sock', { DOCKER_HOST: 'tcp://10.0.0.1:2375' }, { socketPath: '/tmp/d.sock' }],
    ['docker.host tcp://', 'tcp://10.0.0.1:2375', {}, { host: '10.0.0.1', port: 2375, protocol: 'http' }],
    ['docker.host http://', 'http://10.0.0.1', {}, { host: '10.0.0.1', port: 2375, protocol: 'http' }],
    ['docker.host http:// stays http with $DOCKER_TLS_VERIFY', 'http://10.0.0.1:2375', { DOCKER_TLS_VERIFY: '1' }, { host: '10.0.0.1', port: 2375, protocol: 'http' }],
    ['docker.host tcp:// with an IPv6 address', 'tcp://[fd00::1]:2375', {}, { host: 'fd00::1', port: 2375, protocol: 'http' }],
  ])('%s', (_what, host, env, expected) => {
    const o = dockerOptions(host, env);
    expect(o).toEqual(expected);
  });

  it.each([
    ['docker.host https://, files from $DOCKER_CERT_PATH', 'https://docker.lan', { DOCKER_CERT_PATH: certs }, 'docker.lan', 2376, certs],
    ['docker.host https:// with a port, files from ~/.docker', 'https://10.0.0.1:3376', { HOME: home }, '10.0.0.1', 3376, join(home, '.docker')],
    ['docker.host tcp:// with $DOCKER_TLS_VERIFY', 'tcp://docker.lan', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, 'docker.lan', 2376, certs],
    ['$DOCKER_HOST tcp:// with $DOCKER_TLS_VERIFY', '', { DOCKER_HOST: 'tcp://docker.lan:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs }, 'docker.lan', 2376, certs],
    ['$DOCKER_TLS_VERIFY=0 is still on, as for the CLI', '', { DOCKER_HOST: 'tcp://docker.lan', DOCKER_TLS_VERIFY: '0', HOME: home }, 'docker.lan', 2376, join(home, '.docker')],
  ])('%s: TLS, verified, with the client certificate', (_what, host, env, hostname, port, dir) => {
    const { ca, cert, key } = tlsFiles(dir);
    expect(dockerOptions(host, env)).toEqual({ host: hostname, port, protocol: 'https', ca, cert, key });
  });

  it.each([
    ['ca.pem', ['cert.pem', 'key.pem']],
    ['cert.pem', ['ca.pem', 'key.pem']],
    ['key.pem', ['ca.pem', 'cert.pem']],
  ])('TLS without %s is an error naming that file', (missing, present) => {
    const dir = certDir(`no-${missing}`, present);
    const want = join(dir, missing);
    expect(() => dockerOptions('https://docker.lan:2376', { DOCKER_CERT_PATH: dir })).toThrow(DockerEndpointError);
    expect(() => dockerOptions('https://docker.lan:2376', { DOCKER_CERT_PATH: dir })).toThrow(want);
    expect(() => dockerOptions('', { DOCKER_HOST: 'tcp://docker.lan', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir })).toThrow(want);
  });

  it('TLS with no $DOCKER_CERT_PATH and no ~/.docker names ~/.docker/ca.pem', () => {
    const empty = join(tmp, 'empty-home');
    mkdirSync(empty, { recursive: true });
    expect(() => dockerOptions('https://docker.lan', { HOME: empty })).toThrow(join(empty, '.docker', 'ca.pem'));
  });

  it.each([
    ['docker.host ssh://', 'ssh://admin@docker.lan', {}, /^"ssh:\/\/admin@docker\.lan": ssh:\/\/ is not supported/],
    ['$DOCKER_HOST ssh://', '', { DOCKER_HOST: 'ssh://admin@docker.lan' }, /^"" means \$DOCKER_HOST, which is "ssh:\/\/admin@docker\.lan": ssh:\/\/ is not supported/],
    ['$DOCKER_HOST npipe://', '', { DOCKER_HOST: 'npipe:////./pipe/docker_engine' }, /\$DOCKER_HOST, which is "npipe:.*": npipe:\/\/ is not supported/],
    ['$DOCKER_HOST fd://', '', { DOCKER_HOST: 'fd://' }, /fd:\/\/ is not supported/],
    ['$DOCKER_HOST with a path', '', { DOCKER_HOST: 'tcp://docker.lan:2375/prefix' }, /\$DOCKER_HOST, which is "tcp:\/\/docker\.lan:2375\/prefix": /],
    ['$DOCKER_HOST with a bad port', '', { DOCKER_HOST: 'tcp://docker.lan:99999' }, /\$DOCKER_HOST/],
  ])('%s is refused, naming where it came from', (_what, host, env, message) => {
    expect(() => dockerOptions(host, env)).toThrow(DockerEndpointError);
    expect(() => dockerOptions(host, env)).toThrow(message);
  });
});

describe('dockerode honours the options, whatever the process environment says', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('an explicit unix socket is used even with $DOCKER_HOST, $DOCKER_CERT_PATH and $DOCKER_CLIENT_TIMEOUT set', () => {
    const certs = pemDir('env-certs');
    vi.stubEnv('DOCKER_HOST', 'tcp://10.9.9.9:2376');
    vi.stubEnv('DOCKER_TLS_VERIFY', '1');
    vi.stubEnv('DOCKER_CERT_PATH', certs);
    vi.stubEnv('DOCKER_CLIENT_TIMEOUT', '5');
    const modem = (new Docker(dockerOptions('unix:///tmp/d.sock', {})) as unknown as { modem: Record<string, unknown> }).modem;
    expect(modem.socketPath).toBe('/tmp/d.sock');
    expect(modem.host).toBeUndefined();
    expect(modem.ca).toBeUndefined();
    expect(modem.timeout).toBeUndefined();
  });

  it('an explicit tcp:// without TLS is plain HTTP even with $DOCKER_CERT_PATH set', () => {
    vi.stubEnv('DOCKER_HOST', 'tcp://10.9.9.9:2376');
    vi.stubEnv('DOCKER_CERT_PATH', pemDir('env-certs-2'));
    const modem = (new Docker(dockerOptions('tcp://127.0.0.1:2375', {})) as unknown as { modem: Record<string, unknown> }).modem;
    expect(modem).toMatchObject({ host: '127.0.0.1', port: 2375, protocol: 'http' });
    expect(modem.ca).toBeUndefined();
  });
});

// A fake Docker API on loopback: plain HTTP, and HTTPS that requires a client certificate signed
// by its CA. Proves the options make dockerode speak TLS for real, verifying the server.
describe('DockerSource against a Docker API on loopback', () => {
  const pki = join(tmp, 'pki');
  const servers: Server[] = [];
  let httpPort = 0;
  let httpsPort = 0;
  const seen: string[] = [];

  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: pki, stdio: 'pipe' });

  const listen = (s: Server): Promise<number> =>
    new Promise((resolve) => {
      servers.push(s);
      s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    });

  beforeAll(async () => {
    mkdirSync(pki, { recursive: true });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test-ca');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server-key.pem', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(pki, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'server.ext');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'client.csr', '-subj', '/CN=dockgate');
    writeFileSync(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', 'cert.pem', '-days', '2', '-extfile', 'client.ext');

    const answer = (proto: string) => (req: { url?: string }, res: { setHeader(k: string, v: string): void; end(b: string): void }) => {
      seen.push(`${proto} ${req.url ?? ''}`);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ Version: `28.5.2-${proto}` }));
    };
    httpPort = await listen(createHttpServer(answer('http')));
    httpsPort = await listen(
      createHttpsServer(
        {
          key: readFileSync(join(pki, 'server-key.pem')),
          cert: readFileSync(join(pki, 'server.pem')),
          ca: readFileSync(join(pki, 'ca.pem')),
          requestCert: true,
          rejectUnauthorized: true,
        },
        answer('https'),
      ),
    );
  }, 60_000);

  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('tcp:// speaks plain HTTP', async () => {
    expect(await new DockerSource(`tcp://127.0.0.1:${httpPort}`, {}).version()).toBe('28.5.2-http');
  });

  it('https:// speaks TLS with the client certificate from $DOCKER_CERT_PATH', async () => {
    expect(await new DockerSource(`https://127.0.0.1:${httpsPort}`, { DOCKER_CERT_PATH: pki }).version()).toBe('28.5.2-https');
  });

  it('tcp:// with $DOCKER_TLS_VERIFY speaks TLS too', async () => {
    expect(await new DockerSource(`tcp://127.0.0.1:${httpsPort}`, { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: pki }).version()).toBe('28.5.2-https');
  });

  it('a server certificate from another CA is refused', async () => {
    const other = join(tmp, 'other-ca');
    mkdirSync(other, { recursive: true });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(other, 'ca-key.pem'), '-out', join(other, 'ca.pem'), '-days', '2', '-subj', '/CN=other'], { stdio: 'pipe' });
    writeFileSync(join(other, 'cert.pem'), readFileSync(join(pki, 'cert.pem')));
    writeFileSync(join(other, 'key.pem'), readFileSync(join(pki, 'key.pem')));
    await expect(new DockerSource(`https://127.0.0.1:${httpsPort}`, { DOCKER_CERT_PATH: other }).version()).rejects.toThrow();
  });

  it('a missing client certificate file fails at construction, naming it', () => {
    expect(() => new DockerSource(`https://127.0.0.1:${httpsPort}`, { DOCKER_CERT_PATH: join(tmp, 'nowhere') })).toThrow(join(tmp, 'nowhere', 'ca.pem'));
  });
});

// Image labels decide which of a container's labels count (src/labels/image.ts). Asked of a fake
// Docker API on loopback: once per image id however many containers and syncs, bounded, with the
// same deadline as every other call, and "no such image" as an answer rather than a failure.
describe('DockerSource: image labels by image id', () => {
  const image = (n: number): string => `sha256:${String(n).repeat(64).slice(0, 64)}`;
  const container = (n: number, img: string) => ({
    Id: `${n}`.repeat(64).slice(0, 64),
    Name: `/c${n}`,
    Image: img,
    State: { Running: true },
    Config: { Image: `app${n}:1`, Labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' } },
  });
  const containers = new Map<string, object>();
  const images = new Map<string, object>();
  /** Image ids whose inspect never answers. */
  const hanging = new Set<string>();
  const asked: string[] = [];
  const held: Array<{ destroy(): void }> = [];
  let server: Server;
  let port = 0;

  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      const url = req.url ?? '';
      const c = /\/containers\/([0-9a-f]+)\/json/.exec(url);
      const i = /\/images\/(sha256:[0-9a-f]+)\/json/.exec(url);
      res.setHeader('Content-Type', 'application/json');
      if (c && containers.has(c[1]!)) return void res.end(JSON.stringify(containers.get(c[1]!)));
      if (i) {
        asked.push(i[1]!);
        if (hanging.has(i[1]!)) return void held.push(res.socket!);
        const labels = images.get(i[1]!);
        if (labels) return void res.end(JSON.stringify({ Id: i[1], Config: { Labels: labels } }));
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ message: 'No such object' }));
    });
    port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
  });

  afterAll(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => server.close(r));
  });

  afterEach(() => {
    asked.length = 0;
    containers.clear();
    images.clear();
    hanging.clear();
  });

  const source = (): DockerSource => new DockerSource(`tcp://127.0.0.1:${port}`, {});
  const add = (n: number, img: string): string => {
    const c = container(n, img);
    containers.set(c.Id, c);
    return c.Id;
  };

  it('asks once per image, for containers inspected together and for later inspects', async () => {
    images.set(image(1), { 'dockgate.ports': '80' });
    const ids = [add(1, image(1)), add(2, image(1)), add(3, image(1))];
    const s = source();
    const first = await Promise.all(ids.map((id) => s.inspect(id)));
    for (const f of first) expect(f?.image).toMatchObject({ kind: 'inspected', sameAsImage: ['dockgate.ports'] });
    await s.inspect(ids[0]!);
    expect(asked).toEqual([image(1)]);
  });

  it('an image Docker no longer has makes the container\'s labels unknown, and is asked again next time', async () => {
    const id = add(4, image(4));
    const s = source();
    expect((await s.inspect(id))?.image).toEqual({ kind: 'unknown', ref: 'app4:1', reason: `image ${'4'.repeat(12)} no longer exists` });
    images.set(image(4), {});
    expect((await s.inspect(id))?.image).toEqual({ kind: 'inspected', ref: 'app4:1', sameAsImage: [] });
    expect(asked).toEqual([image(4), image(4)]);
  });

  it('keeps at most imageCacheSize images, the least recently used going first', async () => {
    for (const n of [5, 6, 7]) images.set(image(n), {});
    const [a, b, c] = [add(5, image(5)), add(6, image(6)), add(7, image(7))];
    const s = source();
    s.imageCacheSize = 2;
    for (const id of [a, b, a, c, a, b]) await s.inspect(id!);
    // a b (cached) a (hit) c (evicts b) a (hit) b (asked again)
    expect(asked).toEqual([image(5), image(6), image(7), image(6)]);
  });

  it('an image inspect that does not answer fails the inspect within the deadline', async () => {
    hanging.add(image(8));
    const id = add(8, image(8));
    const s = source();
    s.apiTimeoutMs = 300;
    const t0 = Date.now();
    await expect(s.inspect(id)).rejects.toThrow(`docker image inspect ${'8'.repeat(12)} did not answer within 300 ms`);
    expect(Date.now() - t0).toBeLessThan(3_000);
  });
});
