// `dockgate logs`: the formatting, fed lines by hand (no journal needed), and the journal reader
// against a stand-in journalctl that prints what it was asked.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logFormatter, printLog } from '../../src/cli/logs.js';
import { JournalError, journalLines, journalctlArgs } from '../../src/dataplane/journal.js';

const APPLIED = JSON.stringify({
  level: 'info',
  time: '2026-01-02T03:04:05.678Z',
  name: 'dockgate',
  pid: 4242,
  event: 'applied',
  container: 'web',
  ports: ['*:8080->80/tcp'],
  durationMs: 12.5,
  msg: 'web: opened *:8080->80/tcp',
});
const LABEL_ERROR = JSON.stringify({ level: 'error', time: '2026-01-02T03:04:06.000Z', name: 'dockgate', pid: 4242, event: 'label-error', container: 'db', label: 'dockgate.ports', msg: 'db: bad label' });

async function* from(lines: string[]): AsyncGenerator<string> {
  for (const l of lines) yield l;
}

async function printed(lines: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString()));
  await printLog(from(lines), await logFormatter({ colorize: false }), out);
  return text;
}

describe('dockgate logs: formatting', () => {
  it('a pino line becomes a readable line: time, level, event and message, then the fields', async () => {
    const format = await logFormatter({ colorize: false });
    const text = format(APPLIED);
    const [head, ...rest] = text.trimEnd().split('\n');
    expect(head).toMatch(/^\[2026-01-0\d \d\d:\d\d:05\.678 [+-]\d{4}\] INFO \(4242\): applied: web: opened \*:8080->80\/tcp$/);
    expect(rest.join('\n')).toContain('container: "web"');
    expect(rest.join('\n')).toContain('durationMs: 12.5');
    // the header already says these
    expect(text).not.toContain('"msg"');
    expect(text).not.toMatch(/^\s+event:/m);
    expect(text).not.toMatch(/^\s+name:/m);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('an error line says ERROR', async () => {
    const format = await logFormatter({ colorize: false });
    expect(format(LABEL_ERROR)).toMatch(/\] ERROR \(4242\): label-error: db: bad label\n/);
  });

  it('a message carrying label text reaches the terminal escaped; fields stay JSON', async () => {
    const format = await logFormatter({ colorize: false });
    const line = JSON.stringify({ level: 'error', time: '2026-01-02T03:04:06.000Z', pid: 4242, event: 'label\u001b[2J', label: 'dockgate.po\rrts', msg: 'db: label dockgate.po\rrts=80\u001b[2J\u009b: unknown label\nFAKE line' });
    const text = format(line);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).toContain('label\\u001b[2J: db: label dockgate.po\\rrts=80\\u001b[2J\\u009b: unknown label\\nFAKE line\n');
    expect(text).toContain('label: "dockgate.po\\rrts"');
  });

  it('lines that are not pino JSON are printed exactly as they came', async () => {
    const format = await logFormatter({ colorize: false });
    for (const line of ['dockgate: config error: /etc/dockgate/config.yaml: defaults.mode: invalid', '    at Object.<anonymous> (/usr/lib/dockgate/dist/cli/main.js:3:1)', '', '{not json', '42', '["a"]', '{"no":"level"}', 'null']) {
      expect(format(line)).toBe(`${line}\n`);
    }
  });

  it('colour only when asked', async () => {
    expect((await logFormatter({ colorize: false }))(APPLIED)).not.toContain('\u001b[');
    expect((await logFormatter({ colorize: true }))(APPLIED)).toContain('\u001b[');
  });

  it('printLog writes every line, in order, mixed kinds', async () => {
    const text = await printed([APPLIED, '-- Boot 1234 --', LABEL_ERROR]);
    const at = (s: string) => text.indexOf(s);
    expect(at('applied: web')).toBeGreaterThanOrEqual(0);
    expect(at('-- Boot 1234 --\n')).toBeGreaterThan(at('applied: web'));
    expect(at('label-error: db')).toBeGreaterThan(at('-- Boot 1234 --'));
  });

  it('printLog stops reading when the output goes away (dockgate logs | head)', async () => {
    const out = new PassThrough({ highWaterMark: 1 });
    let read = 0;
    async function* endless(): AsyncGenerator<string> {
      for (;;) {
        read++;
        yield APPLIED;
      }
    }
    const done = printLog(endless(), await logFormatter({ colorize: false }), out);
    out.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await done;
    expect(read).toBeLessThan(10);
  });
});

describe('dockgate logs: the journal reader', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dockgate-logs-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function fakeJournalctl(body: string): Promise<string> {
    const path = join(dir, `journalctl-${Math.random().toString(36).slice(2)}`);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('asks journalctl for the unit, message only, with -n and -f passed through', () => {
    expect(journalctlArgs({ unit: 'dockgate' })).toEqual(['-u', 'dockgate', '-o', 'cat', '--no-pager']);
    expect(journalctlArgs({ unit: 'dockgate', follow: true, lines: 20 })).toEqual(['-u', 'dockgate', '-o', 'cat', '--no-pager', '-n', '20', '-f']);
  });

  it("yields journalctl's lines as they are", async () => {
    const file = await fakeJournalctl(`echo "$*"; printf '%s\\n' '${APPLIED}' 'plain'`);
    const lines: string[] = [];
    for await (const l of journalLines({ unit: 'dockgate', lines: 5 }, file)) lines.push(l);
    expect(lines).toEqual(['-u dockgate -o cat --no-pager -n 5', APPLIED, 'plain']);
  });

  it('a failing journalctl is a JournalError with its exit code', async () => {
    const file = await fakeJournalctl('exit 1');
    const run = async () => {
      for await (const _ of journalLines({ unit: 'dockgate' }, file)) void _;
    };
    await expect(run()).rejects.toBeInstanceOf(JournalError);
    await expect(run()).rejects.toMatchObject({ ended: { kind: 'exited', code: 1 } });
  });

  it('no journalctl at all: a JournalError naming the package', async () => {
    const run = async () => {
      for await (const _ of journalLines({ unit: 'dockgate' }, join(dir, 'absent'))) void _;
    };
    await expect(run()).rejects.toThrow(/systemd package/);
  });

  it('stopping the iteration stops a following journalctl', async () => {
    const pidFile = join(dir, 'pid');
    const file = await fakeJournalctl(`echo $$ > ${pidFile}; while :; do echo line; sleep 0.05; done`);
    let n = 0;
    for await (const _ of journalLines({ unit: 'dockgate', follow: true }, file)) {
      void _;
      if (++n === 3) break;
    }
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => {
      try {
        process.kill(pid, 0);
        return 'alive';
      } catch {
        return 'gone';
      }
    }, { timeout: 5_000 }).toBe('gone');
  });
});
