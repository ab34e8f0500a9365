// A label opens only what its own container owns (issue 9, items 1-4): proxy openings come from
// the container's own -p bindings, a host port has exactly one owner, dnat carries the allowed
// sources, and nothing crosses an internal network.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, Family, Listener, NetworkFacts, RuleSet } from '../../src/model/types.js';
import { contestedClaims, heldInKernel } from '../../src/plan/held-claims.js';
import type { KernelState } from '../../src/plan/kernel-state.js';
import { renderPlan } from '../../src/plan/restore.js';
import { type PlanInput, PlanCache, buildRuleSet, familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DEFAULTS, SEALED, container, plan as planOn, shardLines } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

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
      const rules = linesOf(p.chains.find((c) => c.name === chain)!).filter((l) => !l.endsWith('-j DOCKGATE-USER'));
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
      const rules = linesOf(p.chains.find((c) => c.name === chain)!).filter((l) => !l.endsWith('-j DOCKGATE-USER'));
      expect(rules[0]).toMatch(/^-i br-dddddddddddd .* -j RETURN$/);
    }
  });

  it('a container also on a normal network is served and leaves through that one only, with a warning', () => {
    const c = container('both', { network: SEALED, ip: '172.22.0.3', labels: { 'dockgate.ports': '9100:80', 'dockgate.mode': 'dnat' } });
    c.networks.push({ networkId: BRIDGE.id, networkName: 'bridge', ipv4: '172.17.0.8' });
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
    c.networks = [{ networkId: 'ee'.repeat(32), networkName: 'lan', ipv4: '192.168.1.50' }];
    const p = plan([c], { otherNetworks: [{ id: 'ee'.repeat(32), name: 'lan', driver: 'macvlan' }] });
    expect(of(p, 'mac').warnings.join()).toMatch(/on network lan \(driver macvlan\): .*without passing the host's firewall.*its labels dockgate\.ports/);
  });
});

