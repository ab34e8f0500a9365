// Every command the queue runs, for whoever asks why dockgate costs what it costs at rest: one
// debug line each (the benchmark tallies them per window) and the command metrics when on.
import type { Logger } from 'pino';
import { type CommandDone, howEnded, outcomeOf } from '../dataplane/command-queue.js';
import type { DaemonMetrics } from '../metrics/metrics.js';

/** The queue's onDone for the daemon: a debug line per command, and the metrics if kept. */
export function commandObserver(log: Logger, metrics?: Pick<DaemonMetrics, 'commandDone'>): (c: CommandDone) => void {
  return (c) => {
    metrics?.commandDone?.(c);
    // Checked first: at info (the default) the line is not even built.
    if (!log.isLevelEnabled('debug')) return;
    const ms = Math.round(c.ms * 10) / 10;
    log.debug({ event: 'command', program: c.program, verb: c.verb, ms, outcome: outcomeOf(c.result) }, `${c.program} ${c.verb}: ${howEnded(c.result)} in ${ms} ms`);
  };
}
