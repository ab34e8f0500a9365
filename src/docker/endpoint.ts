// Where Docker is and how to reach it: docker.host or the environment ($DOCKER_HOST,
// $DOCKER_TLS_VERIFY, $DOCKER_CERT_PATH) turned into dockerode's connection options.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { parseDockerAddress } from '../config/endpoints.js';
import { errorMessage } from '../util/errors.js';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
export const DEFAULT_DOCKER_HOST = `unix://${DEFAULT_DOCKER_SOCKET}`;

/**
 * The Docker address dockgate uses: docker.host (`host`) when set; "" means the environment,
 * read as the Docker CLI reads it: $DOCKER_HOST, a bare HOST:PORT being tcp, else the local
 * socket. The one place $DOCKER_HOST is read.
 */
export function dockerHost(host: string, env: NodeJS.ProcessEnv = process.env): string {
  if (host !== '') return host;
  const fromEnv = env.DOCKER_HOST ?? '';
  if (fromEnv === '') return DEFAULT_DOCKER_HOST;
  return fromEnv.includes('://') ? fromEnv : `tcp://${fromEnv}`;
}

/** docker.host or the environment names a Docker endpoint dockgate cannot or must not use. */
export class DockerEndpointError extends Error {
  override readonly name = 'DockerEndpointError';
}

/**
 * How to reach Docker: `host` is docker.host, "" meaning the environment (dockerHost). TLS, always verified
 * and with the client certificate, for https:// and for tcp:// when $DOCKER_TLS_VERIFY is set to
 * anything; the files are ca.pem, cert.pem and key.pem in $DOCKER_CERT_PATH, else ~/.docker.
 *
 * Every connection field is set, unset ones to undefined: docker-modem reads $DOCKER_HOST,
 * $DOCKER_CERT_PATH and $DOCKER_CLIENT_TIMEOUT itself and lets them win over what is not given.
 */
export function dockerOptions(host: string, env: NodeJS.ProcessEnv = process.env): Docker.DockerOptions {
  const text = dockerHost(host, env);
  const where = host === '' ? `"" means $DOCKER_HOST, which is ${JSON.stringify(env.DOCKER_HOST ?? '')}` : JSON.stringify(host);
  const parsed = parseDockerAddress(text);
  if (!parsed.ok) throw new DockerEndpointError(`${where}: ${parsed.error}`);
  const a = parsed.value;
  const none = { socketPath: undefined, host: undefined, port: undefined, protocol: undefined, ca: undefined, cert: undefined, key: undefined, timeout: undefined };
  if (a.scheme === 'unix') return { ...none, socketPath: a.path };
  const tls = a.scheme === 'https' || (a.scheme === 'tcp' && (env.DOCKER_TLS_VERIFY ?? '') !== '');
  if (!tls) return { ...none, host: a.host, port: a.port ?? 2375, protocol: 'http' };
  const dir = env.DOCKER_CERT_PATH || join(env.HOME || homedir(), '.docker');
  const why = a.scheme === 'https' ? 'https://' : 'tcp:// with $DOCKER_TLS_VERIFY set';
  const read = (file: string): Buffer => {
    const path = join(dir, file);
    try {
      return readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const problem = code === 'ENOENT' ? 'no such file' : `cannot read it (${code ?? errorMessage(err)})`;
      throw new DockerEndpointError(
        `${where}: ${why} means TLS, which needs ${path}: ${problem} (ca.pem, cert.pem and key.pem are read from $DOCKER_CERT_PATH, else ~/.docker)`,
      );
    }
  };
  return { ...none, host: a.host, port: a.port ?? 2376, protocol: 'https', ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}
