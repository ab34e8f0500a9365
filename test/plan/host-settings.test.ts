// Which bridges need route_localnet, which conntrack flows a plan change must delete. Pure.
import { describe, expect, it } from 'vitest';
import { ANY_HOST, ANY_SOURCE, hostAddress } from '../../src/model/format.js';
import type { ContainerPlan, Opening, RuleSet } from '../../src/model/types.js';
import { conntrackFlushes, dockerBridgeInterfaces, interfaceSettings, resolveExternalInterfaces } from '../../src/plan/host-settings.js';
import { BACK, BRIDGE, FRONT } from './fixtures.js';

/** An opening; `hostIp` as text for brevity, '' for every local address. */
type OpeningInput = Partial<Omit<Opening, 'hostIp'>> & { hostIp?: string };
const opening = ({ hostIp = '', ...o }: OpeningInput): Opening => ({
  family: 4,
  protocol: 'tcp',
  hostIp: hostIp === '' ? ANY_HOST : hostAddress(hostIp),
  hostPort: 8080,
  containerIp: '172.17.0.2',
  containerPort: 80,
  mode: 'dnat',
  sources: ANY_SOURCE,
  ...o,
});

const plan = (...containers: Opening[][]): RuleSet => ({
  chains: [],
  jumps: [],
  containers: containers.map(
    (openings, i) => ({ id: `c${i}`.padEnd(64, '0'), name: `c${i}`, mode: 'dnat', egress: true, openings, errors: [], warnings: [], imageLabels: [] }) as ContainerPlan,
  ),
});

const NETWORKS = [BRIDGE, FRONT, BACK];

describe('interfaceSettings: route_localnet per bridge', () => {
  it('is on only on the bridge that carries a 127.x dnat target, off on every other managed bridge', () => {
    const p = plan([opening({ hostIp: '127.0.0.1', hostPort: 8060, containerIp: '172.20.0.2' })], [opening({ hostPort: 8061 })]);
    const s = interfaceSettings(p, NETWORKS, ['eth0']);
    expect(s.routeLocalnet).toEqual({ on: ['br-bbbbbbbbbbbb'], off: ['dg-back', 'docker0'] });
    expect(s.forwarding).toEqual(['eth0', 'br-bbbbbbbbbbbb', 'dg-back', 'docker0']);
  });

  it('any 127.x host address counts, on each bridge that has such a target', () => {
    const p = plan(
      [opening({ hostIp: '127.0.0.53', hostPort: 53, protocol: 'udp', containerIp: '172.21.0.9' })],
      [opening({ hostIp: '127.0.0.1', hostPort: 8060, containerIp: '172.17.0.3' })],
    );
    expect(interfaceSettings(p, NETWORKS, []).routeLocalnet).toEqual({ on: ['dg-back', 'docker0'], off: ['br-bbbbbbbbbbbb'] });
  });

  it('is off everywhere without a loopback dnat port: proxy mode and other host addresses need none', () => {
    const p = plan([
      opening({ hostIp: '127.0.0.1', mode: 'proxy', containerIp: '172.20.0.2' }),
      opening({ hostIp: '10.0.0.5', containerIp: '172.17.0.2' }),
      opening({ hostIp: '', containerIp: '172.21.0.2', hostPort: 9000 }),
    ]);
    expect(interfaceSettings(p, NETWORKS, []).routeLocalnet).toEqual({ on: [], off: ['br-bbbbbbbbbbbb', 'dg-back', 'docker0'] });
  });

  it('a target on no managed subnet turns nothing on (fail closed)', () => {
    const p = plan([opening({ hostIp: '127.0.0.1', containerIp: '192.168.50.2' })]);
    expect(interfaceSettings(p, NETWORKS, []).routeLocalnet.on).toEqual([]);
  });

  it('goes back off once the last loopback port of a bridge is gone', () => {
    const before = plan([opening({ hostIp: '127.0.0.1', hostPort: 8060, containerIp: '172.20.0.2' })]);
    expect(interfaceSettings(before, NETWORKS, []).routeLocalnet.on).toEqual(['br-bbbbbbbbbbbb']);
    expect(interfaceSettings(plan([]), NETWORKS, []).routeLocalnet.off).toContain('br-bbbbbbbbbbbb');
  });
});

