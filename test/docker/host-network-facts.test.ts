// A `--network host` container as Docker 20.10 inspects it: a `host` network with no address, no
// port bindings (Docker discards -p there), HostConfig.NetworkMode "host". docker/facts.ts must
// mark it, or the planner takes it for a container with no network and opens nothing.
import { describe, expect, it } from 'vitest';
import { toContainerFacts } from '../../src/docker/facts.js';

const ID = '3f'.repeat(32);
const inspect = (networkMode: string, networks: Record<string, unknown>) => ({
  Id: ID,
  Name: '/traefik',
  Created: '2026-12-06T13:00:00.123456789Z',
  State: { Running: true, Pid: 4242, StartedAt: '2026-12-06T13:00:01.5Z' },
  Config: { Labels: { 'dockgate.ports': '8090' }, Image: 'dgbox:latest' },
  HostConfig: { NetworkMode: networkMode, PortBindings: {} },
  NetworkSettings: { Ports: {}, Networks: networks },
});
const HOST_NETWORK = { host: { NetworkID: 'ab'.repeat(32), IPAddress: '', GlobalIPv6Address: '', MacAddress: '' } };

describe('toContainerFacts and the host network', () => {
  it('marks a --network host container, with its pid (ownership of its sockets goes by it)', () => {
    const f = toContainerFacts(inspect('host', HOST_NETWORK), { kind: 'inspected', labels: {} })!;
    expect(f.hostNetwork).toBe(true);
    expect(f.pid).toBe(4242);
    expect(f.ports).toEqual([]);
  });

  it.each(['bridge', 'default', 'none', 'container:' + 'cd'.repeat(32), 'HOST'])('NetworkMode %s is no host network', (mode) => {
    const f = toContainerFacts(inspect(mode, HOST_NETWORK), { kind: 'inspected', labels: {} })!;
    expect(f.hostNetwork).toBeUndefined();
    expect('hostNetwork' in f).toBe(false);
  });

  it('no HostConfig at all: no host network', () => {
    const { HostConfig: _, ...rest } = inspect('host', HOST_NETWORK);
    expect(toContainerFacts(rest, { kind: 'inspected', labels: {} })!.hostNetwork).toBeUndefined();
  });
});
