// `dockgate install --flush-docker-chains` on a host where Docker 27+ wrote ip6tables rules too
// (its `ip6tables` setting defaults to on): the IPv6 chains go as the IPv4 ones do. Against the
// firewall of a network namespace this test makes; the CLI runs from source (tsx) inside it.
import { execa } from 'execa';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSave } from '../../src/plan/kernel-state.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, sbinPath } from '../support/netns.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = join(REPO, 'src', 'cli', 'main.ts');

let ns: Netns | undefined;
let base: string | undefined;

async function cli(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  const r = await execa('nsenter', [`--net=${ns!.path}`, process.execPath, '--import', 'tsx', MAIN, ...args], {
    cwd: REPO,
    reject: false,
    timeout: 60_000,
    killSignal: 'SIGKILL',
    env: { PATH: sbinPath() },
    input: '',
  });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode ?? -1 };
}

// What Docker 28 leaves in ip6tables for a dual-stack bridge, dockgate's own jump, and an admin's rule.
const V6 = [
  '*raw',
  '-A PREROUTING -d fd00:db8:1::2/128 ! -i br-0123456789ab -j DROP',
  'COMMIT',
  '*nat',
  ':DOCKER - [0:0]',
  '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
  '-A POSTROUTING -s fd00:db8:1::/64 ! -o br-0123456789ab -j MASQUERADE',
  '-A DOCKER ! -i br-0123456789ab -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:db8:1::2]:80',
  'COMMIT',
  '*filter',
  ':DOCKER - [0:0]',
  ':DOCKER-FORWARD - [0:0]',
  ':DOCKER-CT - [0:0]',
  ':DOCKER-USER - [0:0]',
  ':DOCKGATE-FORWARD - [0:0]',
  '-A FORWARD -m comment --comment dockgate -j DOCKGATE-FORWARD',
  '-A FORWARD -j DOCKER-USER',
  '-A FORWARD -j DOCKER-FORWARD',
  '-A FORWARD -p ipv6-icmp -j ACCEPT',
  '-A DOCKER -d fd00:db8:1::2/128 ! -i br-0123456789ab -o br-0123456789ab -p tcp -m tcp --dport 80 -j ACCEPT',
  '-A DOCKER-FORWARD -j DOCKER-CT',
  '-A DOCKER-FORWARD -o br-0123456789ab -j DOCKER',
  '-A DOCKER-CT -o br-0123456789ab -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
  'COMMIT',
  '',
].join('\n');

beforeAll(async () => {
  await cleanupLeftovers();
  base = await mkdtemp(join(tmpdir(), 'dockgate-install6-'));
  ns = await createNetns('inst6');
  await ns.exec('ip6tables-restore', ['--noflush'], { input: V6 });
  await ns.exec('iptables-restore', ['--noflush'], { input: '*nat\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\nCOMMIT\n' });
}, 30_000);

afterAll(async () => {
  if (ns) await destroyNetns(ns);
  if (base) await rm(base, { recursive: true, force: true });
});

describe('dockgate install --flush-docker-chains, IPv6', () => {
  it("removes Docker's ip6tables chains, the jumps to them and its /128 raw drop, naming them as ip6tables; nothing else", async () => {
    const root = join(base!, 'root');
    await mkdir(join(root, 'etc'), { recursive: true });
    const r = await cli(['install', '--root', root, '--flush-docker-chains']);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("removed Docker's chains nat/DOCKER\n");
    const removed6 = /removed Docker's chains (ip6tables .*)/.exec(r.stdout)?.[1]?.split(', ').sort();
    expect(removed6).toEqual(['ip6tables filter/DOCKER', 'ip6tables filter/DOCKER-CT', 'ip6tables filter/DOCKER-FORWARD', 'ip6tables filter/DOCKER-USER', 'ip6tables nat/DOCKER']);
    expect(r.stdout).toContain('removed ip6tables raw/PREROUTING rule: -d fd00:db8:1::2/128 ! -i br-0123456789ab -j DROP');

    const v6 = parseSave((await ns!.exec('ip6tables-save', [])).stdout);
    expect([...v6.get('filter')!.chains.keys()].sort()).toEqual(['DOCKGATE-FORWARD', 'FORWARD', 'INPUT', 'OUTPUT']);
    expect(v6.get('filter')!.chains.get('FORWARD')).toEqual(['-m comment --comment dockgate -j DOCKGATE-FORWARD', '-p ipv6-icmp -j ACCEPT']);
    expect([...v6.get('nat')!.chains.keys()].sort()).toEqual(['INPUT', 'OUTPUT', 'POSTROUTING', 'PREROUTING']);
    expect(v6.get('nat')!.chains.get('POSTROUTING')).toEqual(['-s fd00:db8:1::/64 ! -o br-0123456789ab -j MASQUERADE']);
    expect(v6.get('raw')!.chains.get('PREROUTING')).toEqual([]);
    expect((await ns!.exec('iptables-save', ['-t', 'nat'])).stdout).not.toContain('DOCKER');

    const again = await cli(['install', '--root', root, '--flush-docker-chains']);
    expect(again.exitCode).toBe(0);
    expect(again.stdout).toContain('no Docker chains in the firewall');
  }, 120_000);

  it("refuses, changing nothing, when the IPv6 DOCKER-USER holds the admin's rules", async () => {
    await ns!.exec('ip6tables-restore', ['--noflush'], { input: '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -s 2001:db8::/32 -j DROP\n-A FORWARD -j DOCKER-USER\nCOMMIT\n' });
    const before = (await ns!.exec('ip6tables-save', ['-t', 'filter'])).stdout.replace(/^#.*\n/gm, '');
    const root = join(base!, 'root2');
    await mkdir(join(root, 'etc'), { recursive: true });
    const r = await cli(['install', '--root', root, '--flush-docker-chains']);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('ip6tables filter/DOCKER-USER: -s 2001:db8::/32 -j DROP');
    expect((await ns!.exec('ip6tables-save', ['-t', 'filter'])).stdout.replace(/^#.*\n/gm, '')).toBe(before);
  }, 120_000);
});
