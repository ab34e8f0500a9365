// What Docker 28 and 29 (Engine API 1.49–1.52) send, as fixtures written from the API reference:
// inspect without the legacy top-level NetworkSettings.IPAddress family, an IPv6-only network
// (EnableIPv4: false), null port lists, events without the legacy status/id/from fields and with
// `health_status: …` and `exec_start: …` actions, the events stream as JSON lines and as RFC 7464
// JSON text sequences, and the refusal of an API version Docker no longer speaks.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toContainerFacts, toNetworkFacts } from '../../src/docker/facts.js';
import { DockerSource, EventRecords, apiVersionRefusal, parseEvent } from '../../src/docker/source.js';
import { checkDockerFirewall } from '../../src/doctor/docker-firewall-check.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { DEFAULTS } from '../plan/fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');
const inspected = { kind: 'inspected' as const, labels: {} };
const CONTAINER = JSON.parse(fixture('engine-1.51-container.json')) as Record<string, unknown>;
const V6ONLY = JSON.parse(fixture('engine-1.51-network-v6only.json')) as Record<string, unknown>;
const ID = CONTAINER.Id as string;

describe('inspect answers of Docker 28/29', () => {
  it('a container without the top-level address fields: addresses from each network, both families, IPv6-only attachment included', () => {
    const f = toContainerFacts(CONTAINER, inspected)!;
    expect(f.name).toBe('web');
    expect(f.networks.map((n) => [n.networkName, n.ipv4, n.ipv6])).toEqual([
      ['app', '172.20.0.2', 'fd00:20::2'],
      ['v6only', undefined, 'fd00:66::3'],
    ]);
    // "9000/tcp": null (exposed, not published) binds nothing; "::" is an IPv6 binding.
    expect(f.ports).toEqual([
      { containerPort: 80, protocol: 'tcp', hostIp: '0.0.0.0', hostPort: 8080 },
      { containerPort: 80, protocol: 'tcp', hostIp: '::', hostPort: 8080 },
    ]);
  });

  it('nil and empty port lists: no bindings, no throw', () => {
    for (const ports of [null, {}, { '80/tcp': null }, { '80/tcp': [] }]) {
      const f = toContainerFacts({ ...CONTAINER, NetworkSettings: { ...(CONTAINER.NetworkSettings as object), Ports: ports }, HostConfig: { PortBindings: null } }, inspected)!;
      expect(f.ports).toEqual([]);
    }
  });

  it('an IPv6-only network (EnableIPv4: false): managed, with no IPv4 subnet', () => {
    expect(toNetworkFacts(V6ONLY)).toMatchObject({ name: 'v6only', bridge: 'br-4d5e6f7a8b9c', subnets: [], subnets6: ['fd00:66::/64'] });
  });

  it('a container on an IPv6-only network is planned: IPv6 egress from its address, nothing IPv4 for that network', () => {
    const facts = toContainerFacts({ ...CONTAINER, NetworkSettings: { ...(CONTAINER.NetworkSettings as object), Networks: { v6only: (CONTAINER.NetworkSettings as { Networks: Record<string, unknown> }).Networks.v6only } } }, inspected)!;
    const plan = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [facts], networks: [toNetworkFacts(V6ONLY)!] });
    expect(plan.containers[0]!.errors).toEqual([]);
    const v6 = plan.ipv6!.chains.flatMap((c) => linesOf(c)).join('\n');
    expect(v6).toContain('-s fd00:66::3/128 -i br-4d5e6f7a8b9c');
    expect(plan.chains.flatMap((c) => linesOf(c)).join('\n')).not.toContain('br-4d5e6f7a8b9c -m conntrack --ctstate NEW -m comment --comment "web/');
  });
});

describe('events of Docker 28/29', () => {
  const lines = fixture('engine-1.51-events.jsonl').trim().split('\n');

  it('modern events (Type, Action, Actor; no status/id/from): start, die and network connect count; create, exec_start and health_status do not', () => {
    expect(lines.map((l) => parseEvent(l)).map((e) => (e ? `${e.type} ${e.action}` : '-'))).toEqual(['-', 'network connect', 'container start', '-', '-', 'container die']);
    expect(parseEvent(lines[2]!)).toMatchObject({ containerId: ID, timeNano: 1796541242514092311n });
    expect(parseEvent(lines[1]!)).toMatchObject({ containerId: ID, networkId: '3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d' });
  });

  it('the stream as JSON lines and as JSON text sequences (0x1E before each record), cut anywhere between chunks', () => {
    const jsonl = `${lines.join('\n')}\n`;
    const seq = lines.map((l) => `\x1e${l}\n`).join('');
    for (const body of [jsonl, seq]) {
      for (const size of [1, 7, 100, body.length]) {
        const records = new EventRecords();
        const got: string[] = [];
        for (let i = 0; i < body.length; i += size) got.push(...records.push(body.slice(i, i + size)));
        expect(got).toEqual(lines);
      }
    }
  });
});

describe("an API version Docker refuses", () => {
  let server: Server;
  let host: string;
  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'client version 1.24 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version' }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('is an error naming both versions and what to do, on lists, inspects and the events stream', async () => {
    const docker = new DockerSource(host, {});
    const expected = /^Docker refuses API version 1\.24 \(its minimum is 1\.44\): dockgate does not pin a version, so something between it and Docker \(a socket proxy\) does/;
    await expect(docker.listIds()).rejects.toThrow(expected);
    await expect(docker.listNetworks()).rejects.toThrow(expected);
    await expect(docker.inspect(ID)).rejects.toThrow(expected);
    await expect(docker.subscribe(() => undefined)).rejects.toThrow(expected);
  });

  it('the other direction, an older Docker', () => {
    expect(apiVersionRefusal(new Error('(HTTP code 400) unexpected - client version 1.52 is too new. Maximum supported API version is 1.43'))?.message).toMatch(
      /^Docker refuses API version 1\.52 \(its maximum is 1\.43\): Docker is older than API 1\.52/,
    );
    expect(apiVersionRefusal(new Error('no such container'))).toBeUndefined();
  });
});

describe("doctor: Docker's own firewall", () => {
  const tables = (...names: string[]) => parseNftJson(JSON.stringify({ nftables: names.map((n) => ({ table: { family: n.split(' ')[0], name: n.split(' ')[1], handle: 1 } })) }));

  it("Docker reports a backend even with its firewall off: that alone is fine", () => {
    expect(checkDockerFirewall({ driver: 'iptables', ruleset: tables('ip filter', 'ip nat') })).toMatchObject({ status: 'ok', detail: expect.stringContaining('backend iptables') });
    expect(checkDockerFirewall({ driver: undefined, ruleset: undefined })).toMatchObject({ status: 'ok', detail: expect.stringContaining('not reported') });
  });

  it("its nftables backend's tables in the kernel fail, naming them", () => {
    expect(checkDockerFirewall({ driver: 'nftables', ruleset: tables('ip docker-bridges', 'ip6 docker-bridges') })).toMatchObject({
      status: 'fail',
      detail: expect.stringMatching(/^Docker's own nftables firewall is active \(ip docker-bridges, ip6 docker-bridges; backend nftables\)/),
    });
  });
});
