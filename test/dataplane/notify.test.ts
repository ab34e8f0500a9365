// notifyReady against a real `systemd-notify` and a real notify socket (a unix datagram socket,
// which Node cannot open itself: a small python3 listener stands in for systemd and answers
// systemd-notify's barrier the way systemd does, by closing the file descriptor it was sent).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { notifyReady } from '../../src/dataplane/notify.js';
import { until } from '../support/poll.js';

const LISTENER = `
import socket, os, sys, array
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
s.settimeout(20)
while True:
    msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array('i')
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    text = msg.decode()
    print(repr(text), flush=True)
    if 'BARRIER=1' in text:
        break
`;

const HAVE = ['/usr/bin/systemd-notify', '/bin/systemd-notify'].some((p) => existsSync(p)) && ['/usr/bin/python3', '/bin/python3'].some((p) => existsSync(p));
const log = { lines: [] as string[], info(_o: object, m: string) { this.lines.push(`info ${m}`); }, warn(_o: object, m: string) { this.lines.push(`warn ${m}`); } };

let dir: string;
let listener: ChildProcess | undefined;
const saved = process.env.NOTIFY_SOCKET;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dockgate-notify-'));
});

afterEach(() => {
  if (saved === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = saved;
  if (listener && listener.exitCode === null) listener.kill('SIGKILL');
  listener = undefined;
  log.lines = [];
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('notifyReady', () => {
  it('does nothing outside systemd', async () => {
    delete process.env.NOTIFY_SOCKET;
    const queue = new CommandQueue();
    expect(await notifyReady(log, queue)).toBe(false);
    expect(queue.runs).toBe(0);
  });

  it.skipIf(!HAVE)('sends READY=1 and MAINPID through systemd-notify (needs systemd-notify and python3)', async () => {
    const socket = join(dir, 'notify.sock');
    const child = spawn('python3', ['-c', LISTENER, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    listener = child;
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    await until(() => output.includes('listening'), { what: 'the listener ready', timeoutMs: 5000, intervalMs: 50 });

    process.env.NOTIFY_SOCKET = socket;
    const queue = new CommandQueue();
    expect(await notifyReady(log, queue)).toBe(true);
    expect(queue.runs).toBe(1);
    await until(() => child.exitCode !== null, { what: 'the listener done', timeoutMs: 5000, intervalMs: 50 }).catch(() => undefined);
    expect(output).toContain(`READY=1\\nMAINPID=${process.pid}`);
    expect(log.lines).toEqual(['info readiness reported to systemd']);
  });

  it('does not wait behind the iptables queue: it runs in a queue of its own', async () => {
    process.env.NOTIFY_SOCKET = join(dir, 'nobody.sock');
    const iptablesQueue = new CommandQueue();
    const busy = iptablesQueue.run('sleep', ['3']);
    const started = performance.now();
    expect(await notifyReady(log)).toBe(false); // nobody listens (or no systemd-notify): fails fast either way
    expect(performance.now() - started).toBeLessThan(2500);
    expect(iptablesQueue.runs).toBe(1);
    await busy;
  });

  it.skipIf(!HAVE)('logs, and does not throw, when nobody listens', async () => {
    process.env.NOTIFY_SOCKET = join(dir, 'nobody.sock');
    expect(await notifyReady(log, new CommandQueue())).toBe(false);
    expect(log.lines[0]).toMatch(/^warn could not report readiness to systemd: exit 1/);
  });
});
