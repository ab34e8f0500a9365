// Run by foreign-rules.test.ts inside a network namespace it made (`nsenter --net=...`): a real
// Daemon (real iptables-restore and iptables-save, a scripted Docker with no containers) checking
// for drift every 100 ms while rules dockgate did not write name its chains. Prints the daemon's
// log lines, then one JSON object on the last line of stdout.
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { defaultConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { DockerSource } from '../../src/docker/source.js';

const iptables = async (args: string[]): Promise<void> => {
  await execa('iptables', args, { timeout: 10_000 });
};

async function main(): Promise<Record<string, unknown>> {
  const docker = {
    host: 'scripted',
    apiTimeoutMs: 1000,
    version: async () => 'scripted',
    listNetworks: async () => [],
    listAllNetworks: async () => ({ bridges: [], others: [] }),
    listIds: async () => [],
    listRunning: async () => [],
    listRunningSettled: async () => ({ containers: [], failed: [] }),
    inspect: async () => undefined,
    subscribe: async () => ({ ended: new Promise<Error | undefined>(() => undefined), close: () => undefined }),
  };
  const config = defaultConfig();
  config.externalInterfaces = { kind: 'list', names: [] };
  config.sync.driftCheckMs = 100;
  config.sync.debounceMs = 10;
  // The sysctls the daemon sets go to a directory of its own: nothing here is the host's.
  const sysctlRoot = await mkdtemp(join(tmpdir(), 'dockgate-foreign-'));
  const log = pino({ level: 'info', base: null });
  const daemon = new Daemon({ config, docker: docker as unknown as DockerSource, log, sysctlRoot });
  try {
    daemon.start();
    await Promise.race([daemon.ready, sleep(15_000).then(() => Promise.reject(new Error('daemon not ready in 15 s')))]);
    const restores = daemon.stats.restores;
    await iptables(['-t', 'mangle', '-N', 'DOCKGATE-RAW']);
    await iptables(['-t', 'mangle', '-A', 'PREROUTING', '-j', 'DOCKGATE-RAW']);
    await iptables(['-I', 'INPUT', '2', '-s', '10.9.0.0/16', '-j', 'DOCKGATE-INPUT']);
    // Ten drift checks or more, even on a loaded machine.
    await sleep(2_000);
    return { restoresAfterReady: daemon.stats.restores - restores };
  } finally {
    await daemon.stop();
    await rm(sysctlRoot, { recursive: true, force: true });
  }
}

main().then(
  (r) => {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
