// The commands a benchmark window at rest held, from dockgate's `command` debug lines: made-up
// log lines, tallied per program and verb, and the line report.ts prints under the CPU at rest.
import { describe, expect, it } from 'vitest';
import { commandsInWindow, commandsText } from '../../bench/lib/commands.js';
import type { IdleWindow } from '../../bench/lib/docker.js';
import { commandLines } from '../../bench/report.js';

const T0 = Date.parse('2026-12-06T18:00:00.000Z');
const at = (s: number): string => new Date(T0 + s * 1000).toISOString();
const command = (s: number, program: string, verb: string, ms: number, outcome = 'ok'): Record<string, unknown> => ({
  level: 20, time: at(s), event: 'command', program, verb, ms, outcome, msg: `${program} ${verb}: exit 0 in ${ms} ms`,
});

const LINES = [
  command(5, 'iptables-save', 'save', 900), // before the window
  command(10, 'iptables-save', 'save', 150.25),
  { level: 20, time: at(11), event: 'sync', kind: 'none' },
  command(12, 'ipset', 'save', 3),
  command(20, 'iptables-save', 'save', 160.1),
  command(30, 'ipset', 'save', 4),
  command(40, 'ipset', 'save', 2.5, 'failed'),
  command(50, 'ip6tables-save', 'save', 160.35),
  command(190, 'nft', 'list', 1000), // the window ended at 190 s minus a millisecond
];

describe('commandsInWindow', () => {
  it('sums the command lines whose time is inside the window, per program and verb, the costliest first', () => {
    const t = commandsInWindow(LINES, T0 + 10_000, T0 + 189_999);
    expect(t).toEqual([
      { program: 'iptables-save', verb: 'save', count: 2, ms: 310.4, failed: 0 },
      { program: 'ip6tables-save', verb: 'save', count: 1, ms: 160.4, failed: 0 },
      { program: 'ipset', verb: 'save', count: 3, ms: 9.5, failed: 1 },
    ]);
  });

  it('is empty for a window without commands, and ignores lines that are not well-formed command lines', () => {
    expect(commandsInWindow(LINES, T0 + 60_000, T0 + 180_000)).toEqual([]);
    const odd = [{ event: 'command', time: at(10), program: 'ipset' }, { event: 'command', program: 'ipset', verb: 'save', ms: 1 }, 'not json'] as Array<Record<string, unknown>>;
    expect(commandsInWindow(odd, T0, T0 + 60_000)).toEqual([]);
  });
});

describe('the report', () => {
  const window = (commands?: IdleWindow['commands']): IdleWindow => ({
    seconds: 180, rssMiB: 70, peakRssMiB: 80, cpuPercent: 0.3, childCpuPercent: 0.4, cpuTotalMs: 1, childCpuTotalMs: 1, ...(commands ? { commands } : {}),
  });

  it('prints the commands of each window under the CPU at rest, by window', () => {
    const rows: Array<[string, IdleWindow, string]> = [
      ['idle, no containers', window([]), ''],
      ['1000 containers, at rest', window(commandsInWindow(LINES, T0 + 10_000, T0 + 189_999)), ''],
    ];
    expect(commandLines(rows)).toEqual([
      '',
      '- idle, no containers: commands in the window: none',
      '- 1000 containers, at rest: commands in the window: iptables-save save ×2 (310 ms), ip6tables-save save ×1 (160 ms), ipset save ×3 (10 ms, 1 failed)',
    ]);
    expect(commandsText([])).toBe('none');
  });

  it('prints nothing more for results from before the commands were logged', () => {
    expect(commandLines([['idle, no containers', window(), '']])).toEqual([]);
  });
});
