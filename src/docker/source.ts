// The only code that talks to Docker: lists, inspects, and turns the events stream into
// "something changed" signals.
import Docker from 'dockerode';
import { dockerOptions } from './endpoint.js';
import type { ContainerFacts, NetworkFacts, OtherNetwork } from '../model/types.js';
import { type ContainerInspect, type ImageAnswer, type NetworkInspect, imageIdOf, toContainerFacts, toNetworkFacts, toOtherNetwork } from './facts.js';

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

export interface EventSubscription {
  /** Resolves when the stream ends or fails (Docker restarted, socket closed). */
  ended: Promise<Error | undefined>;
  close(): void;
}

export class DockerSource {
  readonly #docker: Docker;

  /** `env` supplies $DOCKER_TLS_VERIFY and $DOCKER_CERT_PATH; throws DockerEndpointError. */
  constructor(readonly host: string, env: NodeJS.ProcessEnv = process.env) {
    this.#docker = new Docker(dockerOptions(host, env));
  }

  /**
   * Every call but the events stream has a deadline: a Docker that accepts the connection and
   * never answers (a wedged daemon, a container stuck in its start hooks) must not freeze the
   * firewall. The stream is exempt because silence is its normal state.
   */
  apiTimeoutMs = 10_000;

  #deadline(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.apiTimeoutMs) };
  }

  async version(): Promise<string> {
    // dockerode takes the options at run time; its typings only know the callback form.
    const version = this.#docker.version.bind(this.#docker) as unknown as (o: object) => Promise<{ Version?: string }>;
    const v = await version(this.#deadline()).catch(refused);
    return v.Version ?? 'unknown';
  }

  /** Docker's Swarm.LocalNodeState ("inactive" when /info has none). */
  async swarmState(): Promise<string> {
    const info = this.#docker.info.bind(this.#docker) as unknown as (o: object) => Promise<{ Swarm?: { LocalNodeState?: string } }>;
    try {
      return (await info(this.#deadline())).Swarm?.LocalNodeState ?? 'inactive';
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'AbortError' || name === 'TimeoutError') throw new Error(`docker info did not answer within ${this.apiTimeoutMs} ms`);
      throw apiVersionRefusal(err) ?? err;
    }
  }

  async listNetworks(): Promise<NetworkFacts[]> {
    return (await this.listAllNetworks()).bridges;
  }

  /** Bridge networks dockgate manages, and the others (macvlan, ipvlan, overlay, host) it can only report. */
  async listAllNetworks(): Promise<{ bridges: NetworkFacts[]; others: OtherNetwork[] }> {
    const list = (await this.#docker.listNetworks(this.#deadline()).catch(refused)) as NetworkInspect[];
    return {
      bridges: list.map(toNetworkFacts).filter((n): n is NetworkFacts => n !== undefined),
      others: list.map(toOtherNetwork).filter((n): n is OtherNetwork => n !== undefined),
    };
  }

  async listIds(): Promise<string[]> {
    const list = await this.#docker.listContainers({ all: false, ...this.#deadline() }).catch(refused);
    return list.map((c) => c.Id);
  }

  /**
   * Every running container, inspected in parallel. A container that cannot be inspected is
   * returned in `failed` instead of failing the whole list: one stuck container must not keep
   * every other one from being served.
   */
  async listRunning(): Promise<ContainerFacts[]> {
    const { containers, failed } = await this.listRunningSettled();
    if (failed.length > 0) throw failed[0]!.error;
    return containers;
  }

  async listRunningSettled(): Promise<{ containers: ContainerFacts[]; failed: Array<{ id: string; error: Error }> }> {
    const ids = await this.listIds();
    const containers: ContainerFacts[] = [];
    const failed: Array<{ id: string; error: Error }> = [];
    // A handful at a time: thousands of parallel inspects would only queue up inside dockerd.
    for (let i = 0; i < ids.length; i += 16) {
      const batch = ids.slice(i, i + 16);
      const results = await Promise.allSettled(batch.map((id) => this.inspect(id)));
      results.forEach((r, j) => {
        if (r.status === 'fulfilled') {
          if (r.value) containers.push(r.value);
        } else failed.push({ id: batch[j]!, error: r.reason as Error });
      });
    }
    return { containers, failed };
  }

  /** Undefined when the container is gone or not running (it may die between event and inspect). */
  async inspect(id: string): Promise<ContainerFacts | undefined> {
    let info: ContainerInspect;
    try {
      info = (await this.#docker.getContainer(id).inspect(this.#deadline())) as ContainerInspect;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw this.#timeoutError(err, `docker inspect ${id.slice(0, 12)}`);
    }
    return toContainerFacts(info, await this.#imageLabels(imageIdOf(info)));
  }

  /**
   * Image labels by image id: an id names immutable content, so they are asked of Docker once per
   * image, not once per container or sync, and containers of one image inspected together share
   * one question. Bounded, least recently used out first; a host runs far fewer distinct images.
   */
  readonly #images = new Map<string, Promise<unknown>>();
  imageCacheSize = 256;

  /** The image's labels. Docker's "no such image" is an answer (unknown); any other failure throws, as an inspect's would. */
  async #imageLabels(imageId: string | undefined): Promise<ImageAnswer> {
    if (imageId === undefined) return { kind: 'unknown', reason: 'docker inspect names no image id' };
    let labels = this.#images.get(imageId);
    if (labels) {
      this.#images.delete(imageId);
    } else {
      labels = this.#askImage(imageId);
      // Failures are not remembered: the next inspect asks again.
      const asked = labels;
      asked.catch(() => {
        if (this.#images.get(imageId) === asked) this.#images.delete(imageId);
      });
    }
    this.#images.set(imageId, labels);
    if (this.#images.size > this.imageCacheSize) this.#images.delete(this.#images.keys().next().value!);
    try {
      return { kind: 'inspected', labels: await labels };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return { kind: 'unknown', reason: `image ${imageId.slice(7, 19)} no longer exists` };
      throw this.#timeoutError(err, `docker image inspect ${imageId.slice(7, 19)}`);
    }
  }

  async #askImage(imageId: string): Promise<unknown> {
    // The request Image.inspect makes, made here because Image.inspect drops the abort signal
    // (Container.inspect passes it on): without it the deadline would not hold.
    const image = this.#docker.getImage(imageId) as { modem: { dial(o: object, cb: (err: unknown, data: unknown) => void): void } };
    const answer = await new Promise<unknown>((resolve, reject) => {
      image.modem.dial(
        {
          path: `/images/${imageId}/json`,
          method: 'GET',
          options: {},
          ...this.#deadline(),
          statusCodes: { 200: true, 404: 'no such image', 500: 'server error' },
        },
        (err, data) => (err ? reject(err as Error) : resolve(data)),
      );
    });
    const config = (answer as { Config?: unknown } | null)?.Config;
    return typeof config === 'object' && config !== null ? ((config as { Labels?: unknown }).Labels ?? {}) : {};
  }

  #timeoutError(err: unknown, what: string): unknown {
    const version = apiVersionRefusal(err);
    if (version) return version;
    const name = (err as Error).name;
    return name === 'AbortError' || name === 'TimeoutError' ? new Error(`${what} did not answer within ${this.apiTimeoutMs} ms`) : err;
  }

  async subscribe(onEvent: (e: DockerEvent) => void): Promise<EventSubscription> {
    const stream = (await this.#docker
      .getEvents({
        filters: { type: ['container', 'network'] },
      })
      .catch(refused)) as NodeJS.ReadableStream & { destroy?: () => void };
    const records = new EventRecords();
    const ended = new Promise<Error | undefined>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        for (const record of records.push(chunk.toString('utf8'))) {
          const e = parseEvent(record);
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

/**
 * The events stream cut into records. Docker answers in the form it negotiates: newline-delimited
 * JSON (application/json, application/jsonl, application/x-ndjson) or RFC 7464 JSON text
 * sequences (application/json-seq, each record after a 0x1E), so both separators end a record.
 */
export class EventRecords {
  #buffer = '';

  push(text: string): string[] {
    this.#buffer += text;
    const out: string[] = [];
    let end: number;
    while ((end = this.#buffer.search(/[\n\x1e]/)) >= 0) {
      const record = this.#buffer.slice(0, end).trim();
      this.#buffer = this.#buffer.slice(end + 1);
      if (record !== '') out.push(record);
    }
    return out;
  }
}

interface RawEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

/**
 * Docker's refusal of the API version a client asked for (HTTP 400: "client version 1.24 is too
 * old. Minimum supported API version is 1.44, …" — Docker 29 refuses anything before 1.44), as an
 * error naming both versions; undefined for any other error.
 */
export function apiVersionRefusal(err: unknown): Error | undefined {
  const text = String((err as { message?: unknown })?.message ?? '');
  const m = /client version (\d+\.\d+) is too (old|new)\. (Minimum|Maximum) supported API version is (\d+\.\d+)/i.exec(text);
  if (!m) return undefined;
  const [, asked, , bound, limit] = m;
  // dockgate asks without a version (Docker answers in its own), so the version was pinned on the way.
  const fix =
    bound!.toLowerCase() === 'minimum'
      ? `dockgate does not pin a version, so something between it and Docker (a socket proxy) does: let dockgate's requests through unversioned, or pin ${limit} or newer`
      : `Docker is older than API ${asked}, which something between dockgate and Docker (a socket proxy) pins: pin ${limit} or older there, or upgrade Docker`;
  return new Error(`Docker refuses API version ${asked} (its ${bound!.toLowerCase()} is ${limit}): ${fix}`);
}

/** Rethrows an API version refusal as the error that names the versions, anything else as it is. */
const refused = (err: unknown): never => {
  throw apiVersionRefusal(err) ?? err;
};

export function parseEvent(line: string): DockerEvent | undefined {
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const action = (raw.Action ?? '').split(':')[0] ?? '';
  // Nanoseconds since the epoch are beyond a double's 53 bits: read the digits, not the parsed number.
  const digits = /"timeNano"\s*:\s*(\d{1,20})\b/.exec(line)?.[1];
  const timeNano = digits !== undefined ? BigInt(digits) : typeof raw.timeNano === 'number' ? BigInt(Math.round(raw.timeNano)) : undefined;
  if (raw.Type === 'container' && CONTAINER_ACTIONS.has(action)) {
    return { type: 'container', action, containerId: raw.Actor?.ID, timeNano };
  }
  if (raw.Type === 'network' && NETWORK_ACTIONS.has(action)) {
    return { type: 'network', action, networkId: raw.Actor?.ID, containerId: raw.Actor?.Attributes?.container, timeNano };
  }
  return undefined;
}
