// Deletes conntrack entries of published ports whose target changed, through the one queue.
import type { ConntrackFlush } from '../plan/host-settings.js';
import type { CommandQueue } from './command-queue.js';

export class Conntrack {
  #missing = false;
  constructor(readonly queue: CommandQueue, readonly command = 'conntrack') {}

  /** Returns how many entries were deleted; never throws (a missing tool is reported once). */
  async flush(items: readonly ConntrackFlush[]): Promise<{ deleted: number; error?: string }> {
    let deleted = 0;
    for (const f of items) {
      const args = ['-D', '-p', f.protocol, '--orig-port-dst', String(f.hostPort)];
      if (f.hostIp) args.push('--orig-dst', f.hostIp);
      const r = await this.queue.run(this.command, args);
      if (r.exitCode === 127) {
        if (this.#missing) return { deleted };
        this.#missing = true;
        return { deleted, error: `${this.command} not found: stale conntrack entries are not cleaned (install the conntrack package)` };
      }
      // conntrack exits 1 when nothing matched; the count is on stderr.
      const m = /(\d+) flow entries have been deleted/.exec(r.stderr);
      deleted += m ? Number(m[1]) : 0;
    }
    return { deleted };
  }
}
