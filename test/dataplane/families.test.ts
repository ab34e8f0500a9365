// How dockgate decides a host has IPv6: never fails for a host without it.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { probeIpv6, probeIpv6Support } from '../../src/dataplane/families.js';

const root = mkdtempSync(join(tmpdir(), 'dgt-ipv6-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const options = (saveCommand: string) => ({ restoreCommand: 'true', saveCommand, waitSeconds: 1 });

describe('probeIpv6', () => {
  it('a kernel booted with ipv6.disable=1 (no /proc/sys/net/ipv6) is IPv4-only, without running anything', async () => {
    const queue = new CommandQueue();
    expect(await probeIpv6Support(queue, options('true'), join(root, 'no-such'))).toEqual({ kind: 'absent' });
    expect(await probeIpv6(queue, options('true'), join(root, 'no-such'))).toBe(false);
    expect(queue.runs).toBe(0);
  });

  it('IPv6 in the kernel but ip6tables-save failing is IPv4-only for now, with the reason (the daemon asks again)', async () => {
    mkdirSync(join(root, 'sys', 'net', 'ipv6'), { recursive: true });
    expect(await probeIpv6Support(new CommandQueue(), options('false'), join(root, 'sys'))).toEqual({ kind: 'unreadable', reason: 'false failed (exit 1): (no message)' });
    expect(await probeIpv6Support(new CommandQueue(), options('/nonexistent/ip6tables-save'), join(root, 'sys'))).toMatchObject({
      kind: 'unreadable',
      reason: expect.stringContaining('/nonexistent/ip6tables-save'),
    });
    expect(await probeIpv6(new CommandQueue(), options('false'), join(root, 'sys'))).toBe(false);
    expect(await probeIpv6(new CommandQueue(), options('/nonexistent/ip6tables-save'), join(root, 'sys'))).toBe(false);
  });

  it('both present: IPv6 rules are written', async () => {
    expect(await probeIpv6Support(new CommandQueue(), options('true'), join(root, 'sys'))).toEqual({ kind: 'available' });
    expect(await probeIpv6(new CommandQueue(), options('true'), join(root, 'sys'))).toBe(true);
  });
});
