// Run by route-localnet.test.ts inside a network namespace it made (`nsenter --net=...`), because
// /proc/sys/net shows the namespace of the process that reads it, whatever path leads there:
// only a process inside the namespace can see or change that namespace's sysctls.
//
// `daemon`: a real Daemon (real iptables-restore, real /proc/sys) fed by a scripted Docker: one
// container publishes 127.0.0.1:8060 in dnat mode on dgbr1, then dies.
// `flush`: what `dockgate flush` does to route_localnet, with Docker unreachable.
// Prints one JSON object on the last line of stdout; the daemon's log lines come before it.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { defaultConfig } from '../../src/config/load.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { until } from '../support/poll.js';
import type { DockerEvent, DockerSource } from '../../src/docker/source.js';
import type { ContainerFacts, NetworkFacts } from '../../src/model/types.js';

const value = async (iface: string): Promise<string> => (await readFile(`/proc/sys/net/ipv4/conf/${iface}/route_localnet`, 'utf8')).trim();


async function daemonScenario(): Promise<Record<string, unknown>> {
  const networks = [
    { id: '1'.repeat(64), name: 'lh1', bridge: 'dgbr1', subnets: ['172.30.1.0/24'], subnets6: [], internal: false },
    { id: '2'.repeat(64), name: 'lh2', bridge: 'dgbr2', subnets: ['172.30.2.0/24'], subnets6: [], internal: false },
  ] as NetworkFacts[];
  const id = 'a'.repeat(64);
  const containers = new Map<string, ContainerFacts>([
    [
      id,
      {
        id,
        name: 'lh',
        created: '2024-01-01T00:00:00.000000000Z',
        labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' },
        image: { kind: 'inspected', ref: 'dgbox:latest', sameAsImage: [] },
        networks: [{ networkId: networks[0]!.id, networkName: 'lh1', ipv4: '172.30.1.2' }],
        ports: [{ containerPort: 80, protocol: 'tcp', hostIp: '127.0.0.1', hostPort: 8060 }],
      } as ContainerFacts,
    ],
  ]);
  let emit: (e: DockerEvent) => void = () => undefined;
  const docker = {
    host: 'scripted',
    apiTimeoutMs: 1000,
    version: async () => 'scripted',
    listNetworks: async () => networks,
    listAllNetworks: async () => ({ bridges: networks, others: [] }),
    listIds: async () => [...containers.keys()],
    listRunning: async () => [...containers.values()],
    listRunningSettled: async () => ({ containers: [...containers.values()], failed: [] }),
    inspect: async (cid: string) => containers.get(cid),
    subscribe: async (onEvent: (e: DockerEvent) => void) => {
      emit = onEvent;
      return { ended: new Promise<Error | undefined>(() => undefined), close: () => undefined };
    },
  };
  const config = defaultConfig();
  config.externalInterfaces = { kind: 'list', names: [] };
  config.sync.debounceMs = 10;
  const log = pino({ level: 'info', base: null });
  const daemon = new Daemon({ config, docker: docker as unknown as DockerSource, log });
  const seen: Record<string, unknown> = {};
  try {
    daemon.start();
    await Promise.race([daemon.ready, sleep(15_000).then(() => Promise.reject(new Error('daemon not ready in 15 s')))]);
    // Written after the rules, in the same cycle; the second bridge may lag by one read.
    await until(async () => (await value('dgbr1')) === '1', { what: 'route_localnet on dgbr1', timeoutMs: 5_000, intervalMs: 25 });
    await until(async () => (await value('dgbr2')) === '0', { what: 'route_localnet off dgbr2', timeoutMs: 5_000, intervalMs: 25 });
    seen.running = { dgbr1: await value('dgbr1'), dgbr2: await value('dgbr2') };
    containers.delete(id);
    emit({ type: 'container', action: 'die', containerId: id });
    await until(async () => (await value('dgbr1')) === '0', { what: 'route_localnet off dgbr1', timeoutMs: 5_000, intervalMs: 25 });
    seen.stopped = { dgbr1: await value('dgbr1'), dgbr2: await value('dgbr2') };
  } finally {
    await daemon.stop();
  }
  return seen;
}

async function flushScenario(): Promise<Record<string, unknown>> {
  const { routeLocalnetOff } = await import('../../src/cli/flush.js');
  const lines = await routeLocalnetOff('unix:///nonexistent/dockgate-test.sock');
  const after: Record<string, string> = {};
  for (const iface of ['docker0', 'br-0123456789ab', 'dgother0']) after[iface] = await value(iface);
  return { lines, after };
}

const scenario = process.argv[2];
const result = scenario === 'daemon' ? await daemonScenario() : scenario === 'flush' ? await flushScenario() : undefined;
process.stdout.write(`${JSON.stringify(result ?? { error: `unknown scenario ${scenario}` })}\n`);
process.exit(0);
