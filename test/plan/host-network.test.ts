// `--network host` containers (issue 22 item 2): `dockgate.ports` opens INPUT for the sockets the
// container's own processes listen on, with `from`, in both families; nothing for a port it does
// not listen on or shares with another process; `mode` and `egress` do not apply and are reported.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, HostSocket, RuleSet } from '../../src/model/types.js';
import { PlanCache, buildRuleSet } from '../../src/plan/ruleset.js';
import { DEFAULTS, BRIDGE, container, plan, shardLines } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const HOST_NET = { id: 'ab'.repeat(32), name: 'host', driver: 'host' };

/** A container run with `--network host`, as docker/facts.ts reports one. */
function hostContainer(name: string, labels: Record<string, string>): ContainerFacts {
  const c = container(name, { labels });
  return { ...c, networks: [{ networkId: HOST_NET.id, networkName: 'host' }], hostNetwork: true };
}

const mine = (c: ContainerFacts, port: number, extra: Partial<HostSocket> = {}): HostSocket => ({
  protocol: 'tcp',
  table: 6,
  ip: undefined,
  port,
  owner: { kind: 'container', id: c.id },
  ...extra,
});
const host = (port: number, extra: Partial<HostSocket> = {}): HostSocket => ({ protocol: 'tcp', table: 4, ip: undefined, port, owner: { kind: 'other' }, ...extra });

const planWith = (containers: ContainerFacts[], hostSockets: HostSocket[] | undefined): RuleSet =>
  plan(containers, [BRIDGE], { otherNetworks: [HOST_NET], ...(hostSockets ? { hostSockets } : {}) });
const v6Lines = (p: RuleSet): string[] => shardLines(p.ipv6!, 'DOCKGATE-OPENINGS');

