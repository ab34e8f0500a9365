// Anti-spoofing (src/plan/antispoof.ts) for the daemon: finds the host end of each container
// interface before a plan is made, and keeps the `bridge dockgate` table equal to the plan after
// each iptables write. Works only with the real iptables dataplane, on its command queue (and so
// in its network namespace); a test's in-memory dataplane gets neither lookups nor nft.
import type { Logger } from 'pino';
import { BridgePorts } from '../dataplane/bridge-ports.js';
import { BridgeTable, BridgeTableError } from '../dataplane/bridge-table.js';
import type { CommandQueue } from '../dataplane/command-queue.js';
import type { KernelAccess } from '../dataplane/families.js';
import type { BridgePort, ContainerFacts, NetworkFacts, RuleSet } from '../model/types.js';
import { type Clock, realClock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';

export interface BridgeSyncOptions {
  log: Logger;
  stopped: () => boolean;
  /** Ask for another full sync after a failure. */
  recheck: () => void;
  /** Milliseconds before that retry. */
  retryMs: () => number;
  clock?: Clock;
}

interface State {
  queue: CommandQueue;
  ports: BridgePorts;
  table: BridgeTable;
}

export class BridgeSync {
  readonly #o: BridgeSyncOptions;
  #state: State | undefined;
  /** Containers whose ports were not found, already logged (once each). */
  #saidMissing = new Set<string>();
  #saidError = '';

  constructor(options: BridgeSyncOptions) {
    this.#o = options;
  }

  #for(kernel: KernelAccess | undefined): State | undefined {
    if (!kernel) return undefined;
    const iptables = kernel.v4;
    if (this.#state?.queue !== iptables.queue) {
      this.#state = { queue: iptables.queue, ports: new BridgePorts(iptables.queue), table: new BridgeTable(iptables.queue) };
    }
    return this.#state;
  }

  /** The ports of the containers' interfaces on managed bridges; those not found are logged once. */
  async ports(kernel: KernelAccess | undefined, containers: readonly ContainerFacts[], networks: readonly NetworkFacts[]): Promise<BridgePort[]> {
    const state = this.#for(kernel);
    if (!state) return [];
    const r = await state.ports.lookup(containers, networks);
    const failing = new Set<string>();
    for (const { container, reason } of r.failed) {
      failing.add(container.id);
      if (this.#saidMissing.has(container.id)) continue;
      this.#o.log.warn(
        { event: 'bridge-port-unknown', container: container.name, id: container.id.slice(0, 12), reason },
        `${container.name}: its port on the bridge is not known (${reason}); its packets are dropped until it is`,
      );
    }
    this.#saidMissing = failing;
    return r.ports;
  }

  /** Makes the table what the plan says; a failure is logged and retried, and never undoes the iptables write. */
  async apply(plan: RuleSet, kernel: KernelAccess | undefined, full: boolean): Promise<void> {
    const state = this.#for(kernel);
    if (!state || plan.bridge === undefined) return;
    try {
      const r = await state.table.sync(plan.bridge, full);
      this.#saidError = '';
      const d = r.drift;
      if (d && !d.clean) {
        const problem = d.absent ? 'table missing' : d.shapeChanged ? 'chain or sets changed' : 'set elements differ';
        this.#o.log.warn(
          { event: 'drift-repaired', table: 'bridge dockgate', problem, missing: d.missing.slice(0, 20), unexpected: d.unexpected.slice(0, 20), durationMs: Math.round(r.durationMs) },
          `repaired the anti-spoofing table bridge dockgate: ${problem}`,
        );
      }
    } catch (err) {
      const message = errorMessage(err);
      if (this.#saidError !== message && err instanceof BridgeTableError && err.unsupported) {
        // A small kernel (no nf_tables bridge family): the iptables rules hold regardless, one warning.
        this.#o.log.warn(
          { event: 'kernel-limit', table: 'bridge dockgate', missing: true, err: message },
          `anti-spoofing is off: this kernel cannot hold the nft bridge table (${message}); a container with CAP_NET_RAW can send from addresses not its own`,
        );
      } else if (this.#saidError !== message) {
        this.#o.log.error({ event: 'anti-spoofing-failed', err: message }, `cannot write the anti-spoofing table bridge dockgate: ${message}; retrying`);
      }
      this.#saidError = message;
      (this.#o.clock ?? realClock)
        .setTimeout(() => {
          if (!this.#o.stopped()) this.#o.recheck();
        }, this.#o.retryMs())
        .unref();
    }
  }
}
