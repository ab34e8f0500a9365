// Deletes the conntrack entries of changed openings, through the one queue.
import { boundAddress } from '../model/format.js';
import type { Family } from '../model/types.js';
import type { ConntrackFlush } from '../plan/host-settings.js';
import { type CommandQueue, exitedWith, failureMessage, succeeded } from './command-queue.js';
import { readLocalDestinations } from './routes.js';
import { errorMessage } from '../util/errors.js';

/**
 * Flows that reached an any-address host port without DNAT are told apart from the host's own
 * flows out to that port number elsewhere only by where they were sent: to a local destination.
 */
export const needsLocalDestinations = (f: ConntrackFlush): boolean => f.target === undefined && f.hostIp.kind === 'any';

/**
 * `conntrack -D` argument lists that together match one changed opening's flows and nothing else.
 * `local`: the namespace's local destinations of the flush's family (canonical CIDRs), used only
 * where needsLocalDestinations says so: one list per destination.
 */
export function conntrackDeletions(f: ConntrackFlush, local: readonly string[] = []): string[][] {
  const base = ['-D', ...(f.family === 6 ? ['-f', 'ipv6'] : []), '-p', f.protocol, '--orig-port-dst', String(f.hostPort)];
  const hostIp = boundAddress(f.hostIp);
  if (f.target) {
    // The reply comes from the DNAT target: this tells the old container's flows apart from the
    // new one's on the same host port, and from the host's own flows to that port number.
    return [[...base, ...(hostIp !== undefined ? ['--orig-dst', hostIp] : []), '--reply-src', f.target.ip, '--reply-port-src', String(f.target.port)]];
  }
  // Not DNATed: the reply comes from the very address and port the client sent to.
  if (hostIp !== undefined) return [[...base, '--orig-dst', hostIp, '--reply-src', hostIp, '--reply-port-src', String(f.hostPort)]];
  return local.map((dst) => [...base, '--orig-dst', dst, '--reply-port-src', String(f.hostPort)]);
}

export interface ConntrackOptions {
  command?: string;
  /** conntrack shares the queue with iptables-restore: a hung one must not stall every write. */
  timeoutMs?: number;
  /** iproute2's `ip`, which lists the local destinations. */
  ipCommand?: string;
}

export interface ConntrackResult {
  deleted: number;
  /** The tool is missing; said once per process, then silent. */
  warning?: string;
  /** One line per failed deletion, with conntrack's stderr. */
  errors: string[];
}

const DELETED = /(\d+) flow entries have been deleted/;

export class Conntrack {
  #missing = false;
  readonly command: string;
  readonly timeoutMs: number;
  readonly ipCommand: string;

  constructor(
    readonly queue: CommandQueue,
    options: ConntrackOptions = {},
  ) {
    this.command = options.command ?? 'conntrack';
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.ipCommand = options.ipCommand ?? 'ip';
  }

  /** Never throws: a failed clean-up must not fail the sync that wrote the rules. */
  async flush(items: readonly ConntrackFlush[]): Promise<ConntrackResult> {
    const result: ConntrackResult = { deleted: 0, errors: [] };
    const local = new Map<Family, readonly string[]>();
    for (const f of items) {
      if (this.#missing) break;
      let destinations: readonly string[] = [];
      if (needsLocalDestinations(f)) {
        try {
          destinations = local.get(f.family) ?? (await readLocalDestinations(this.queue, f.family, this.ipCommand));
          local.set(f.family, destinations);
        } catch (err) {
          // Deleting by port alone would also cut the host's outbound flows to that port: none.
          result.errors.push(`local addresses unknown, IPv${f.family} ${f.protocol} port ${f.hostPort} not cleaned: ${errorMessage(err)}`);
          continue;
        }
      }
      for (const args of conntrackDeletions(f, destinations)) {
        if (this.#missing) break;
        await this.#delete(args, result);
      }
    }
    return result;
  }

  async #delete(args: string[], result: ConntrackResult): Promise<void> {
    const r = await this.queue.run(this.command, args, { timeoutMs: this.timeoutMs });
    const m = r.kind === 'exited' ? DELETED.exec(r.stderr) : null;
    if (succeeded(r) || (exitedWith(r, 1) && m?.[1] === '0')) {
      // Exit 1 with "0 flow entries have been deleted" only means nothing matched.
      result.deleted += m ? Number(m[1]) : 0;
    } else if (r.kind === 'not-found') {
      this.#missing = true;
      result.warning = `${this.command} not found: stale conntrack entries are not cleaned (install the conntrack package)`;
    } else if (r.kind === 'timed-out') {
      result.errors.push(`${this.command} ${args.join(' ')} timed out after ${this.timeoutMs} ms`);
    } else {
      result.errors.push(r.kind === 'exited' ? `${this.command} ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim() || '(no message)'}` : failureMessage(`${this.command} ${args.join(' ')}`, r));
    }
  }
}
