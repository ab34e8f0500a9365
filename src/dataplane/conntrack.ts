// Deletes the conntrack entries of changed openings, through the one queue.
import { boundAddress } from '../model/format.js';
import type { ConntrackFlush } from '../plan/host-settings.js';
import type { CommandQueue } from './command-queue.js';

/** `conntrack -D` arguments that match one changed opening's flows and nothing else. */
export function conntrackDeleteArgs(f: ConntrackFlush): string[] {
  const args = ['-D', ...(f.family === 6 ? ['-f', 'ipv6'] : []), '-p', f.protocol, '--orig-port-dst', String(f.hostPort)];
  const hostIp = boundAddress(f.hostIp);
  if (hostIp !== undefined) args.push('--orig-dst', hostIp);
  if (f.target) {
    // The reply comes from the DNAT target: this tells the old container's flows apart from the
    // new one's on the same host port, and from the host's own flows to that port number.
    args.push('--reply-src', f.target.ip, '--reply-port-src', String(f.target.port));
  } else {
    // Not DNATed: the reply comes from the very address and port the client sent to.
    if (hostIp !== undefined) args.push('--reply-src', hostIp);
    args.push('--reply-port-src', String(f.hostPort));
  }
  return args;
}

export interface ConntrackOptions {
  command?: string;
  /** conntrack shares the queue with iptables-restore: a hung one must not stall every write. */
  timeoutMs?: number;
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

  constructor(
    readonly queue: CommandQueue,
    options: ConntrackOptions = {},
  ) {
    this.command = options.command ?? 'conntrack';
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Never throws: a failed clean-up must not fail the sync that wrote the rules. */
  async flush(items: readonly ConntrackFlush[]): Promise<ConntrackResult> {
    const result: ConntrackResult = { deleted: 0, errors: [] };
    for (const f of items) {
      if (this.#missing) break;
      const args = conntrackDeleteArgs(f);
      const r = await this.queue.run(this.command, args, { timeoutMs: this.timeoutMs });
      const stderr = r.stderr.trim();
      const m = DELETED.exec(r.stderr);
      if (r.exitCode === 0 || (r.exitCode === 1 && m?.[1] === '0')) {
        // Exit 1 with "0 flow entries have been deleted" only means nothing matched.
        result.deleted += m ? Number(m[1]) : 0;
      } else if (r.exitCode === 127) {
        this.#missing = true;
        result.warning = `${this.command} not found: stale conntrack entries are not cleaned (install the conntrack package)`;
      } else if (r.exitCode === 124) {
        result.errors.push(`${this.command} ${args.join(' ')} timed out after ${this.timeoutMs} ms`);
      } else {
        result.errors.push(`${this.command} ${args.join(' ')} failed (exit ${r.exitCode}): ${stderr || '(no message)'}`);
      }
    }
    return result;
  }
}
