// The daemon's observer of its command queue, on real tiny commands: one debug line per command
// (the benchmark tallies them) and the command metrics.
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { commandObserver } from '../../src/daemon/command-log.js';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { sample } from '../metrics/prom-text.js';

function logAt(level: 'debug' | 'info') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: pino({ base: null, level }, sink), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('commandObserver', () => {
  it('logs every command at debug with program, verb, wall ms and outcome, and counts it', async () => {
    const { log, records } = logAt('debug');
    const metrics = new DockgateMetrics({ processMetrics: false });
    const queue = new CommandQueue({ onDone: commandObserver(log, metrics) });
    await queue.run('sh', ['-c', 'exit 3']);
    await queue.run('/nonexistent/ipset', ['-exist', 'restore']);
    await queue.run('true', []);
    const lines = records().filter((l) => l.event === 'command');
    expect(lines.map((l) => [l.program, l.verb, l.outcome, l.level])).toEqual([
      ['sh', 'script', 'failed', 20],
      ['ipset', 'restore', 'not-found', 20],
      ['true', 'other', 'ok', 20],
    ]);
    for (const l of lines) expect(typeof l.ms === 'number' && l.ms >= 0).toBe(true);
    expect(lines[0]!.msg).toMatch(/^sh script: exit 3 in [\d.]+ ms$/);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'dockgate_commands_total', 'program="sh",verb="script",outcome="failed"')).toBe(1);
    expect(sample(text, 'dockgate_commands_total', 'program="ipset",verb="restore",outcome="not-found"')).toBe(1);
    expect(sample(text, 'dockgate_command_seconds_total', 'program="true",verb="other"')).toBeGreaterThan(0);
  });

  it('at info (the default) writes no line, and the metrics still count', async () => {
    const { log, records } = logAt('info');
    const metrics = new DockgateMetrics({ processMetrics: false });
    await new CommandQueue({ onDone: commandObserver(log, metrics) }).run('true', []);
    await new CommandQueue({ onDone: commandObserver(log) }).run('true', []);
    expect(records()).toEqual([]);
    expect(sample(await metrics.registry.metrics(), 'dockgate_commands_total', 'program="true",verb="other",outcome="ok"')).toBe(1);
  });
});
