// `dockgate status` (text): a container's lines as printed, without Docker or a firewall. Label
// keys and values are whatever the container's owner wrote: escaped, never raw on the terminal.
import { describe, expect, it } from 'vitest';
import { containerStatusText } from '../../src/cli/status.js';
import type { Effect } from '../../src/hostfw/report.js';
import type { ContainerPlan } from '../../src/model/types.js';

const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const UNKNOWN: Effect = { state: 'unknown', blockers: [] };

// Asserted rather than annotated, so the fixture compiles whether or not ContainerPlan has imageLabels yet.
const hostile = {
  id: 'ab'.repeat(32),
  name: 'web',
  mode: 'proxy',
  egress: true,
  openings: [],
  errors: [
    { label: 'dockgate.ports', value: '80\u001b[2J', reason: 'entry "80\\u001b[2J" contains a control character' },
    { label: 'dockgate.po\rrts', value: '\u009b31m', reason: 'unknown label' },
  ],
  warnings: ['labels equal to those of image x may be the image\'s: dockgate.f\u001brom="a" ignored'],
  imageLabels: [],
} as ContainerPlan;

describe('status text', () => {
  it('escapes control characters in label keys, values and warnings', () => {
    const text = containerStatusText(hostile, () => UNKNOWN);
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('  ERROR dockgate.ports="80\\u001b[2J": entry');
    expect(text).toContain('  ERROR dockgate.po\\rrts="\\u009b31m": unknown label');
    expect(text).toContain('dockgate.f\\u001brom');
  });

  it('a plain container reads as before', () => {
    const c: ContainerPlan = { ...hostile, errors: [{ label: 'dockgate.mode', value: 'nat', reason: '"nat" is not a mode; use proxy or dnat' }], warnings: [] };
    expect(containerStatusText(c, () => UNKNOWN)).toBe(
      `web (abababababab) mode=proxy egress=true\n  ERROR dockgate.mode="nat": "nat" is not a mode; use proxy or dnat\n`,
    );
  });
});
