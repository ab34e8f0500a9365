// Docker's answers for doctor: version and swarm state. Its own small client with a short
// timeout, so that a hung Docker makes doctor report a failure instead of hanging too. And what
// a swarm state means for dockgate, for doctor and the daemon alike.
import Docker from 'dockerode';
import { dockerOptions } from './endpoint.js';

export type DockerFacts =
  | { host: string; reachable: true; version: string; swarm: string; /** /info FirewallBackend.Driver (API 1.49+). */ firewallBackend?: string }
  | { host: string; reachable: false; error: string };

interface InfoReply {
  ServerVersion?: string;
  Swarm?: { LocalNodeState?: string };
  /** API 1.49+. */
  FirewallBackend?: { Driver?: unknown } | null;
}

export async function readDockerFacts(host: string, timeoutMs = 5000): Promise<DockerFacts> {
  const docker = new Docker({ ...dockerOptions(host), timeout: timeoutMs });
  try {
    const info = (await docker.info()) as InfoReply;
    const driver = info.FirewallBackend?.Driver;
    return {
      host,
      reachable: true,
      version: info.ServerVersion ?? 'unknown',
      swarm: info.Swarm?.LocalNodeState ?? '',
      ...(typeof driver === 'string' && /^[a-z0-9+_-]{1,40}$/.test(driver) ? { firewallBackend: driver } : {}),
    };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { statusCode?: number };
    const why = e.code === 'ENOENT' ? 'no socket there' : e.code === 'ECONNREFUSED' ? 'connection refused' : e.message;
    return { host, reachable: false, error: why };
  }
}

/**
 * A node in a swarm, or joining or locked in one (Docker's Swarm.LocalNodeState). Swarm's routing
 * mesh and overlay networks need Docker's own iptables rules, which dockgate replaces. "error" is a
 * join that failed: not in a swarm.
 */
export function inSwarm(localNodeState: string): boolean {
  return localNodeState === 'active' || localNodeState === 'pending' || localNodeState === 'locked';
}

const WHY = "swarm needs Docker's own iptables rules, which dockgate replaces";

/** `dockgate run` on a swarm node: it stops before writing anything (exit 2). */
export class SwarmNodeError extends Error {
  constructor(readonly localNodeState: string) {
    super(
      `this Docker node is in a swarm (Swarm.LocalNodeState ${localNodeState}): ${WHY}, so dockgate does not run here. ` +
        'Leave the swarm (docker swarm leave) or do not use dockgate on this host.',
    );
    this.name = 'SwarmNodeError';
  }
}

/** The same finding once dockgate's rules are in place: stopping would not remove them. */
export function joinedSwarmMessage(localNodeState: string): string {
  return (
    `this Docker node is in a swarm (Swarm.LocalNodeState ${localNodeState}): ${WHY}. dockgate keeps enforcing the ` +
    "containers' labels (stopping it would leave its rules in place), but swarm services will not work as swarm expects, " +
    'and dockgate will not start again while the node is in a swarm. Leave the swarm (docker swarm leave), ' +
    'or stop dockgate and run dockgate flush, then give Docker its iptables back.'
  );
}
