// Docker's answers for doctor: version and swarm state. Its own small client with a short
// timeout, so that a hung Docker makes doctor report a failure instead of hanging too.
import Docker from 'dockerode';
import { dockerOptions } from './source.js';
import type { DockerFacts } from '../doctor/doctor-checks.js';

interface InfoReply {
  ServerVersion?: string;
  Swarm?: { LocalNodeState?: string };
}

export async function readDockerFacts(host: string, timeoutMs = 5000): Promise<DockerFacts> {
  const docker = new Docker({ ...dockerOptions(host), timeout: timeoutMs });
  try {
    const info = (await docker.info()) as InfoReply;
    return { host, reachable: true, version: info.ServerVersion ?? 'unknown', swarm: info.Swarm?.LocalNodeState ?? '' };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { statusCode?: number };
    const why = e.code === 'ENOENT' ? 'no socket there' : e.code === 'ECONNREFUSED' ? 'connection refused' : e.message;
    return { host, reachable: false, error: why };
  }
}
