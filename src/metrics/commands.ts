// Metrics for every command the one queue runs ("which commands make up the cost at rest"):
// how many, how each ended, and the wall time they took, per program and verb.
import { Counter, type Registry } from 'prom-client';
import { type CommandDone, outcomeOf } from '../dataplane/command-queue.js';

export class CommandMetrics {
  readonly runs: Counter<'program' | 'verb' | 'outcome'>;
  readonly seconds: Counter<'program' | 'verb'>;

  constructor(registers: Registry[]) {
    this.runs = new Counter({
      name: 'dockgate_commands_total',
      help: 'Processes run through the command queue (iptables-save, iptables-restore, ipset, nft, conntrack, ip, ...), by program, verb and how they ended: ok, failed (an exit status other than 0), timed-out, not-found, killed',
      labelNames: ['program', 'verb', 'outcome'],
      registers,
    });
    this.seconds = new Counter({
      name: 'dockgate_command_seconds_total',
      help: 'Wall time of the processes run through the command queue, by program and verb (wall time, not CPU time)',
      labelNames: ['program', 'verb'],
      registers,
    });
  }

  done(c: CommandDone): void {
    this.runs.inc({ program: c.program, verb: c.verb, outcome: outcomeOf(c.result) });
    this.seconds.inc({ program: c.program, verb: c.verb }, c.ms / 1000);
  }
}
