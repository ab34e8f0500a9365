// A label opens only what its own container owns (issue 9, items 1-4): proxy openings come from
// the container's own -p bindings, a host port has exactly one owner, dnat carries the allowed
// sources, and nothing crosses an internal network.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, Listener, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { renderPlan } from '../../src/plan/restore.js';
import type { PlanInput } from '../../src/plan/ruleset.js';
import { BRIDGE, SEALED, container, plan as planOn, shardLines } from './fixtures.js';

const plan = (containers: ContainerFacts[], extra: Partial<PlanInput> = {}, networks: NetworkFacts[] = [BRIDGE]): RuleSet => planOn(containers, networks, extra);

const of = (p: RuleSet, name: string) => p.containers.find((c) => c.name === name)!;

describe('proxy mode opens only the container\'s own -p bindings', () => {
  it.each([
    ['2222:2222', []],
    ['1-1024:1-1024', []],
    ['10.0.0.5:22:22', []],
  ])('label %s on a container run without -p opens nothing and warns', (label) => {
    const p = plan([container('sneaky', { labels: { 'dockgate.ports': label } })]);
    expect(of(p, 'sneaky').openings).toEqual([]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS')).toEqual([]);
    expect(of(p, 'sneaky').warnings.join('\n')).toMatch(/dockgate\.ports entry ".*": .*matches none of this container's -p bindings/);
  });

  it('a mapping label that names its own binding opens it, and the accept is as narrow as the binding', () => {
    const any = plan([container('a', { labels: { 'dockgate.ports': '8000:80' }, publish: ['0.0.0.0:8000:80/tcp'] })]);
    expect(shardLines(any, 'DOCKGATE-OPENINGS')).toEqual([
      expect.stringMatching(/^-p tcp -m tcp --dport 8000 -m addrtype --dst-type LOCAL -m conntrack --ctstate NEW .* -j ACCEPT$/),
    ]);
    const bound = plan([container('b', { labels: { 'dockgate.ports': '8000:80' }, publish: ['10.0.0.5:8000:80/tcp'] })]);
    expect(shardLines(bound, 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-d 10\.0\.0\.5\/32 -p tcp -m tcp --dport 8000 -m conntrack/)]);
    // The label may narrow a 0.0.0.0 binding to one address, never widen or move one.
    const narrowed = plan([container('c', { labels: { 'dockgate.ports': '10.0.0.5:8000:80' }, publish: ['0.0.0.0:8000:80/tcp'] })]);
    expect(shardLines(narrowed, 'DOCKGATE-OPENINGS')).toEqual([expect.stringMatching(/^-d 10\.0\.0\.5\/32 /)]);
    const moved = plan([container('d', { labels: { 'dockgate.ports': '10.0.0.6:8000:80' }, publish: ['10.0.0.5:8000:80/tcp'] })]);
    expect(shardLines(moved, 'DOCKGATE-OPENINGS')).toEqual([]);
    const otherPort = plan([container('e', { labels: { 'dockgate.ports': '8001:80' }, publish: ['0.0.0.0:8000:80/tcp'] })]);
    expect(shardLines(otherPort, 'DOCKGATE-OPENINGS')).toEqual([]);
  });

  it('an accept for a 0.0.0.0 binding is for local destinations only (PORT form too)', () => {
    const p = plan([container('w', { labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8080:80/tcp'] })]);
    expect(shardLines(p, 'DOCKGATE-OPENINGS').every((l) => l.includes('-m addrtype --dst-type LOCAL'))).toBe(true);
  });

  it('a container without egress reaches no published port through the host: guards come before every accept and DNAT', () => {
    const p = plan([
      container('web', { ip: '172.17.0.2', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8080:80/tcp'] }),
      container('jail', { ip: '172.17.0.9', labels: { 'dockgate.egress': 'false' } }),
    ]);
    for (const chain of ['DOCKGATE-INPUT', 'DOCKGATE-PREROUTING']) {
      // In INPUT only the admin's DOCKGATE-USER comes first (a ban there wins over everything).
      const rules = p.chains.find((c) => c.name === chain)!.rules.filter((l) => !l.endsWith('-j DOCKGATE-USER'));
      expect(rules[0]).toMatch(/^-s 172\.17\.0\.9\/32 -i docker0 -m comment --comment "jail\/[0-9a-f]{12}" -j RETURN$/);
      expect(rules.at(-1)).toMatch(/-j DOCKGATE-(OPENINGS|DNAT)$/);
    }
  });
});

describe('a host port belongs to exactly one container', () => {
  const owner = (): ContainerFacts =>
    container('owner', { id: 'a1'.repeat(32), ip: '172.17.0.2', labels: { 'dockgate.ports': '443', 'dockgate.from': '192.168.10.0/24' }, publish: ['0.0.0.0:8443:443/tcp'] });

  it('another container\'s label cannot widen a from-restricted port (proxy or dnat)', () => {
    const alone = renderPlan(plan([owner()]));
    for (const mode of ['proxy', 'dnat']) {
      const a = owner();
      const intruder = container('intruder', { ip: '172.17.0.3', labels: { 'dockgate.ports': '8443:1', 'dockgate.mode': mode } });
      const p = plan([a, intruder]);
      expect(of(p, 'intruder').openings).toEqual([]);
      const withIntruder = renderPlan(p).split('\n').filter((l) => !l.includes('intruder/'));
      expect(withIntruder.filter((l) => /8443|DNAT --to/.test(l))).toEqual(alone.split('\n').filter((l) => /8443|DNAT --to/.test(l)));
      if (mode === 'dnat') expect(of(p, 'intruder').errors[0]?.reason).toMatch(/published with -p by container owner: it belongs to that container/);
    }
  });

  it('two labels claiming the same host port: the older container wins, whatever the names or listing order; the other gets nothing and one error', () => {
    const claim = { 'dockgate.ports': '9000:80', 'dockgate.mode': 'dnat' };
    const old = container('zz-old', { ip: '172.17.0.4', labels: claim, created: '2026-01-01T00:00:00.000000000Z' });
    const young = container('aa-young', { ip: '172.17.0.5', labels: { ...claim, 'dockgate.ports': '9000:81' }, created: '2026-02-01T00:00:00.000000000Z' });
    for (const order of [[old, young], [young, old]]) {
      const p = plan(order);
      expect(of(p, 'zz-old').openings.map((o) => `${o.hostPort}>${o.containerIp}:${o.containerPort}`)).toEqual(['9000>172.17.0.4:80']);
      expect(of(p, 'aa-young').openings).toEqual([]);
      expect(of(p, 'aa-young').errors).toHaveLength(1);
      expect(of(p, 'aa-young').errors[0]?.reason).toMatch(/also claimed by container zz-old, created earlier/);
    }
    // Same creation time: the id decides, never the name.
    const t = '2026-03-01T00:00:00.000000000Z';
    const x = container('x', { id: '1'.repeat(64), ip: '172.17.0.6', labels: claim, created: t });
    const y = container('a', { id: '2'.repeat(64), ip: '172.17.0.7', labels: claim, created: t });
    expect(of(plan([x, y]), 'x').openings).toHaveLength(1);
    expect(of(plan([x, y]), 'a').openings).toHaveLength(0);
  });

  it('claims on different addresses of the same port do not conflict; a claim on every address conflicts with both', () => {
    const a = container('a', { ip: '172.17.0.4', labels: { 'dockgate.ports': '10.0.0.5:9000:80', 'dockgate.mode': 'dnat' } });
    const b = container('b', { ip: '172.17.0.5', labels: { 'dockgate.ports': '10.0.0.6:9000:80', 'dockgate.mode': 'dnat' } });
    const c = container('c', { ip: '172.17.0.6', labels: { 'dockgate.ports': '9000:80', 'dockgate.mode': 'dnat' } });
    const p = plan([a, b, c]);
    expect(of(p, 'a').openings).toHaveLength(1);
    expect(of(p, 'b').openings).toHaveLength(1);
    expect(of(p, 'c').openings).toHaveLength(0);
  });
});

describe('dnat claims without -p', () => {
  it('a host port below the claimable range is refused; the range is configurable', () => {
    const c = container('ssh', { labels: { 'dockgate.ports': '22:22', 'dockgate.mode': 'dnat' } });
    const p = plan([c]);
    expect(of(p, 'ssh').openings).toEqual([]);
    expect(of(p, 'ssh').errors[0]).toMatchObject({ label: 'dockgate.ports', value: '22:22' });
    expect(of(p, 'ssh').errors[0]?.reason).toMatch(/outside claimable_ports \(1024-65535\)/);
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([]);
    expect(of(plan([c], { claimable: { start: 1, end: 65535 } }), 'ssh').openings).toHaveLength(1);
  });

  it('a refused claim is an error on an IPv4-only host too, even for a container without a bridge address', () => {
    const c = container('ssh', { labels: { 'dockgate.ports': '22:22', 'dockgate.mode': 'dnat' } });
    c.networks = [];
    const p = plan([c], { ipv6: false });
    expect(of(p, 'ssh').errors[0]?.reason).toMatch(/outside claimable_ports/);
  });

  it('never a port a host process listens on (same protocol, overlapping address)', () => {
    const c = container('db', { labels: { 'dockgate.ports': '5432:5432', 'dockgate.mode': 'dnat' } });
    const listening: Listener[] = [{ protocol: 'tcp', ip: undefined, port: 5432 }];
    expect(of(plan([c], { listeners: listening }), 'db').errors[0]?.reason).toMatch(/a host process listens on \*:5432\/tcp/);
    expect(of(plan([c], { listeners: [{ protocol: 'tcp', ip: '127.0.0.1', port: 5432 }] }), 'db').openings).toHaveLength(0);
    expect(of(plan([c], { listeners: [{ protocol: 'udp', ip: undefined, port: 5432 }] }), 'db').openings).toHaveLength(1);
    const onOne = container('db2', { labels: { 'dockgate.ports': '10.0.0.5:5432:5432', 'dockgate.mode': 'dnat' } });
    expect(of(plan([onOne], { listeners: [{ protocol: 'tcp', ip: '127.0.0.1', port: 5432 }] }), 'db2').openings).toHaveLength(1);
  });

  it('a mapping that names the container\'s own -p binding is not a claim (no range limit)', () => {
    const c = container('dns', { labels: { 'dockgate.ports': '53:53/udp', 'dockgate.mode': 'dnat' }, publish: ['0.0.0.0:53:53/udp'] });
    expect(of(plan([c], { listeners: [{ protocol: 'udp', ip: undefined, port: 53 }] }), 'dns').openings).toHaveLength(1);
  });

  it('DNAT rules carry the allowed sources, so other sources still reach the host\'s own service', () => {
    const c = container('api', { ip: '172.17.0.3', labels: { 'dockgate.ports': '2222:22', 'dockgate.mode': 'dnat', 'dockgate.from': '10.1.0.0/16' } });
    expect(shardLines(plan([c]), 'DOCKGATE-DNAT')).toEqual([
      expect.stringMatching(/^-s 10\.1\.0\.0\/16 -p tcp -m tcp --dport 2222 .* -j DNAT --to-destination 172\.17\.0\.3:22$/),
    ]);
  });
});

describe('internal networks', () => {
  it('no masquerade, no replies, no egress, no DNAT onto an internal network; its traffic skips dockgate\'s accepts', () => {
    const only = container('secret', { network: SEALED, ip: '172.22.0.2', labels: { 'dockgate.ports': '9100:80', 'dockgate.mode': 'dnat' } });
    const p = plan([only], {}, [BRIDGE, SEALED]);
    const text = renderPlan(p);
    expect(text).not.toMatch(/-s 172\.22\.0\.0\/24 .*MASQUERADE/);
    expect(text).not.toMatch(/replies (into|from) sealed/);
    expect(text).toMatch(/-d 172\.22\.0\.0\/24 ! -i br-dddddddddddd .* -j DROP/);
    expect(of(p, 'secret').openings).toEqual([]);
    expect(shardLines(p, 'DOCKGATE-CONTAINERS')).toEqual([]);
    expect(of(p, 'secret').warnings.join()).toMatch(/only on internal network sealed/);
    for (const chain of ['DOCKGATE-INPUT', 'DOCKGATE-PREROUTING']) {
      const rules = p.chains.find((c) => c.name === chain)!.rules.filter((l) => !l.endsWith('-j DOCKGATE-USER'));
      expect(rules[0]).toMatch(/^-i br-dddddddddddd .* -j RETURN$/);
    }
  });

  it('a container also on a normal network is served and leaves through that one only, with a warning', () => {
    const c = container('both', { network: SEALED, ip: '172.22.0.3', labels: { 'dockgate.ports': '9100:80', 'dockgate.mode': 'dnat' } });
    c.networks.push({ networkId: BRIDGE.id, networkName: 'bridge', ipv4: '172.17.0.8', ipv6: '' });
    const p = plan([c], {}, [BRIDGE, SEALED]);
    expect(of(p, 'both').openings.map((o) => o.containerIp)).toEqual(['172.17.0.8']);
    const egress = shardLines(p, 'DOCKGATE-CONTAINERS').filter((l) => l.includes('NEW'));
    expect(egress).toEqual([expect.stringMatching(/^-s 172\.17\.0\.8\/32 -i docker0 /)]);
    expect(of(p, 'both').warnings.join()).toMatch(/on internal network sealed: .* through bridge only/);
  });
});

describe('networks dockgate does not firewall', () => {
  it('a macvlan attachment is reported, not silently skipped', () => {
    const c = container('mac', { labels: { 'dockgate.ports': '80' } });
    c.networks = [{ networkId: 'ee'.repeat(32), networkName: 'lan', ipv4: '192.168.1.50', ipv6: '' }];
    const p = plan([c], { otherNetworks: [{ id: 'ee'.repeat(32), name: 'lan', driver: 'macvlan' }] });
    expect(of(p, 'mac').warnings.join()).toMatch(/attached to network lan \(driver macvlan\), which dockgate does not firewall/);
  });
});