describe('interfaceSettings: forwarding', () => {
  it('the resolved external interfaces and every managed bridge, each once', () => {
    const s = interfaceSettings(plan([]), NETWORKS, ['eth0', 'wg0', 'eth0']);
    expect(s.external).toEqual(['eth0', 'wg0']);
    expect(s.forwarding).toEqual(['eth0', 'wg0', 'br-bbbbbbbbbbbb', 'dg-back', 'docker0']);
  });

  it('no external interface: only the bridges forward', () => {
    const s = interfaceSettings(plan([]), NETWORKS, []);
    expect(s.external).toEqual([]);
    expect(s.forwarding).toEqual(['br-bbbbbbbbbbbb', 'dg-back', 'docker0']);
  });
});

describe('resolveExternalInterfaces', () => {
  it('auto: every interface the routes lead through, none until they are read', () => {
    expect(resolveExternalInterfaces({ kind: 'auto' }, ['eth0', 'wlan0'])).toEqual(['eth0', 'wlan0']);
    expect(resolveExternalInterfaces({ kind: 'auto' }, [])).toEqual([]);
    expect(resolveExternalInterfaces({ kind: 'auto' }, undefined)).toEqual([]);
  });

  it('auto: a managed bridge is never external, whatever its name (com.docker.network.bridge.name)', () => {
    expect(resolveExternalInterfaces({ kind: 'auto' }, ['dg-back', 'eth0', 'eth1'], ['docker0', 'dg-back'])).toEqual(['eth0', 'eth1']);
    const s = interfaceSettings(plan([]), NETWORKS, resolveExternalInterfaces({ kind: 'auto' }, ['dg-back', 'eth0', 'eth1'], NETWORKS.map((n) => n.bridge)));
    expect(s.external).toEqual(['eth0', 'eth1']);
  });

  it('an explicit list wins over the routes, an empty one too', () => {
    expect(resolveExternalInterfaces({ kind: 'list', names: ['wg0'] }, ['eth0'])).toEqual(['wg0']);
    expect(resolveExternalInterfaces({ kind: 'list', names: [] }, ['eth0'])).toEqual([]);
  });
});

describe('dockerBridgeInterfaces: what flush and uninstall may turn route_localnet off on', () => {
  it("takes Docker's own bridge names and the bridges Docker reports, nothing else", () => {
    const present = ['lo', 'eth0', 'docker0', 'br-0123456789ab', 'br-lan', 'br-0123456789abc', 'dg-back', 'virbr0'];
    expect(dockerBridgeInterfaces(present, [])).toEqual(['br-0123456789ab', 'docker0']);
    expect(dockerBridgeInterfaces(present, ['dg-back', 'gone0'])).toEqual(['br-0123456789ab', 'dg-back', 'docker0']);
  });
});

describe('conntrackFlushes', () => {
  const web = (o: OpeningInput = {}) => opening({ protocol: 'udp', hostPort: 5000, containerPort: 5000, containerIp: '172.29.0.10', ...o });

  it('nothing for an unchanged plan, nor for proxy openings', () => {
    expect(conntrackFlushes(plan([web()]), plan([web()]))).toEqual([]);
    expect(conntrackFlushes(plan([]), plan([web({ mode: 'proxy' })]))).toEqual([]);
  });

  it('a moved target: only the flows DNATed to the old container go', () => {
    expect(conntrackFlushes(plan([web()]), plan([web({ containerIp: '172.29.0.11' })]))).toEqual([
      { family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000, target: { ip: '172.29.0.10', port: 5000 } },
    ]);
  });

  it('a vanished opening with a host address: flows to that address and old target', () => {
    expect(conntrackFlushes(plan([web({ hostIp: '10.0.0.5', protocol: 'tcp' })]), plan([]))).toEqual([
      { family: 4, protocol: 'tcp', hostIp: hostAddress('10.0.0.5'), hostPort: 5000, target: { ip: '172.29.0.10', port: 5000 } },
    ]);
  });

  it('a newly DNATed UDP port: the flows that were not DNATed go; TCP needs none', () => {
    expect(conntrackFlushes(plan([]), plan([web({ hostIp: '10.0.0.5' }), web({ protocol: 'tcp', hostPort: 80, containerPort: 80 })]))).toEqual([
      { family: 4, protocol: 'udp', hostIp: hostAddress('10.0.0.5'), hostPort: 5000 },
    ]);
  });

  it('another port of the same container is untouched', () => {
    const a = web({ hostPort: 5001 });
    expect(conntrackFlushes(plan([web(), a]), plan([a]))).toEqual([{ family: 4, protocol: 'udp', hostIp: ANY_HOST, hostPort: 5000, target: { ip: '172.29.0.10', port: 5000 } }]);
  });
});
