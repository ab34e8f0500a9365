// A kernel without the raw table (Docker in LXC/Proxmox, no iptable_raw), on a real kernel inside
// network namespaces this test makes. The raw table is taken away from dockgate alone, never from
// the kernel: its restore and save commands are wrappers that answer for raw the way legacy
// iptables does on such a kernel (the words are iptables 1.8.9's own), while a flag file exists.
// The daemon must still write nat and filter (a labelled port opens, proved by a real connection),
// say once what is missing, and write raw again at the next full check once the wrapper lets it.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { FamilyDataplanes, probeRawMissing } from '../../src/dataplane/families.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import { probeTable, probeTableSync } from '../../src/dataplane/kernel-limits.js';
import { kernelLimitChecks } from '../../src/doctor/kernel-limit-checks.js';
import { kernelLimitsText } from '../../src/cli/status.js';
import { describeBridgeStatus } from '../../src/cli/antispoof-status.js';
import { BridgeTable, BridgeTableError } from '../../src/dataplane/bridge-table.js';
import { FakeDocker } from '../support/fake-docker.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, linkNamespaces, saveClean } from '../support/netns.js';
import { startTestDaemon, stopTestDaemons, testConfig, web } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

let dir: string;
let host: Netns;
let client: Netns;
let restore: string;
let save: string;
const off = (): string => join(dir, 'raw-off');

beforeAll(async () => {
  await cleanupLeftovers();
  dir = await mkdtemp(join(tmpdir(), 'dockgate-noraw-'));
  restore = join(dir, 'iptables-restore');
  save = join(dir, 'iptables-save');
  // Legacy iptables-restore on a kernel without iptable_raw refuses the table before committing
  // anything of the input: exit 2, "unable to initialize table 'raw'", the line of `*raw`.
  await writeFile(
    restore,
    `#!/bin/sh
input=$(cat; printf x)
input=\${input%x}
if [ -e '${off()}' ]; then
  line=$(printf '%s' "$input" | grep -n '^\\*raw$' | head -n 1 | cut -d: -f1)
  if [ -n "$line" ]; then
    printf "iptables-restore v1.8.9 (legacy): iptables-restore: unable to initialize table 'raw'\\nError occurred at line: %s\\nTry \\\`iptables-restore -h' or 'iptables-restore --help' for more information.\\n" "$line" >&2
    exit 2
  fi
fi
printf '%s' "$input" | iptables-restore "$@"
`,
  );
  // Legacy iptables-save lists only the tables the kernel has, and refuses `-t raw` in its words.
  await writeFile(
    save,
    `#!/bin/sh
if [ -e '${off()}' ]; then
  for a in "$@"; do
    if [ "$a" = raw ]; then
      echo 'iptables-save v1.8.9 (legacy): Cannot initialize: Table does not exist (do you need to insmod?)' >&2
      exit 1
    fi
  done
  iptables-save "$@" | sed '/^\\*raw$/,/^COMMIT$/d'
  exit 0
fi
exec iptables-save "$@"
`,
  );
  await chmod(restore, 0o755);
  await chmod(save, 0o755);
});