// Issue 18 item 5: a granted claim is not revocable by a local user who binds the port later, and
// a refused entry costs only itself. The planner has no memory: the daemon passes the claims the
// previous plan granted back in (`granted`), keyed by the container's run (its start time).
describe('a granted claim stays with its container until it stops', () => {
  const STARTED = '2026-04-01T10:00:00.000000000Z';
  const claimer = (started = STARTED): ContainerFacts => ({
    ...container('game', { id: 'c1'.repeat(32), ip: '172.17.0.4', labels: { 'dockgate.ports': '31337:80', 'dockgate.mode': 'dnat' } }),
    started,
  });
  const listener: Listener[] = [{ protocol: 'tcp', ip: undefined, port: 31337 }];
  const dnatTo = (p: RuleSet): string[] => shardLines(p, 'DOCKGATE-DNAT').filter((l) => l.includes('--dport 31337'));

  it('a host process that binds the port after the grant is reported, not obeyed', () => {
    const first = plan([claimer()]);
    expect(of(first, 'game').openings).toHaveLength(1);
    const later = plan([claimer()], { listeners: listener, granted: first.granted });
    expect(of(later, 'game').errors).toEqual([]);
    expect(of(later, 'game').openings.map((o) => `${o.hostPort}>${o.containerIp}:${o.containerPort}`)).toEqual(['31337>172.17.0.4:80']);
    expect(dnatTo(later)).toHaveLength(1);
    expect(of(later, 'game').warnings.join('\n')).toMatch(/host port \*:31337\/tcp was granted to this container before a host process began listening on \*:31337\/tcp.*until the container stops/);
    // And the plan after that still holds it: the memory carries itself from plan to plan.
    const again = plan([claimer()], { listeners: listener, granted: later.granted });
    expect(dnatTo(again)).toHaveLength(1);
    // The daemon's plan cache keeps each container's part: the warning must not be lost in it.
    const cache = new PlanCache();
    const input = (extra: Partial<PlanInput>): PlanInput => ({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [claimer()], networks: [BRIDGE], ...extra });
    const cached = buildRuleSet(input({}), cache);
    expect(of(buildRuleSet(input({ listeners: listener, granted: cached.granted }), cache), 'game').warnings.join()).toMatch(/not given the port/);
  });

  it('a new start checks again: a claim remembered for an earlier run of the container does not count', () => {
    const first = plan([claimer()]);
    const restarted = plan([claimer('2026-04-01T11:00:00.000000000Z')], { listeners: listener, granted: first.granted });
    expect(of(restarted, 'game').openings).toEqual([]);
    expect(of(restarted, 'game').errors[0]?.reason).toMatch(/a host process listens on \*:31337\/tcp/);
    expect(restarted.granted).toEqual([]);
    // Gone from the facts (stopped): nothing of it is granted, so nothing is remembered.
    expect(plan([], { granted: first.granted }).granted).toEqual([]);
  });

  it('a container whose start time Docker did not report is never remembered (every plan checks it)', () => {
    const unknown: ContainerFacts = container('anon', { labels: { 'dockgate.ports': '31337:80', 'dockgate.mode': 'dnat' } });
    const first = plan([unknown]);
    expect(of(first, 'anon').openings).toHaveLength(1);
    expect(of(plan([unknown], { listeners: listener, granted: first.granted }), 'anon').openings).toEqual([]);
  });

  it('the memory beats only host listeners: the older claimant, -p and claimable_ports still decide', () => {
    const young = { ...claimer(), created: '2026-03-01T00:00:00.000000000Z' };
    const held = plan([young]).granted;
    const old: ContainerFacts = {
      ...container('old', { ip: '172.17.0.5', labels: { 'dockgate.ports': '31337:81', 'dockgate.mode': 'dnat' }, created: '2026-01-01T00:00:00.000000000Z' }),
      started: STARTED,
    };
    const p = plan([young, old], { granted: held });
    expect(of(p, 'game').errors[0]?.reason).toMatch(/also claimed by container old, created earlier/);
    expect(of(p, 'old').openings).toHaveLength(1);
    const bound = container('bound', { labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' }, publish: ['0.0.0.0:31337:80/tcp'] });
    expect(of(plan([claimer(), bound], { granted: held }), 'game').errors[0]?.reason).toMatch(/published with -p by container bound/);
    expect(of(plan([claimer()], { granted: held, claimable: { start: 40000, end: 65535 } }), 'game').errors[0]?.reason).toMatch(/outside claimable_ports/);
  });
});

describe('one-shot commands (status, explain) have no memory: the kernel shows which claims the daemon keeps', () => {
  /** The kernel as iptables-save would show it after the daemon wrote `p`. */
  const kernelOf = (p: RuleSet): Map<Family, KernelState> => {
    const out = new Map<Family, KernelState>();
    for (const family of [4, 6] as const) {
      const rules = familyRuleSet(p, family);
      if (!rules) continue;
      const state: KernelState = new Map();
      for (const c of rules.chains) {
        const t = state.get(c.table) ?? { chains: new Map<string, string[]>(), policies: new Map<string, string>() };
        t.chains.set(c.name, [...linesOf(c)]);
        state.set(c.table, t);
      }
      out.set(family, state);
    }
    return out;
  };
  const STARTED = '2026-04-01T10:00:00.000000000Z';
  const claimant = (name: string, port: number, ip: string): ContainerFacts => ({
    ...container(name, { ip, labels: { 'dockgate.ports': `${port}:80`, 'dockgate.mode': 'dnat' } }),
    started: STARTED,
  });

  it('a claim a host process listens on is kept where the kernel holds its rules, refused where it does not', () => {
    const kept = claimant('kept', 31337, '172.17.0.4');
    const never = claimant('never', 31338, '172.17.0.5');
    const before: PlanInput = { labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [kept, never], networks: [BRIDGE], listeners: [{ protocol: 'tcp', ip: undefined, port: 31338 }] };
    // The daemon granted `kept` before anyone listened on 31337, and refused `never` at its start.
    const written = buildRuleSet(before);
    const now: PlanInput = { ...before, listeners: [...before.listeners!, { protocol: 'tcp', ip: undefined, port: 31337 }] };
    const contested = contestedClaims(now);
    expect(contested.map((g) => g.hostPort).sort()).toEqual([31337, 31338]);
    const held = heldInKernel(now, contested, kernelOf(written));
    expect(held.map((g) => g.hostPort)).toEqual([31337]);
    const p = buildRuleSet({ ...now, granted: held });
    expect(renderPlan(p)).toBe(renderPlan(written));
    expect(of(p, 'kept').warnings.join()).toMatch(/not given the port/);
    expect(of(p, 'never').errors[0]?.reason).toMatch(/a host process listens on \*:31338\/tcp/);
    // Without the daemon's rules in the kernel (a restarted daemon has not written yet, say) it is refused.
    expect(heldInKernel(now, contested, kernelOf(buildRuleSet({ ...before, containers: [never] })))).toEqual([]);
  });

  it('nothing is contested when no host process listens on a claimed port', () => {
    const input: PlanInput = { labelPrefix: 'dockgate', defaults: DEFAULTS, containers: [claimant('free', 31337, '172.17.0.4')], networks: [BRIDGE], listeners: [] };
    expect(contestedClaims(input)).toEqual([]);
    expect(contestedClaims({ ...input, listeners: undefined })).toEqual([]);
  });
});

describe('a refused entry removes only that entry', () => {
  it('a container with a granted and a refused claim keeps the granted one, and reports the other once', () => {
    const c = container('two', { ip: '172.17.0.4', labels: { 'dockgate.ports': '22:22, 9000:80', 'dockgate.mode': 'dnat' } });
    const p = plan([c]);
    expect(of(p, 'two').openings.map((o) => `${o.hostPort}>${o.containerIp}:${o.containerPort}`)).toEqual(['9000>172.17.0.4:80']);
    expect(of(p, 'two').errors).toHaveLength(1);
    expect(of(p, 'two').errors[0]).toMatchObject({ label: 'dockgate.ports', value: '22:22', closes: 'entry' });
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([expect.stringMatching(/--dport 9000 .* -j DNAT --to-destination 172\.17\.0\.4:80$/)]);
  });

  it('a claim lost to a host listener leaves the container\'s -p openings and its other claims open', () => {
    const c = container('mixed', {
      ip: '172.17.0.4',
      labels: { 'dockgate.ports': '80, 5432:5432, 9001:81', 'dockgate.mode': 'dnat' },
      publish: ['0.0.0.0:8080:80/tcp'],
    });
    const p = plan([c], { listeners: [{ protocol: 'tcp', ip: undefined, port: 5432 }] });
    expect(of(p, 'mixed').openings.map((o) => `${o.family}:${o.hostPort}`).sort()).toEqual(['4:8080', '4:9001']);
    expect(of(p, 'mixed').errors.map((e) => e.value)).toEqual(['5432:5432']);
  });

  it('a label error still closes the whole container (fail closed)', () => {
    const c = container('bad', { labels: { 'dockgate.ports': '9000:80', 'dockgate.mode': 'dnat', 'dockgate.port': '1' } });
    expect(of(plan([c]), 'bad').openings).toEqual([]);
  });
});