describe('a host-network container opens the sockets its own processes listen on', () => {
  it('a dual-stack socket of its own opens INPUT in both families, for the host\'s own addresses', () => {
    const traefik = hostContainer('traefik', { 'dockgate.ports': '8090' });
    const p = planWith([traefik], [mine(traefik, 8090)]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([
      expect.stringMatching(/^-p tcp -m tcp --dport 8090 -m addrtype --dst-type LOCAL -m conntrack --ctstate NEW -m comment --comment "?traefik\/[0-9a-f]{12}"? -j ACCEPT$/),
    ]);
    expect(v6Lines(p)).toEqual([expect.stringMatching(/^-p tcp -m tcp --dport 8090 -m addrtype --dst-type LOCAL .* -j ACCEPT$/)]);
    const c = p.containers[0]!;
    expect(c.hostNetwork).toBe(true);
    expect(c.openings.map((o) => [o.family, o.hostPort, o.hostIp.kind])).toEqual([
      [4, 8090, 'any'],
      [6, 8090, 'any'],
    ]);
    // Nothing else: no DNAT, no egress or guard lines, no "nothing opened" warning of the old kind.
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([]);
    expect(shardLines(p, 'DOCKGATE-CONTAINERS')).toEqual([]);
    expect(c.warnings).toEqual([]);
  });

  it('a port it does not listen on opens nothing, with a warning, even when a host process listens there', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090,8091' });
    const p = planWith([web], [mine(web, 8090), host(8091), host(22)]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS').join('\n')).not.toMatch(/--dport (8091|22) /);
    expect(p.containers[0]!.openings.map((o) => o.hostPort)).toEqual([8090, 8090]);
    expect(p.containers[0]!.warnings).toEqual([expect.stringMatching(/dockgate\.ports entry "8091": no process of this container listens on 8091: nothing opened/)]);
  });

  it('a range opens only the ports of the range it listens on', () => {
    const web = hostContainer('web', { 'dockgate.ports': '9000-9010' });
    const p = planWith([web], [mine(web, 9003, { table: 4 }), host(9004)]);
    expect(p.containers[0]!.openings.map((o) => [o.family, o.hostPort])).toEqual([[4, 9003]]);
    expect(p.containers[0]!.warnings.join('\n')).toMatch(/entry "9000-9010": no process of this container listens on 10 of its ports/);
  });

  it('the socket\'s address and table decide the family and the match', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090,8091,8092/udp' });
    const p = planWith(
      [web],
      [
        mine(web, 8090, { table: 4, ip: '10.0.0.5' }),
        mine(web, 8091, { table: 6, ip: '2001:db8::5' }),
        mine(web, 8092, { protocol: 'udp', table: 4 }),
      ],
    );
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([
      expect.stringMatching(/^-d 10\.0\.0\.5\/32 -p tcp -m tcp --dport 8090 -m conntrack --ctstate NEW .* -j ACCEPT$/),
      expect.stringMatching(/^-p udp -m udp --dport 8092 -m addrtype --dst-type LOCAL .* -j ACCEPT$/),
    ]);
    expect(v6Lines(p)).toEqual([expect.stringMatching(/^-d 2001:db8::5\/128 -p tcp -m tcp --dport 8091 .* -j ACCEPT$/)]);
  });

  it('a mapping entry narrows to an address; one that maps to another port opens nothing', () => {
    const web = hostContainer('web', { 'dockgate.ports': '10.0.0.5:8090:8090,8080:80' });
    const p = planWith([web], [mine(web, 8090), mine(web, 80)]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-d 10\.0\.0\.5\/32 -p tcp -m tcp --dport 8090 /)]);
    expect(v6Lines(p)).toEqual([]);
    expect(p.containers[0]!.warnings.join('\n')).toMatch(/entry "8080:80": a --network host container has no port mapping/);
  });

  it('from restricts, per family', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090', 'dockgate.from': '10.0.0.9/32' });
    const p = planWith([web], [mine(web, 8090)]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-s 10\.0\.0\.9\/32 -p tcp -m tcp --dport 8090 .* -j ACCEPT$/)]);
    expect(v6Lines(p)).toEqual([]);
    expect(p.containers[0]!.warnings.join('\n')).toMatch(/no IPv6 source in dockgate\.from: nothing opened over IPv6/);
  });

  it('a socket another process (the host, another container) also listens on is not opened in that family', () => {
    const a = hostContainer('a', { 'dockgate.ports': '8090,8091' });
    const b = hostContainer('b', {});
    // 8090: the host listens on IPv4 beside a's IPv6-only socket; 8091: b shares it by SO_REUSEPORT.
    const p = planWith([a, b], [mine(a, 8090, { table: 6, ip: undefined }), host(8090, { table: 4 }), mine(a, 8091, { table: 4 }), mine(b, 8091, { table: 4 })]);
    expect(p.containers.find((c) => c.name === 'a')!.openings.map((o) => [o.family, o.hostPort])).toEqual([[6, 8090]]);
    expect(p.containers.find((c) => c.name === 'a')!.warnings.join('\n')).toMatch(/another process, not of this container, also listens on 8090\/tcp over IPv4: not opened over IPv4/);
  });

  it('another container\'s socket is not its own', () => {
    const a = hostContainer('a', { 'dockgate.ports': '8090' });
    const b = hostContainer('b', { 'dockgate.ports': '8091' });
    const p = planWith([a, b], [mine(b, 8090)]);
    expect(p.containers.flatMap((c) => c.openings)).toEqual([]);
  });

  it('mode and egress do not apply and are reported; no guard or egress rule is written', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090', 'dockgate.mode': 'dnat', 'dockgate.egress': 'false' });
    const p = planWith([web], [mine(web, 8090)]);
    const c = p.containers[0]!;
    expect(c.warnings).toEqual([expect.stringMatching(/uses the host network: dockgate\.mode and dockgate\.egress do not apply to it .*: ignored/)]);
    expect(c.mode).toBe('proxy');
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([]);
    expect(linesOf(p.chains.find((ch) => ch.name === 'DOCKGATE-INPUT')!).filter((r) => r.includes('RETURN'))).toEqual([]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toHaveLength(1);
  });

  it('a dnat mapping on the host network claims no host port from another container', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090:8090', 'dockgate.mode': 'dnat' });
    const other = container('other', { labels: { 'dockgate.ports': '8090:80', 'dockgate.mode': 'dnat' }, created: '2027-01-01T00:00:00.000000000Z' });
    const p = planWith([web, other], [mine(web, 8090)]);
    // Older, web would win the claim were it judged as one.
    expect(web.created < other.created).toBe(true);
    const o = p.containers.find((c) => c.name === 'other')!;
    expect(o.errors).toEqual([]);
    expect(o.openings.map((x) => [x.mode, x.hostPort])).toEqual([['dnat', 8090]]);
  });

  it('sockets not read: nothing opens, and the container says why', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090' });
    const p = planWith([web], undefined);
    expect(p.containers[0]!.openings).toEqual([]);
    expect(p.containers[0]!.warnings.join('\n')).toMatch(/listening sockets could not be read/);
  });

  it('a label error closes it as any other container', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090 -j ACCEPT' });
    const p = planWith([web], [mine(web, 8090)]);
    expect(p.containers[0]!.openings).toEqual([]);
    expect(p.containers[0]!.errors.length).toBeGreaterThan(0);
  });

  it('the plan follows its sockets through the cache: a new listener of its own opens at the next plan', () => {
    const web = hostContainer('web', { 'dockgate.ports': '8090,8091' });
    const cache = new PlanCache();
    const input = { labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [web], networks: [BRIDGE], otherNetworks: [HOST_NET] };
    const before = buildRuleSet({ ...input, hostSockets: [mine(web, 8090)] }, cache);
    const after = buildRuleSet({ ...input, hostSockets: [mine(web, 8090), mine(web, 8091)] }, cache);
    expect(before.containers[0]!.openings.map((o) => o.hostPort)).toEqual([8090, 8090]);
    expect(after.containers[0]!.openings.map((o) => o.hostPort)).toEqual([8090, 8091, 8090, 8091]);
    // A host process's new socket on another port changes nothing of it.
    const again = buildRuleSet({ ...input, hostSockets: [mine(web, 8090), mine(web, 8091), host(9999)] }, cache);
    expect(again.containers[0]).toBe(after.containers[0]);
  });
});
