// The command queue on real tiny commands: how a process ended is a tagged result, never an
// exit number standing for "not found" or "timed out".
import { describe, expect, it } from 'vitest';
import { type CommandDone, CommandQueue, endOf, exitedWith, failureMessage, howEnded, succeeded } from '../../src/dataplane/command-queue.js';

describe('CommandQueue.run', () => {
  const queue = new CommandQueue();

  it('`true` exited 0 and succeeded; its output is kept with the final newline', async () => {
    const r = await queue.run('sh', ['-c', 'echo out; echo err >&2']);
    expect(r).toMatchObject({ kind: 'exited', code: 0, stdout: 'out\n', stderr: 'err\n' });
    expect(succeeded(await queue.run('true', []))).toBe(true);
  });

  it('gives the input on stdin, and keeps output of many megabytes whole (iptables-save of thousands of containers)', async () => {
    const input = Array.from({ length: 1000 }, (_, i) => `-A DOCKGATE-X -s 10.0.${i >> 8}.${i & 255}/32 -j ACCEPT`).join('\n');
    expect(await queue.run('cat', [], { input })).toMatchObject({ kind: 'exited', code: 0, stdout: input });
    const big = await queue.run('sh', ['-c', 'head -c 6000000 /dev/zero | tr "\\0" x']);
    expect(big.kind === 'exited' && big.stdout.length).toBe(6_000_000);
  });

  it('a command that exits without reading its input still ends as it exited', async () => {
    const r = await queue.run('sh', ['-c', 'exit 3'], { input: 'x'.repeat(1 << 20) });
    expect(r).toMatchObject({ kind: 'exited', code: 3 });
  });

  it('`false` exited 1: not a success, and its message says exit 1', async () => {
    const r = await queue.run('false', []);
    expect(r).toMatchObject({ kind: 'exited', code: 1 });
    expect(succeeded(r)).toBe(false);
    expect(exitedWith(r, 1)).toBe(true);
    expect(failureMessage('false', r)).toBe('false failed (exit 1): (no message)');
  });

  it('a program that does not exist is not-found, naming it, with no exit code', async () => {
    const r = await queue.run('/nonexistent/dockgate-tool', ['-x']);
    expect(r.kind).toBe('not-found');
    expect(r).not.toHaveProperty('code');
    expect(failureMessage('dockgate-tool', r)).toMatch(/^dockgate-tool failed \(not found\): .*\/nonexistent\/dockgate-tool.*ENOENT/);
  });

  it('a command still running at its timeout is timed-out, and the queue moves on', async () => {
    const r = await queue.run('sleep', ['5'], { timeoutMs: 200 });
    expect(r).toMatchObject({ kind: 'timed-out', timeoutMs: 200 });
    expect(howEnded(r)).toBe('timed out after 0.2 s');
    expect(succeeded(await queue.run('true', []))).toBe(true);
  });

  it('a command killed by a signal that is not the timeout is killed, naming the signal', async () => {
    const r = await queue.run('sh', ['-c', 'kill -9 $$']);
    expect(r).toMatchObject({ kind: 'killed', signal: 'SIGKILL' });
    expect(howEnded(r)).toBe('killed by SIGKILL');
  });

  it('counts every process it started', async () => {
    const q = new CommandQueue();
    await q.run('true', []);
    await q.run('/nonexistent/dockgate-tool', []);
    expect(q.runs).toBe(2);
  });
});

describe('CommandQueue onDone', () => {
  it('tells once per finished command: its program, verb, result and wall time, in the order run', async () => {
    const seen: CommandDone[] = [];
    const q = new CommandQueue({ onDone: (c) => seen.push(c) });
    const [a, b, c] = await Promise.all([q.run('/bin/sh', ['-c', 'sleep 0.05']), q.run('false', []), q.run('/nonexistent/ipset', ['save'])]);
    expect(seen.map((s) => [s.program, s.verb, s.result.kind])).toEqual([
      ['sh', 'script', 'exited'],
      ['false', 'other', 'exited'],
      ['ipset', 'save', 'not-found'],
    ]);
    expect(seen.map((s) => s.result)).toEqual([a, b, c]);
    expect(seen[0]!.ms).toBeGreaterThanOrEqual(40);
    expect(seen[0]!.ms).toBe(a.durationMs);
  });

  it('tells about a timeout and a kill as they ended', async () => {
    const seen: CommandDone[] = [];
    const q = new CommandQueue({ onDone: (c) => seen.push(c) });
    await q.run('sleep', ['5'], { timeoutMs: 100 });
    await q.run('sh', ['-c', 'kill -9 $$']);
    expect(seen.map((s) => s.result.kind)).toEqual(['timed-out', 'killed']);
  });

  it('an observer that throws costs nothing: the command still resolves with its result', async () => {
    const q = new CommandQueue({
      onDone: () => {
        throw new Error('bookkeeping bug');
      },
    });
    expect(succeeded(await q.run('true', []))).toBe(true);
  });

  it('in a netns through nsenter, names the program run, not nsenter', async () => {
    const seen: CommandDone[] = [];
    // A path that is no namespace: nsenter fails, but the name is decided before it runs.
    const q = new CommandQueue({ netns: '/nonexistent/netns', onDone: (c) => seen.push(c) });
    await q.run('iptables-save', ['-t', 'filter']);
    expect(seen.map((s) => [s.program, s.verb])).toEqual([['iptables-save', 'save']]);
  });
});

describe('endOf', () => {
  it("nsenter's own exit 127 for a program missing in the namespace is not-found; a program's own 127 stays an exit", () => {
    const missing = endOf({ exitCode: 127, failed: true, timedOut: false, stderr: 'nsenter: failed to execute conntrack: No such file or directory\n' }, 1000, 1);
    expect(missing).toEqual({ kind: 'not-found', reason: 'nsenter: failed to execute conntrack: No such file or directory', durationMs: 1 });
    expect(endOf({ exitCode: 127, failed: true, timedOut: false, stderr: 'sh: 1: x: not found\n' }, 1000, 1)).toMatchObject({ kind: 'exited', code: 127 });
  });
});
