// The addresses the config names beyond the firewall: Docker's (docker.host, $DOCKER_HOST) and the
// metrics listener's, parsed with a reason for every refusal.
import type { Result } from '../model/result.js';
import { parseAddress } from '../net/address.js';
import { describeValue } from './schema-parts.js';

/**
 * Where the Prometheus metrics are served (GET /metrics): nowhere (the default), a unix socket,
 * or a loopback TCP address. Never a network address: firewall internals are not for the network.
 */
export type MetricsListen = { kind: 'off' } | { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

// unix:///PATH, or tcp|http|https://HOST[:PORT][/]. No path prefix, user or query: dockerode
// would drop them without a word. ssh:// is refused below with its own reason.
const DOCKER_HOST_RE = /^(?:unix:\/\/(\/\S+)|(tcp|http|https):\/\/([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?)$/;
export const DOCKER_HOST_SUPPORTED = 'unix:///PATH, tcp://HOST[:PORT], http://HOST[:PORT] or https://HOST[:PORT]';

export type DockerAddress =
  | { scheme: 'unix'; path: string }
  | { scheme: 'tcp' | 'http' | 'https'; host: string; port: number | undefined };

/**
 * A Docker address as docker.host or $DOCKER_HOST spells it. Schemes the Docker CLI knows but
 * dockgate cannot honour get their own reason, so nobody is left guessing why.
 */
export function parseDockerAddress(text: string): Result<DockerAddress> {
  const m = DOCKER_HOST_RE.exec(text);
  if (m?.[1] !== undefined) return { ok: true, value: { scheme: 'unix', path: m[1] } };
  const port = m?.[4] === undefined ? undefined : Number(m[4]);
  if (m && (port === undefined || (port >= 1 && port <= 65535))) {
    // URLs bracket IPv6 addresses; sockets want them bare.
    const host = m[3]!.replace(/^\[(.*)\]$/, '$1');
    return { ok: true, value: { scheme: m[2] as 'tcp' | 'http' | 'https', host, port } };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'ssh') {
    return {
      ok: false,
      // docker-modem's ssh would skip host-key checking and find no key under systemd.
      error: `ssh:// is not supported: dockgate connects to ${DOCKER_HOST_SUPPORTED} (to reach a remote Docker over ssh, forward its socket, e.g. ssh -L /run/dockgate-docker.sock:/var/run/docker.sock HOST, and use unix:///run/dockgate-docker.sock)`,
    };
  }
  if (scheme === 'npipe' || scheme === 'fd') {
    return { ok: false, error: `${scheme}:// is not supported: dockgate connects to ${DOCKER_HOST_SUPPORTED}` };
  }
  return { ok: false, error: `expected ${DOCKER_HOST_SUPPORTED}` };
}

export const METRICS_LISTEN_WHAT = '"" (off), an absolute unix socket path such as /run/dockgate/metrics.sock, or 127.0.0.1:PORT or [::1]:PORT';
// sun_path holds 108 bytes with the terminating NUL; a longer path cannot be bound at all.
export const UNIX_PATH_MAX = 107;

/** metrics.listen as written; the reason of a refusal is the whole message after the key. */
export function parseMetricsListen(text: string): Result<MetricsListen> {
  const got = `got ${describeValue(text)}`;
  if (text === '') return { ok: true, value: { kind: 'off' } };
  if (text.startsWith('/')) {
    // Control characters would make the path unreadable in logs and ls; a trailing / is a directory.
    if (/[\x00-\x1f\x7f]/.test(text) || text.endsWith('/')) return { ok: false, error: `expected ${METRICS_LISTEN_WHAT}, ${got}` };
    if (Buffer.byteLength(text) > UNIX_PATH_MAX) return { ok: false, error: `a unix socket path is at most ${UNIX_PATH_MAX} bytes, got ${Buffer.byteLength(text)}` };
    return { ok: true, value: { kind: 'unix', path: text } };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(text);
  if (!m) return { ok: false, error: `expected ${METRICS_LISTEN_WHAT}, ${got}` };
  const [, v6, v4 = '', portText = ''] = m;
  const port = Number(portText);
  const addr = parseAddress(v6 ?? v4);
  const host = addr.ok && (addr.value.text === '::1' || (addr.value.family === 4 && addr.value.text.startsWith('127.'))) ? addr.value.text : undefined;
  if (host === undefined) {
    const named = v6 === undefined && /^[A-Za-z]/.test(v4);
    return {
      ok: false,
      error: named
        ? `expected 127.0.0.1:PORT or [::1]:PORT, not a host name, ${got}`
        : // Anything else can be reached from other machines (0.0.0.0 and [::] from all of them).
          `${describeValue(text)} is not a loopback address: dockgate serves metrics only on a unix socket, 127.0.0.1:PORT or [::1]:PORT (exposing firewall internals on the network is not its job; put a proxy with authentication in front if you must)`,
    };
  }
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || port > 65535) return { ok: false, error: `expected a port from 1 to 65535 after the address, ${got}` };
  return { ok: true, value: { kind: 'tcp', host, port } };
}
