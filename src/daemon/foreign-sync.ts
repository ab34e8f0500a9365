// dockgate's footprint in other firewalls' nft base chains (see src/hostfw/ and README "Host
// firewalls"), kept after every sync.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import type { KernelAccess } from '../dataplane/families.js';
import { Footprint } from '../dataplane/footprint.js';
import type { Iptables } from '../dataplane/iptables.js';
import { Nft } from '../dataplane/nft.js';
import type { DaemonMetrics } from '../metrics/metrics.js';
import type { RuleSet } from '../model/types.js';
import { errorMessage } from '../util/errors.js';

export interface ForeignSyncOptions {
  log: Logger;
  config: () => Config;
  stopped: () => boolean;
  metrics: DaemonMetrics | undefined;
  /** Ask for another full sync (after a failure, or a table that vanished mid-reload). */
  recheck: () => void;
}

export class ForeignSync {
  readonly #o: ForeignSyncOptions;
  /** The footprint in other firewalls' chains, and what was last logged about it. */
  #state: { footprint: Footprint; iptables: Iptables; has: Set<string>; said: string } | undefined;

  constructor(options: ForeignSyncOptions) {
    this.#o = options;
  }

  /**
   * Other firewalls' base chains (native nft tables, firewalld): with foreign_chains allow,
   * dockgate's mark accept is kept directly before the catch-all drop of each that would drop its openings (below the admin's bans), checked and
   * put back on every sync (so within sync.drift_check_ms of a firewall reload); with leave,
   * each chain that blocks an opening is logged. Runs on the same command queue (and so the same
   * network namespace) as the iptables writes; never with a dataplane that is not real iptables.
   * A failure is logged and retried at the next check: it must not undo the iptables sync.
   */
  /**
   * Before the filter write: where the footprint is in use, the marks become the new plan's
   * first, so none outlives the accept it mirrors. A failure is logged; the write goes on (the
   * sync after it tries again).
   */
  async beforeWrite(plan: RuleSet): Promise<void> {
    if (!this.#state) return;
    try {
      await this.#state.footprint.marksFirst(plan, this.#o.config().foreignChainsMark);
    } catch (err) {
      const message = errorMessage(err);
      this.#o.log.error({ event: 'foreign-chains-failed', err: message }, `cannot write dockgate's marks: ${message}; retrying`);
    }
  }

  async sync(plan: RuleSet, kernel: KernelAccess | undefined): Promise<void> {
    if (!kernel) return;
    const iptables = kernel.v4;
    if (this.#state?.iptables !== iptables) {
      this.#state = { footprint: new Footprint(iptables, new Nft(iptables.queue), kernel.v6), iptables, has: this.#state?.has ?? new Set(), said: '' };
    }
    const state = this.#state;
    const mode = this.#o.config().foreignChains;
    // Another look after drift_check_ms: the change that caused a failure may be the last for a while.
    const retry = (): void => {
      setTimeout(() => {
        if (this.#o.stopped()) return;
        this.#o.recheck();
      }, this.#o.config().sync.driftCheckMs).unref();
    };
    const say = (key: string, log: () => void): void => {
      if (state.said !== key) log();
      state.said = key;
    };
    try {
      // Read at every sync, so a SIGHUP that changes foreign_chains_mark moves marks and accepts at the next one.
      const r = await state.footprint.sync(plan, mode, this.#o.config().foreignChainsMark);
      for (const { chain, where } of r.inserted) {
        // Seen there before: someone (a firewalld reload, `nft -f`, a ban tool adding a rule
        // below it) took it away or out of place.
        if (state.has.has(chain)) {
          this.#o.log.warn({ event: 'drift-repaired', table: chain, problem: 'footprint missing', where }, `put dockgate's mark accept back into ${where}`);
          this.#o.metrics?.driftRepaired('footprint_missing');
        } else {
          this.#o.log.info({ event: 'foreign-chain', chain, action: 'inserted', where }, `${chain} would drop what dockgate opens: added one mark accept (comment "dockgate") to ${where}, below every rule there that drops only some packets`);
        }
      }
      for (const chain of r.removed) {
        this.#o.log.info({ event: 'foreign-chain', chain, action: 'removed' }, `removed dockgate's mark accept from ${chain}`);
        state.has.delete(chain);
      }
      // Remembered while its table is gone too: the footprint coming back after a reload is a repair.
      if (mode === 'allow') for (const { chain } of r.inserted) state.has.add(chain);
      if (r.marksFailed !== undefined) {
        const message = r.marksFailed;
        say(`marks:${message}`, () => this.#o.log.error({ event: 'foreign-chains-failed', err: message }, `cannot write dockgate's marks: ${message}; retrying`));
        retry();
        return;
      }
      if (r.retry) retry();
      if (mode === 'leave' && r.needed.length > 0) {
        say(`leave:${r.needed.join(',')}`, () =>
          this.#o.log.warn(
            { event: 'foreign-chain-blocks', chains: r.needed },
            `foreign_chains is leave: ${r.needed.join(', ')} drop${r.needed.length === 1 ? 's' : ''} openings dockgate made; open them there, or set foreign_chains: allow (dockgate status names each)`,
          ),
        );
      } else {
        say('', () => undefined);
      }
    } catch (err) {
      const message = errorMessage(err);
      say(`error:${message}`, () =>
        this.#o.log.error({ event: 'foreign-chains-failed', err: message }, `cannot check other firewalls' chains: ${message}; retrying`),
      );
      retry();
    }
  }
}
