// The only code that talks to Docker: lists, inspects, and turns the events stream into
// "something changed" signals.
import Docker from 'dockerode';
import type { ContainerFacts, NetworkFacts } from '../model/types.js';
import { type ContainerInspect, type NetworkInspect, toContainerFacts, toNetworkFacts } from './facts.js';

export interface DockerEvent {
  type: 'container' | 'network';
  action: string;
  /** Container id for container events and network connect/disconnect; network id otherwise. */
  containerId?: string;
  networkId?: string;
  /** Docker's own timestamp, nanoseconds since the epoch. */
  timeNano?: bigint;
}

/** Events that can change what dockgate must write. */
const CONTAINER_ACTIONS = new Set(['start', 'die', 'destroy', 'rename', 'unpause', 'restart']);
const NETWORK_ACTIONS = new Set(['connect', 'disconnect', 'create', 'destroy']);

export function dockerOptions(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  const url = new URL(host.replace(/^tcp:\/\//, 'http://'));
  return { host: url.hostname, port: Number(url.port || 2375), protocol: 'http' };
}

export interface EventSubscription {
  /** Resolves when the stream ends or fails (Docker restarted, socket closed). */
  ended: Promise<Error | undefined>;
  close(): void;
}

export class DockerSource {
  readonly #docker: Docker;

  constructor(readonly host: string) {
    this.#docker = new Docker(dockerOptions(host));
  }

  async version(): Promise<string> {
    const v = (await this.#docker.version()) as { Version?: string };
    return v.Version ?? 'unknown';
  }

  async listNetworks(): Promise<NetworkFacts[]> {
    const list = (await this.#docker.listNetworks({ filters: { driver: ['bridge'] } })) as NetworkInspect[];
    return list.map(toNetworkFacts).filter((n): n is NetworkFacts => n !== undefined);
  }

  async listRunning(): Promise<ContainerFacts[]> {
    const list = await this.#docker.listContainers({ all: false });
    const out: ContainerFacts[] = [];
    for (const c of list) {
      const facts = await this.inspect(c.Id);
      if (facts) out.push(facts);
    }
    return out;
  }

  /** Undefined when the container is gone or not running (it may die between event and inspect). */
  async inspect(id: string): Promise<ContainerFacts | undefined> {
    try {
      const info = (await this.#docker.getContainer(id).inspect()) as ContainerInspect;
      return toContainerFacts(info);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async subscribe(onEvent: (e: DockerEvent) => void): Promise<EventSubscription> {
    const stream = (await this.#docker.getEvents({
      filters: { type: ['container', 'network'] },
    })) as NodeJS.ReadableStream & { destroy?: () => void };
    let buffer = '';
    const ended = new Promise<Error | undefined>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          if (line === '') continue;
          const e = parseEvent(line);
          if (e) onEvent(e);
        }
      });
      stream.on('end', () => resolve(undefined));
      stream.on('close', () => resolve(undefined));
      stream.on('error', (err: Error) => resolve(err));
    });
    return { ended, close: () => stream.destroy?.() };
  }
}

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

export function parseEvent(line: string): DockerEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const action = (raw.Action ?? '').split(':')[0] ?? '';
  const timeNano = typeof raw.timeNano === 'number' ? BigInt(Math.round(raw.timeNano)) : undefined;
  if (raw.Type === 'container' && CONTAINER_ACTIONS.has(action)) {
    return { type: 'container', action, containerId: raw.Actor?.ID, timeNano };
  }
  if (raw.Type === 'network' && NETWORK_ACTIONS.has(action)) {
    return { type: 'network', action, networkId: raw.Actor?.ID, containerId: raw.Actor?.Attributes?.container, timeNano };
  }
  return undefined;
}
