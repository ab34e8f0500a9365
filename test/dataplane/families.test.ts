// How dockgate decides a host has IPv6: never fails for a host without it.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { handOver, makeDataplanes, probeIpv6, probeIpv6Support } from '../../src/dataplane/families.js';

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

describe('makeDataplanes', () => {
  const section = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', ip6RestoreCommand: 'ip6tables-restore', ip6SaveCommand: 'ip6tables-save', waitSeconds: 5 };

  it('builds IPv4 from the iptables programs and IPv6, where the host has it, from the ip6tables ones, on one queue', () => {
    const queue = new CommandQueue();
    const both = makeDataplanes(queue, section, true);
    expect(both.v4.iptables.family).toBe(4);
    expect(both.v4.iptables.options.saveCommand).toBe('iptables-save');
    expect(both.v6?.iptables.family).toBe(6);
    expect(both.v6?.iptables.options).toEqual({ restoreCommand: 'ip6tables-restore', saveCommand: 'ip6tables-save', waitSeconds: 5 });
    expect(both.v6?.iptables.queue).toBe(queue);
    expect(makeDataplanes(queue, section, false).v6).toBeUndefined();
  });
});

describe('handOver (a reload\'s new dataplanes take over what the old ones wrote)', () => {
  const section = { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', ip6RestoreCommand: 'ip6tables-restore', ip6SaveCommand: 'ip6tables-save', waitSeconds: 5 };

  it('the same programs on the same queue: every family, whatever the lock wait', () => {
    const queue = new CommandQueue();
    expect(handOver(makeDataplanes(queue, section, true), makeDataplanes(queue, { ...section, waitSeconds: 30 }, true))).toBe(true);
    expect(handOver(makeDataplanes(queue, section, false), makeDataplanes(queue, section, false))).toBe(true);
  });

  it('other programs (another backend), another queue, or a family the old one did not write: not all of it', () => {
    const queue = new CommandQueue();
    const old = makeDataplanes(queue, section, true);
    expect(handOver(old, makeDataplanes(queue, { ...section, saveCommand: 'iptables-legacy-save', restoreCommand: 'iptables-legacy-restore' }, true))).toBe(false);
    expect(handOver(old, makeDataplanes(queue, { ...section, ip6SaveCommand: 'ip6tables-legacy-save' }, true))).toBe(false);
    expect(handOver(old, makeDataplanes(new CommandQueue(), section, true))).toBe(false);
    // IPv6 arrived: IPv4 takes over, IPv6 starts from the kernel.
    expect(handOver(makeDataplanes(queue, section, false), makeDataplanes(queue, section, true))).toBe(false);
  });
});
