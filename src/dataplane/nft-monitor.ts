// Drift found by the kernel, not by polling (nf_tables backend): `nft monitor` prints every
// ruleset change followed by `# new generation N by process PID (NAME)`. A change made by a
// process dockgate's queue did not start (an admin's `iptables -F`, a firewall reload) means "look
// now"; dockgate's own writes are recognised by their pid and ignored.
import type { Logger } from 'pino';
import type { CommandQueue } from './command-queue.js';
import { SupervisedMonitor } from './supervised.js';

const GENERATION = /^# new generation \d+ by process (\d+)/;
/** Set element churn (fail2ban's and CrowdSec's nft sets) never touches a rule dockgate depends on. */
const IGNORED = /^(add|delete|destroy) element /;

export interface ForeignChange {
  pid: number | undefined;
  /** The change as nft printed it (at most a few lines, for the log). */
  lines: string[];
}

/** Pure: groups monitor lines into changes and keeps those no process of ours made. */
export class ChangeParser {
  #pending: string[] = [];
  constructor(readonly ours: (pid: number) => boolean) {}

  /** Feeds one line; returns a change when this line closes one that is not ours. */
  line(text: string): ForeignChange | undefined {
    const m = GENERATION.exec(text);
    if (!m) {
      if (!text.startsWith('#') && !IGNORED.test(text)) this.#pending.push(text);
      return undefined;
    }
    const lines = this.#pending;
    this.#pending = [];
    const pid = Number(m[1]);
    if (lines.length === 0 || this.ours(pid)) return undefined;
    return { pid, lines: lines.slice(0, 5) };
  }
}

export interface NftMonitorOptions {
  queue: CommandQueue;
  log: Logger;
  /** Someone else changed the ruleset (or the watcher was down): check now. */
  onChange: (change: ForeignChange | undefined) => void;
  /** The watcher keeps dying: the daemon polls again. */
  onGiveUp: () => void;
  command?: string;
}

export class NftMonitor {
  readonly #monitor: SupervisedMonitor;

  constructor(o: NftMonitorOptions) {
    const parser = new ChangeParser((pid) => o.queue.started(pid));
    this.#monitor = new SupervisedMonitor({
      queue: o.queue,
      log: o.log,
      name: 'nft-monitor',
      command: o.command ?? 'nft',
      args: ['monitor'],
      onLine: (line, stream) => {
        // stderr: events lost (netlink overrun) or a failure: look again to be sure.
        if (stream === 'stderr') return o.onChange(undefined);
        const change = parser.line(line);
        if (change) o.onChange(change);
      },
      onGap: () => o.onChange(undefined),
      onGiveUp: o.onGiveUp,
    });
  }

  get pid(): number | undefined {
    return this.#monitor.pid;
  }

  /** It kept dying and was given up: the daemon polls as before. */
  get givenUp(): boolean {
    return this.#monitor.givenUp;
  }

  start(): void {
    this.#monitor.start();
  }

  stop(): Promise<void> {
    return this.#monitor.stop();
  }
}
