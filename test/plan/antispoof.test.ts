// Issue 18 item 3: egress=false and the guards are keyed on source addresses. The planner holds
// each bridge port to its container's addresses (the `bridge dockgate` nft table) and guards every
// source a container can use there, its IPv6 link-local address included.
import { describe, expect, it } from 'vitest';
import type { BridgePort, ContainerFacts, NetworkFacts, RuleSet } from '../../src/model/types.js';
import {
  CHAIN_RULES,
  elements,
  linkLocalOf,
  renderBridgeDiff,
  renderBridgeTable,
} from '../../src/plan/antispoof.js';
import { bridgeDrift, parseBridgeState } from '../../src/plan/antispoof-state.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, SEALED, container, plan } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const JAIL = 'c0ffee000071'.padEnd(64, '0');
const GOOD = 'c0ffee000072'.padEnd(64, '0');

/** A container as docker/ reports it, with the MAC Docker derives from its IPv4 address. */
function withMac(c: ContainerFacts, ...macs: string[]): ContainerFacts {
  return { ...c, pid: 4242, networks: c.networks.map((a, i) => ({ ...a, mac: macs[i] })) };
}
const v6 = (p: RuleSet): RuleSet => familyRuleSet(p, 6)!;
const chain = (p: RuleSet, name: string): string[] => linesOf(p.chains.find((c) => c.name === name) ?? { rules: [] });
const port = (c: ContainerFacts, n: NetworkFacts, name: string): BridgePort => ({ containerId: c.id, networkId: n.id, port: name });

describe('the IPv6 link-local address', () => {
  it('is the EUI-64 of the MAC, as the kernel makes it', () => {
    expect(linkLocalOf('02:42:ac:11:00:02')).toBe('fe80::42:acff:fe11:2');
    expect(linkLocalOf('b2:1c:4d:23:55:bf')).toBe('fe80::b01c:4dff:fe23:55bf');
    expect(linkLocalOf('not a mac')).toBeUndefined();
  });
});

