// A Docker the test scripts, for daemon tests without a dockerd: per container an answer, a hang
// (cut by the deadline as DockerSource does), or an answer held until released; events carry
// Docker's own timeNano, as the real stream does.
import type { DockerApi } from '../../src/daemon/docker-api.js';
import { type Clock, realClock } from '../../src/util/clock.js';
import type { DockerEvent, EventSubscription } from '../../src/docker/source.js';
import type { ContainerFacts, NetworkFacts } from '../../src/model/types.js';
import { BRIDGE } from '../plan/fixtures.js';

export class FakeDocker implements DockerApi {
  readonly host = 'fake://';
  apiTimeoutMs = 10_000;
  /** Where a hung call's deadline is counted: the daemon's clock (a FakeClock in fake-time tests). */
  clock: Clock = realClock;
  readonly running = new Map<string, ContainerFacts>();
  networks: NetworkFacts[] = [BRIDGE];
  /** Containers whose inspect never answers (the deadline turns that into an error). */
  readonly hung = new Set<string>();
  /** Containers whose inspect answers only when released (call the stored function). */
  readonly held = new Map<string, () => void>();
  inspects = 0;
  /** Docker's /info Swarm.LocalNodeState; a string so tests can send what Docker might. */
  swarm = 'inactive';
  /** /info fails (Docker busy or half up). */
  infoFails = false;
  swarmChecks = 0;
  #emit: ((e: DockerEvent) => void) | undefined;
  #end: ((e: Error | undefined) => void) | undefined;

  async listAllNetworks() {
    return { bridges: this.networks, others: [] };
  }
  async listIds() {
    return [...this.running.keys()];
  }
  async inspect(id: string): Promise<ContainerFacts | undefined> {
    this.inspects++;
    if (this.hung.has(id)) {
      await this.clock.sleep(this.apiTimeoutMs);
      throw new Error(`docker inspect ${id.slice(0, 12)} did not answer within ${this.apiTimeoutMs} ms`);
    }
    if (this.held.has(id)) await new Promise<void>((resolve) => this.held.set(id, resolve));
    return this.running.get(id);
  }
  async swarmState(): Promise<string> {
    this.swarmChecks++;
    if (this.infoFails) throw new Error('docker info: 500 server error');
    return this.swarm;
  }
  async subscribe(onEvent: (e: DockerEvent) => void): Promise<EventSubscription> {
    this.subscriptions++;
    this.#emit = onEvent;
    const ended = new Promise<Error | undefined>((resolve) => (this.#end = resolve));
    return { ended, close: () => this.#end?.(undefined) };
  }
  /** Docker's event timestamp: now on the clock. */
  #timeNano(): bigint {
    return BigInt(this.clock.now()) * 1_000_000n;
  }
  start(c: ContainerFacts, timeNano = this.#timeNano()): void {
    this.running.set(c.id, c);
    this.#emit?.({ type: 'container', action: 'start', containerId: c.id, timeNano });
  }
  stop(id: string): void {
    this.running.delete(id);
    this.#emit?.({ type: 'container', action: 'die', containerId: id, timeNano: this.#timeNano() });
  }
  subscriptions = 0;
  /** The events stream ends (dockerd restarted): the daemon must reconnect and resync in full. */
  disconnect(): void {
    this.#emit = undefined;
    this.#end?.(new Error('stream closed'));
  }
  /** While disconnected, a container starts: only a full resync can find it. */
  startSilently(c: ContainerFacts): void {
    this.running.set(c.id, c);
  }

  /** A network event (swarm init or join creates docker_gwbridge and ingress). */
  networkEvent(action: 'create' | 'destroy', networkId = 'f'.repeat(64)): void {
    this.#emit?.({ type: 'network', action, networkId, timeNano: this.#timeNano() });
  }

  /** An event for a container whose facts did not change (Docker restarts it, say). */
  poke(id: string): void {
    this.#emit?.({ type: 'container', action: 'start', containerId: id, timeNano: this.#timeNano() });
  }
}