afterEach(async () => {
  await stopTestDaemons();
  if (host) await destroyNetns(host);
  if (client) await destroyNetns(client);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A real HTTP exchange from the client namespace to 10.0.0.5:8000; bounded by nc's -w. */
async function reaches(): Promise<boolean> {
  const r = await client.exec('busybox', ['nc', '-w', '2', '10.0.0.5', '8000'], { input: 'GET / HTTP/1.0\r\n\r\n', reject: false, timeoutMs: 10_000 });
  return r.stdout.includes('200 OK');
}

describe('a kernel without the raw table', () => {
  it('the daemon writes nat and filter, says once what is missing, and writes raw again once raw is back', async () => {
    host = await createNetns('noraw');
    client = await createNetns('norawc');
    await linkNamespaces(host, '10.0.0.5/24', client, '10.0.0.9/24');
    await host.exec('ip', ['link', 'set', 'lo', 'up']);
    // The admin's firewall: only what dockgate opens gets in.
    await host.exec('iptables', ['-P', 'INPUT', 'DROP']);
    await host.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
    await host.exec('iptables', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
    // Stands in for docker-proxy: what a proxy-mode opening lets through.
    await writeFile(join(dir, 'index.html'), 'hello\n');
    await host.exec('busybox', ['httpd', '-p', '10.0.0.5:8000', '-h', dir]);
    await writeFile(off(), '');

    const config = testConfig({ driftCheckMs: 300, fullCheckMs: 300 });
    config.iptables = { ...config.iptables, restoreCommand: restore, saveCommand: save };
    const queue = new CommandQueue({ netns: host.path });
    const docker = new FakeDocker();
    const c = web('web', '172.17.0.2', 8000);
    docker.running.set(c.id, c);
    const { daemon, lines } = startTestDaemon(docker, config, {
      extra: { queue, dataplane: (cfg) => new FamilyDataplanes(new Dataplane(new Iptables(queue, cfg.iptables)), undefined) },
    });
    await daemon.ready;
    // The stand-ins are written by the sync that follows the refusal.
    const filter = await until(async () => {
        const text = await saveClean(host, 'iptables-save', 'filter');
        return text.includes('dockgate no direct access to bridge') && text;
      }, { what: 'the direct-access stand-in in filter', timeoutMs: 10_000 });
    expect(filter).toContain('-A DOCKGATE-FORWARD -d 172.17.0.0/16 ! -i docker0 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT');
    expect(filter).toContain('-A DOCKGATE-INPUT -d 127.0.0.0/8 ! -i lo -m comment --comment "dockgate loopback only from lo" -j DROP');
    expect(await saveClean(host, 'iptables-save', 'nat')).toContain('-A DOCKGATE-PREROUTING -d 127.0.0.0/8 ! -i lo');
    expect(await saveClean(host, 'iptables-save', 'raw')).not.toContain('DOCKGATE');
    expect(await reaches()).toBe(true);

    // Several full checks later: one warning, no failed write after the first refusal.
    await new Promise((r) => setTimeout(r, 1200));
    const limits = lines.filter((l) => l.event === 'kernel-limit');
    expect(limits).toHaveLength(1);
    expect(limits[0]).toMatchObject({ table: 'raw', family: 4, missing: true, level: 40 });
    expect(String(limits[0]!.msg)).toMatch(/no iptables raw table/);
    expect(lines.filter((l) => l.event === 'restore-failed' || l.event === 'sync-failed')).toEqual([]);

    // What status and doctor say, from the same probe.
    const dataplanes = new FamilyDataplanes(new Dataplane(new Iptables(queue, config.iptables)), undefined);
    expect(await probeRawMissing(dataplanes)).toEqual([4]);
    expect(kernelLimitsText([4])).toMatch(/^WARNING .*no iptables raw table/);
    const checks = kernelLimitChecks({ raw: [{ family: 4, probe: await probeTable(queue, save, 'raw') }] });
    // check-config's probe, run here outside the namespace: the wrapper answers without iptables.
    expect(probeTableSync(save, 'raw')).toMatchObject({ kind: 'missing', reason: expect.stringMatching(/Table does not exist/) });
    expect(checks).toEqual([expect.objectContaining({ status: 'warn', name: 'raw-table:iptables' })]);

    // Raw is back (the module loaded, the container moved): the next full check writes it.
    await rm(off());
    const raw = await until(async () => {
        const text = await saveClean(host, 'iptables-save', 'raw');
        return text.includes('-A PREROUTING -m comment --comment dockgate -j DOCKGATE-RAW') && text.includes('dockgate no direct access to bridge') && text;
      }, { what: 'DOCKGATE-RAW written again', timeoutMs: 10_000 });
    expect(raw).toContain('-A DOCKGATE-RAW -d 127.0.0.0/8 ! -i lo');
    await until(async () => !(await saveClean(host, 'iptables-save', 'filter')).includes('no direct access'), { what: 'the stand-ins removed', timeoutMs: 10_000 });
    expect(await saveClean(host, 'iptables-save', 'nat')).not.toContain('127.0.0.0/8 ! -i lo');
    expect(lines.filter((l) => l.event === 'kernel-limit').map((l) => l.missing)).toEqual([true, false]);
    expect(lines.filter((l) => l.event === 'drift-repaired')).toEqual([]);
    expect(await reaches()).toBe(true);
    expect(kernelLimitChecks({ raw: [{ family: 4, probe: await probeTable(queue, save, 'raw') }] })[0]!.status).toBe('ok');
  });

  it('without raw, the loopback stand-in still keeps a bridge neighbour off the host\'s 127.0.0.1 services (CVE-2020-8558)', async () => {
    host = await createNetns('norawl');
    client = await createNetns('norawa');
    await host.exec('ip', ['link', 'set', 'lo', 'up']);
    // A managed bridge with route_localnet on, as dockgate leaves one that carries a 127.0.0.1 dnat port.
    await host.exec('ip', ['link', 'add', 'dgbr0', 'type', 'bridge']);
    await host.exec('ip', ['addr', 'add', '172.30.9.1/24', 'dev', 'dgbr0']);
    await host.exec('ip', ['link', 'set', 'dgbr0', 'up']);
    await host.exec('sysctl', ['-qw', 'net.ipv4.conf.dgbr0.route_localnet=1']);
    await host.exec('ip', ['link', 'add', 'dgatk0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.path]);
    await host.exec('ip', ['link', 'set', 'dgatk0', 'master', 'dgbr0', 'up']);
    // The neighbour sends to 127.0.0.1 through the bridge: its own loopback routes are gone.
    await client.exec('ip', ['addr', 'add', '172.30.9.50/24', 'dev', 'eth0']);
    await client.exec('ip', ['link', 'set', 'eth0', 'up']);
    await client.exec('sysctl', ['-qw', 'net.ipv4.conf.all.route_localnet=1']);
    await client.exec('sysctl', ['-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
    // (with 127.0.0.1 on its own lo, the host's replies would come from one of its own addresses)
    await client.exec('ip', ['addr', 'del', '127.0.0.1/8', 'dev', 'lo']);
    await client.exec('ip', ['route', 'add', '127.0.0.1/32', 'via', '172.30.9.1', 'dev', 'eth0']);
    await writeFile(join(dir, 'index.html'), 'hello\n');
    await host.exec('busybox', ['httpd', '-p', '127.0.0.1:9000', '-h', dir]);
    const loopbackReached = async (): Promise<boolean> =>
      (await client.exec('busybox', ['nc', '-w', '2', '127.0.0.1', '9000'], { input: 'GET / HTTP/1.0\r\n\r\n', reject: false, timeoutMs: 10_000 })).stdout.includes('200 OK');
    // Without dockgate the hole is there: the test would prove nothing otherwise.
    await until(loopbackReached, { what: 'the hole, without dockgate', timeoutMs: 10_000 });

    await writeFile(off(), '');
    const config = testConfig({ driftCheckMs: 300, fullCheckMs: 300 });
    config.iptables = { ...config.iptables, restoreCommand: restore, saveCommand: save };
    const queue = new CommandQueue({ netns: host.path });
    const docker = new FakeDocker();
    docker.networks = [{ id: '9'.repeat(64), name: 'lh', bridge: 'dgbr0', subnets: ['172.30.9.0/24'], subnets6: [], internal: false }];
    const { daemon } = startTestDaemon(docker, config, {
      extra: { queue, dataplane: (cfg) => new FamilyDataplanes(new Dataplane(new Iptables(queue, cfg.iptables)), undefined) },
    });
    await daemon.ready;
    await until(async () => (await saveClean(host, 'iptables-save', 'filter')).includes('127.0.0.0/8 ! -i lo'), { what: 'the loopback stand-in', timeoutMs: 10_000 });
    expect(await saveClean(host, 'iptables-save', 'raw')).not.toContain('DOCKGATE');
    expect(await loopbackReached()).toBe(false);
    // Dropped by the stand-in itself, not by anything else on the way.
    const counters = (await host.exec('iptables', ['-t', 'filter', '-L', 'DOCKGATE-INPUT', '-v', '-x', '-n'])).stdout;
    const line = counters.split('\n').find((l) => l.includes('127.0.0.0/8') && l.includes('DROP'));
    expect(Number(line?.trim().split(/\s+/)[0])).toBeGreaterThan(0);
  });

  it('without the nft bridge family, anti-spoofing is off, said once, and not an error to retry', async () => {
    // nft on a kernel without nf_tables bridge support: the bridge family is refused (EAFNOSUPPORT).
    const nft = join(dir, 'nft');
    await writeFile(
      nft,
      `#!/bin/sh
echo 'Error: Could not process rule: Address family not supported by protocol' >&2
exit 1
`,
    );
    await chmod(nft, 0o755);
    const table = new BridgeTable(new CommandQueue(), nft);
    const support = await table.supported();
    expect(support).toMatchObject({ ok: false, reason: expect.stringMatching(/Address family not supported/) });
    const err = await table.sync({ owners: [] }, true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BridgeTableError);
    expect((err as BridgeTableError).unsupported).toBe(true);
    expect(describeBridgeStatus({ state: 'unknown', error: (err as Error).message, unknownPorts: [], unsupported: true })).toMatch(/^WARNING anti-spoofing: OFF/);
    expect(kernelLimitChecks({ raw: [], bridgeFamily: support })).toEqual([expect.objectContaining({ status: 'warn', name: 'nft-bridge' })]);
  });
});