describe('guards of a container without egress cover every source it can use on the bridge', () => {
  const jail = (network: NetworkFacts = BRIDGE, ip6 = '') =>
    withMac(container('jail', { id: JAIL, network, ip: '172.17.0.5', ip6, labels: { 'dockgate.egress': 'false' } }), '02:42:ac:11:00:05');

  it('on an IPv4-only network: its link-local address is guarded in ip6tables INPUT and PREROUTING', () => {
    const p = v6(plan([jail()]));
    const guard = '-s fe80::42:acff:fe11:5/128 -i docker0 -m comment --comment "jail/c0ffee000071" -j RETURN';
    expect(chain(p, 'DOCKGATE-INPUT')).toContain(guard);
    expect(chain(p, 'DOCKGATE-PREROUTING')).toContain(guard);
  });

  it('on a dual-stack network: its global address and its link-local address', () => {
    const p = v6(plan([jail(DUAL, 'fd00:db8:1::5')], [BRIDGE, DUAL]));
    const guards = chain(p, 'DOCKGATE-INPUT').filter((l) => l.includes('jail/'));
    expect(guards).toEqual([
      '-s fd00:db8:1::5/128 -i br-eeeeeeeeeeee -m comment --comment "jail/c0ffee000071" -j RETURN',
      '-s fe80::42:acff:fe11:5/128 -i br-eeeeeeeeeeee -m comment --comment "jail/c0ffee000071" -j RETURN',
    ]);
  });

  it('without a MAC from Docker, every link-local source on its bridge', () => {
    const bare = container('jail', { id: JAIL, ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' } });
    expect(chain(v6(plan([bare])), 'DOCKGATE-INPUT')).toContain('-s fe80::/10 -i docker0 -m comment --comment "jail/c0ffee000071" -j RETURN');
  });

  it('a bad label guards the link-local address too; a container with egress gets no guard', () => {
    const bad = withMac(container('bad', { id: JAIL, ip: '172.17.0.5', labels: { 'dockgate.ports': '80 -j ACCEPT' } }), '02:42:ac:11:00:05');
    const good = withMac(container('good', { id: GOOD, ip: '172.17.0.6' }), '02:42:ac:11:00:06');
    const input = chain(v6(plan([bad, good])), 'DOCKGATE-INPUT');
    expect(input).toContain('-s fe80::42:acff:fe11:5/128 -i docker0 -m comment --comment "bad/c0ffee000071" -j RETURN');
    expect(input.join('\n')).not.toContain('good/');
  });

  it('no IPv4 rule mentions a link-local address', () => {
    expect(JSON.stringify(plan([jail()]).chains)).not.toContain('fe80');
  });
});

describe('anti-spoofing: each port sends only from its container\'s addresses', () => {
  const good = withMac(container('good', { id: GOOD, ip: '172.17.0.6' }), '02:42:ac:11:00:06');
  const jail = withMac(container('jail', { id: JAIL, ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' } }), '02:42:ac:11:00:05');

  it('every container interface on a managed bridge is an owner; its port, MAC and addresses are set elements', () => {
    const p = plan([good, jail], [BRIDGE], { bridgePorts: [port(good, BRIDGE, 'veth6666666'), port(jail, BRIDGE, 'veth5555555')] });
    const e = elements(p.bridge!);
    expect(e.ports.map((x) => x.key)).toEqual(['"veth5555555"', '"veth6666666"']);
    expect(e.macs.map((x) => x.key)).toEqual(['"veth5555555" . 02:42:ac:11:00:05', '"veth6666666" . 02:42:ac:11:00:06']);
    expect(e.own4.map((x) => x.key)).toEqual(['"veth5555555" . 172.17.0.5', '"veth6666666" . 172.17.0.6']);
    expect(e.own6.map((x) => x.key)).toEqual(['"veth5555555" . fe80::42:acff:fe11:5', '"veth6666666" . fe80::42:acff:fe11:6']);
    expect(e.known4.map((x) => x.key)).toEqual(['172.17.0.5', '172.17.0.6']);
    expect(e.own4.find((x) => x.key.includes('172.17.0.6'))?.comment).toBe('good/c0ffee000072');
  });

  it('a container whose port is not known has its addresses known but owned by no port: nobody sends from them', () => {
    const p = plan([good, jail], [BRIDGE], { bridgePorts: [port(good, BRIDGE, 'veth6666666')] });
    const e = elements(p.bridge!);
    expect(e.known4.map((x) => x.key)).toContain('172.17.0.5');
    expect(e.own4.map((x) => x.key).join()).not.toContain('172.17.0.5');
    expect(p.bridge!.owners.find((o) => o.comment.startsWith('jail/'))?.port).toBeUndefined();
  });

  it('internal networks are held too; a port name outside the interface grammar is not used', () => {
    const sealed = withMac(container('sealed', { id: JAIL, network: SEALED, ip: '172.22.0.2' }), '02:42:ac:16:00:02');
    const p = plan([sealed], [BRIDGE, SEALED], { bridgePorts: [port(sealed, SEALED, 'veth"; drop')] });
    expect(p.bridge!.owners).toEqual([
      { comment: 'sealed/c0ffee000071', bridge: 'br-dddddddddddd', port: undefined, mac: '02:42:ac:16:00:02', ipv4: ['172.22.0.2'], ipv6: ['fe80::42:acff:fe16:2'] },
    ]);
  });

  it('the chain drops a known address from another port, and anything but its own from a known port', () => {
    const text = renderBridgeTable(plan([good], [BRIDGE], { bridgePorts: [port(good, BRIDGE, 'veth6666666')] }).bridge!);
    expect(text).toMatch(/^table bridge dockgate\ndelete table bridge dockgate\ntable bridge dockgate \{/);
    expect(text).toContain('chain ports {\n    type filter hook prerouting priority -200; policy accept;');
    for (const r of CHAIN_RULES) expect(text).toContain(r);
    expect(text).toContain('ip saddr @known4 iifname . ip saddr != @own4 drop');
    expect(text).toContain('ip6 saddr @known6 iifname . ip6 saddr != @own6 drop');
    expect(text).toContain('set own4 { type ifname . ipv4_addr; elements = { "veth6666666" . 172.17.0.6 comment "good/c0ffee000072" }; }');
  });

  it('a container\'s start or stop is a few element writes of its own', () => {
    const before = plan([good], [BRIDGE], { bridgePorts: [port(good, BRIDGE, 'veth6666666')] }).bridge!;
    const after = plan([good, jail], [BRIDGE], { bridgePorts: [port(good, BRIDGE, 'veth6666666'), port(jail, BRIDGE, 'veth5555555')] }).bridge!;
    const diff = renderBridgeDiff(before, after);
    expect(diff.split('\n').filter(Boolean)).toEqual([
      'add element bridge dockgate ports { "veth5555555" comment "jail/c0ffee000071" }',
      'add element bridge dockgate macs { "veth5555555" . 02:42:ac:11:00:05 comment "jail/c0ffee000071" }',
      'add element bridge dockgate own4 { "veth5555555" . 172.17.0.5 comment "jail/c0ffee000071" }',
      'add element bridge dockgate own6 { "veth5555555" . fe80::42:acff:fe11:5 comment "jail/c0ffee000071" }',
      'add element bridge dockgate known4 { 172.17.0.5 comment "jail/c0ffee000071" }',
      'add element bridge dockgate known6 { fe80::42:acff:fe11:5 comment "jail/c0ffee000071" }',
    ]);
    expect(renderBridgeDiff(after, before)).toMatch(/^delete element bridge dockgate ports \{ "veth5555555" \}\n/);
    expect(renderBridgeDiff(after, after)).toBe('');
  });
});

describe('reading the table back', () => {
  const good = withMac(container('good', { id: GOOD, ip: '172.17.0.6', network: DUAL, ip6: 'fd00:db8:1:0::6' }), '02:42:ac:11:00:06');
  const filter = plan([good], [BRIDGE, DUAL], { bridgePorts: [port(good, DUAL, 'veth6666666')] }).bridge!;
  /** What `nft -j list table bridge dockgate` prints for that filter (nft 1.0.6). */
  const listed = (drop: string[] = []) => {
    const e = elements(filter);
    const val = (set: string, key: string): unknown => {
      const parts = key.split(' . ').map((p) => p.replace(/^"|"$/g, ''));
      return parts.length === 1 ? parts[0] : { concat: parts };
    };
    const sets = Object.entries(e).map(([name, els], i) => ({
      set: {
        family: 'bridge',
        name,
        table: 'dockgate',
        type: 'x',
        handle: 10 + i,
        elem: els.filter((x) => !drop.includes(`${name} ${x.key}`)).map((x) => ({ elem: { val: val(name, x.key), comment: x.comment } })),
      },
    }));
    return JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }, { table: { family: 'bridge', name: 'dockgate', handle: 1 } }, ...sets, { chain: { name: 'ports', handle: 99 } }] });
  };
  const shape = parseBridgeState(listed())!.shape;

  it('parses elements back to the keys the plan makes, handles aside', () => {
    const state = parseBridgeState(listed())!;
    expect(state.elements.own6).toEqual(['"veth6666666" . fd00:db8:1::6', '"veth6666666" . fe80::42:acff:fe11:6']);
    expect(bridgeDrift(filter, state, shape)).toEqual({ clean: true, absent: false, shapeChanged: false, missing: [], unexpected: [] });
  });

  it('a deleted element, a missing table and a changed chain are drift', () => {
    expect(bridgeDrift(filter, parseBridgeState(listed(['own4 "veth6666666" . 172.17.0.6'])), shape).missing).toEqual(['own4 "veth6666666" . 172.17.0.6']);
    expect(bridgeDrift(filter, parseBridgeState('{"nftables": [{"metainfo": {}}]}'), shape).absent).toBe(true);
    expect(bridgeDrift(filter, parseBridgeState(listed()), shape.replace('"ports"', '"other"')).shapeChanged).toBe(true);
  });
});
