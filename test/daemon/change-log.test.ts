// The daemon's log lines about labels: the message is read by people (`dockgate logs`,
// journalctl), so label keys and values in it are escaped; the fields keep the raw text for
// machines (JSON escapes it).
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ChangeLog } from '../../src/daemon/change-log.js';
import type { ContainerPlan } from '../../src/model/types.js';

function capture(): { log: ChangeLog; records: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
      done();
    },
  });
  return { log: new ChangeLog(pino({ base: null }, sink)), records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe('ChangeLog', () => {
  it('a label error with control characters: escaped in the message, raw (JSON-escaped) in the fields', async () => {
    const { log, records } = capture();
    const p = {
      id: 'ab'.repeat(32),
      name: 'web',
      mode: 'proxy',
      egress: false,
      openings: [],
      errors: [{ label: 'dockgate.po\rrts', value: '80\u001b[2J', reason: 'unknown label' }],
      warnings: ['a warning with \u001b[31m in it'],
      imageLabels: [],
    } as ContainerPlan;
    log.written([p], 1);
    await new Promise((r) => setImmediate(r));
    const [error, warning] = records();
    expect(error).toMatchObject({ event: 'label-error', label: 'dockgate.po\rrts', value: '80\u001b[2J' });
    expect(error!.msg).toBe('web: label dockgate.po\\rrts: unknown label; nothing opened for this container');
    expect(warning!.msg).toBe('web: a warning with \\u001b[31m in it');
    expect(String(error!.msg)).not.toMatch(RAW_CONTROL);
  });
});
