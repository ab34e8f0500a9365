// The command metrics: every process the queue ran, by program, verb and how it ended, and their
// wall time. From made-up results; test/daemon/command-log.test.ts runs real commands.
import { describe, expect, it } from 'vitest';
import type { CommandDone, CommandResult } from '../../src/dataplane/command-queue.js';
import { DockgateMetrics } from '../../src/metrics/metrics.js';
import { sample } from './prom-text.js';

const exited = (code: number): CommandResult => ({ kind: 'exited', code, stdout: '', stderr: '', durationMs: 1 });
const done = (program: string, verb: string, result: CommandResult, ms: number): CommandDone => ({ program, verb, result, ms });

describe('dockgate_commands_total and dockgate_command_seconds_total', () => {
  it('counts each command under its program, verb and outcome, and adds its wall time in seconds', async () => {
    const m = new DockgateMetrics({ processMetrics: false });
    m.commandDone(done('iptables-save', 'save', exited(0), 150));
    m.commandDone(done('iptables-save', 'save', exited(0), 160));
    m.commandDone(done('iptables-save', 'save', exited(4), 10));
    m.commandDone(done('ipset', 'restore', { kind: 'timed-out', timeoutMs: 30_000, stdout: '', stderr: '', durationMs: 30_000 }, 30_000));
    m.commandDone(done('conntrack', 'delete', { kind: 'not-found', reason: 'spawn conntrack ENOENT', durationMs: 2 }, 2));
    m.commandDone(done('nft', 'list', { kind: 'killed', signal: 'SIGKILL', stdout: '', stderr: '', durationMs: 5 }, 5));
    const text = await m.registry.metrics();
    const runs = (labels: string) => sample(text, 'dockgate_commands_total', labels);
    expect(runs('program="iptables-save",verb="save",outcome="ok"')).toBe(2);
    expect(runs('program="iptables-save",verb="save",outcome="failed"')).toBe(1);
    expect(runs('program="ipset",verb="restore",outcome="timed-out"')).toBe(1);
    expect(runs('program="conntrack",verb="delete",outcome="not-found"')).toBe(1);
    expect(runs('program="nft",verb="list",outcome="killed"')).toBe(1);
    expect(sample(text, 'dockgate_command_seconds_total', 'program="iptables-save",verb="save"')).toBeCloseTo(0.32, 6);
    expect(sample(text, 'dockgate_command_seconds_total', 'program="ipset",verb="restore"')).toBe(30);
  });

  it('has no series before a command ran (programs and verbs are not known in advance)', async () => {
    const text = await new DockgateMetrics({ processMetrics: false }).registry.metrics();
    expect(text).toContain('# TYPE dockgate_commands_total counter');
    expect(text).not.toMatch(/^dockgate_commands_total\{/m);
  });
});
