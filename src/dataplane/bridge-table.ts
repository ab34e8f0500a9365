// The `bridge dockgate` nft table (src/plan/antispoof.ts) through the command queue: written
// whole in one transaction at start-up and on repair, by element adds and deletes otherwise;
// read back as JSON and compared with the plan. What the chain and sets look like once nft has
// them is learned by loading the same skeleton into a scratch network namespace (`unshare
// --net`), so the comparison holds whatever nft version prints, and nothing of the host's is
// touched to learn it.
import type { BridgeFilter } from '../model/types.js';
import {
  BRIDGE_FAMILY,
  BRIDGE_TABLE,
  renderBridgeDiff,
  renderBridgeFlush,
  renderBridgeTable,
  renderSkeleton,
} from '../plan/antispoof.js';
import { type BridgeDrift, bridgeDrift, parseBridgeState } from '../plan/antispoof-state.js';
import { type CommandQueue, errorOutput, firstErrorLine, howEnded, succeeded } from './command-queue.js';
import { errorMessage } from '../util/errors.js';

export class BridgeTableError extends Error {
  override readonly name = 'BridgeTableError';
  constructor(
    message: string,
    /**
     * The kernel cannot hold the table at all, not even in a fresh namespace (no nf_tables bridge
     * family: small and restricted kernels): anti-spoofing is off, and retrying changes nothing.
     */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

export interface BridgeSyncResult {
  kind: 'full' | 'diff' | 'none';
  /** What a full sync found (absent for diffs and on the first write, which has nothing to repair). */
  drift?: BridgeDrift;
  durationMs: number;
}

export class BridgeTable {
  #applied: BridgeFilter | undefined;
  /** By the drop log's settings (the chain has its log rules only when it is on). */
  readonly #shapes = new Map<string, string>();

  constructor(readonly queue: CommandQueue, readonly command = 'nft') {}

  async #run(args: string[], input?: string): Promise<string> {
    const r = await this.queue.run(this.command, args, { input, timeoutMs: 30_000 });
    if (!succeeded(r)) {
      throw new BridgeTableError(`${this.command} ${args.join(' ')} failed (${howEnded(r)}): ${errorOutput(r).split('\n').slice(0, 3).join(' / ')}`);
    }
    return r.stdout;
  }

  /** The skeleton as this nft and kernel list it, learned once per drop-log setting. */
  async #skeletonShape(log?: BridgeFilter['log']): Promise<string> {
    const key = JSON.stringify(log ?? null);
    const known = this.#shapes.get(key);
    if (known !== undefined) return known;
    const script = `${this.command} -f - && ${this.command} -j list table ${BRIDGE_FAMILY} ${BRIDGE_TABLE}`;
    const r = await this.queue.run('unshare', ['--net', '--', 'sh', '-c', script], { input: renderSkeleton(log), timeoutMs: 30_000 });
    const state = succeeded(r) ? parseBridgeState(r.stdout) : undefined;
    if (!state) {
      // nft's words for a family the kernel has no nf_tables support for (EAFNOSUPPORT, EOPNOTSUPP).
      const unsupported = /not supported/i.test(errorOutput(r));
      throw new BridgeTableError(`cannot load the anti-spoofing table even in a scratch namespace (${howEnded(r)}): ${firstErrorLine(r)}`, unsupported);
    }
    this.#shapes.set(key, state.shape);
    return state.shape;
  }

  async #read() {
    const r = await this.queue.run(this.command, ['-j', 'list', 'table', BRIDGE_FAMILY, BRIDGE_TABLE], { timeoutMs: 30_000 });
    // Exit 1, "No such file or directory": the table is not there.
    if (!succeeded(r)) return undefined;
    return parseBridgeState(r.stdout);
  }

  /** Whether this kernel can hold the table at all (doctor); loads it only in a scratch namespace. */
  async supported(): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      await this.#skeletonShape();
      return { ok: true };
    } catch (err) {
      return { ok: false, reason: errorMessage(err) };
    }
  }

  /** How the kernel's table differs from `filter` (status). */
  async check(filter: BridgeFilter): Promise<BridgeDrift> {
    const shape = await this.#skeletonShape(filter.log);
    return bridgeDrift(filter, await this.#read(), shape);
  }

  /**
   * A diff from what was last written, or (full, or nothing written yet) a read, a compare and a
   * rewrite of the whole table when it differs. A failure forgets what was written.
   */
  async sync(filter: BridgeFilter, full: boolean): Promise<BridgeSyncResult> {
    const started = performance.now();
    try {
      if (!full && this.#applied !== undefined) {
        const text = renderBridgeDiff(this.#applied, filter);
        if (text !== '') await this.#run(['-f', '-'], text);
        this.#applied = filter;
        return { kind: text === '' ? 'none' : 'diff', durationMs: performance.now() - started };
      }
      const previous = this.#applied;
      const state = await this.#read();
      const toPlan = bridgeDrift(filter, state, await this.#skeletonShape(filter.log));
      if (!toPlan.clean) await this.#run(['-f', '-'], renderBridgeTable(filter));
      this.#applied = filter;
      // Drift is what someone else changed since dockgate's last write, judged against that write:
      // a full sync that also carries a planned change (a container that just started) is none.
      const drift = previous === undefined ? undefined : previous === filter ? toPlan : bridgeDrift(previous, state, await this.#skeletonShape(previous.log));
      return { kind: toPlan.clean ? 'none' : 'full', ...(drift ? { drift } : {}), durationMs: performance.now() - started };
    } catch (err) {
      this.#applied = undefined;
      throw err;
    }
  }

  /** Deletes the table (flush); false when it was not there. */
  async remove(): Promise<boolean> {
    this.#applied = undefined;
    const r = await this.queue.run(this.command, ['-f', '-'], { input: renderBridgeFlush(), timeoutMs: 30_000 });
    return succeeded(r);
  }
}
