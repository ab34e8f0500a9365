import { describe, expect, it } from 'vitest';
import type { RuleSet } from '../../src/model/types.js';
import { renderDiff, renderPlan } from '../../src/plan/restore.js';
import { PlanCache, buildRuleSet } from '../../src/plan/ruleset.js';
import { BACK, BRIDGE, DEFAULTS, FRONT, container, plan, shardLines } from './fixtures.js';
import { BAD, goldenScenarios } from './golden-scenarios.js';
import { linesOf } from '../../src/plan/render.js';


const scenarios = goldenScenarios;

describe('plan golden files', () => {
  it.each(Object.keys(scenarios))('%s', async (name) => {
    await expect(renderPlan(scenarios[name]!())).toMatchFileSnapshot(`golden/${name}.rules`);
  });
});

describe('plan invariants', () => {
  const all = Object.values(scenarios).map((s) => s());

  it('every rule carries a comment and lives in a dockgate chain', () => {
    for (const p of all) {
      for (const line of renderPlan(p).split('\n')) {
        if (!/^-[AI] /.test(line)) continue;
        expect(line).toMatch(/-m comment --comment /);
        expect(line).toMatch(/^-[AI] (DOCKGATE-\S+|INPUT 1|FORWARD 1|PREROUTING 1|OUTPUT 1|POSTROUTING 1) /);
      }
    }
  });

  it('chain names fit the kernel limit of 28 characters', () => {
    for (const p of all) for (const c of p.chains) expect(c.name.length).toBeLessThanOrEqual(28);
  });

  it('does not depend on the order Docker lists containers in', () => {
    const cs = [container('a', { labels: { 'dockgate.ports': '1' }, publish: ['0.0.0.0:1:1/tcp'] }), container('b', { labels: { 'dockgate.ports': '2' }, publish: ['0.0.0.0:2:2/tcp'] })];
    expect(renderPlan(plan([...cs].reverse()))).toBe(renderPlan(plan(cs)));
  });

  it('a bad label opens nothing, not even egress, and is reported with its key', () => {
    const p = scenarios['unlabelled-bad-and-egress-off']!();
    const bad = p.containers.find((c) => c.name === 'bad')!;
    expect(bad.openings).toEqual([]);
    expect(bad.egress).toBe(false);
    expect(bad.errors[0]?.label).toBe('dockgate.ports');
    // Only the guards that keep it from reaching published ports through the host.
    const mine = p.chains.flatMap((c) => linesOf(c)).filter((l) => l.includes(`/${BAD.slice(0, 12)}`));
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.filter((l) => !l.endsWith('-j RETURN'))).toEqual([]);
    const loose = p.containers.find((c) => c.name === 'loose')!;
    expect(loose.openings).toEqual([]);
    expect(loose.warnings.join()).toMatch(/9000\/tcp but has no dockgate.ports label/);
  });

  it('ports in the label but not published are a warning, not an opening', () => {
    const p = plan([container('x', { labels: { 'dockgate.ports': '80,81' }, publish: ['0.0.0.0:8080:80/tcp'] })]);
    expect(p.containers[0]!.openings.map((o) => o.hostPort)).toEqual([8080]);
    expect(p.containers[0]!.warnings.join()).toMatch(/dockgate.ports entry "81": 81\/tcp is not published with -p: nothing opened for it/);
  });

  it('expands ranges port by port and maps a host range onto one container port', () => {
    const p = plan([
      container('r', { labels: { 'dockgate.ports': '7000-7002:8000-8002,9000-9001:53/udp', 'dockgate.mode': 'dnat' } }),
    ]);
    expect(p.containers[0]!.openings.map((o) => `${o.hostPort}>${o.containerPort}/${o.protocol}`)).toEqual([
      '7000>8000/tcp',
      '7001>8001/tcp',
      '7002>8002/tcp',
      '9000>53/udp',
      '9001>53/udp',
    ]);
  });

  it('dnat without a bridge address opens nothing and says why', () => {
    const c = container('hostnet', { labels: { 'dockgate.ports': '8080:80', 'dockgate.mode': 'dnat' } });
    c.networks = [];
    const p = plan([c]);
    expect(p.containers[0]!.openings).toEqual([]);
    expect(p.containers[0]!.warnings.join()).toMatch(/dnat mode needs an IPv4 address/);
  });

  it('IPv6-only sources open nothing for IPv4', () => {
    const p = plan([container('v6', { labels: { 'dockgate.ports': '80', 'dockgate.from': '2001:db8::/32' }, publish: ['0.0.0.0:80:80/tcp'] })]);
    expect(p.containers[0]!.openings).toEqual([]);
  });
});

describe('diff between plans', () => {
  const many = Array.from({ length: 100 }, (_, i) =>
    container(`c${i}`, { ip: `172.17.1.${i + 1}`, labels: { 'dockgate.ports': '80', 'dockgate.mode': i % 2 ? 'dnat' : 'proxy' }, publish: [`0.0.0.0:${10000 + i}:80/tcp`] }),
  );

  it('adding one container writes only its own lines, into the shard that holds its id', () => {
    const extra = container('new', { ip: '172.17.2.1', labels: { 'dockgate.ports': '80', 'dockgate.mode': 'dnat' }, publish: ['0.0.0.0:20000:80/tcp'] });
    const diff = [...renderDiff(plan(many), plan([...many, extra])).values()].join('');
    const short = extra.id.slice(0, 12);
    const lines = diff.split('\n').filter((l) => l.startsWith('-') || l.startsWith(':'));
    expect(lines.every((l) => l.includes(short))).toBe(true);
    // No chain of its own: its DNAT (DOCKGATE-OUTPUT jumps to the same chain), its FORWARD accept, its egress.
    expect(lines).toEqual([
      expect.stringMatching(/^-A DOCKGATE-DNAT-00 .* --dport 20000 .* -j DNAT --to-destination 172\.17\.2\.1:80$/),
      expect.stringMatching(/^-A DOCKGATE-CONTAINERS-00 -d 172\.17\.2\.1\/32 .* --ctstate DNAT .* -j ACCEPT$/),
      expect.stringMatching(/^-A DOCKGATE-CONTAINERS-00 -s 172\.17\.2\.1\/32 -i docker0 .* -j ACCEPT$/),
    ]);
  });

  it('the first container of a shard creates it and its jump; the last one out deletes both', () => {
    const lone = container('lone', { id: 'ab'.padEnd(64, '1'), ip: '172.17.2.2', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:20001:80/tcp'] });
    const added = [...renderDiff(plan(many), plan([...many, lone])).values()].join('');
    expect(added).toBe(
      [
        '*filter',
        ':DOCKGATE-OPENINGS-ab - [0:0]',
        ':DOCKGATE-CONTAINERS-ab - [0:0]',
        '-A DOCKGATE-OPENINGS -m comment --comment dockgate -j DOCKGATE-OPENINGS-ab',
        '-A DOCKGATE-OPENINGS-ab -p tcp -m tcp --dport 20001 -m addrtype --dst-type LOCAL -m conntrack --ctstate NEW -m comment --comment "lone/ab1111111111" -j ACCEPT',
        '-A DOCKGATE-CONTAINERS -m comment --comment dockgate -j DOCKGATE-CONTAINERS-ab',
        '-A DOCKGATE-CONTAINERS-ab -s 172.17.2.2/32 -i docker0 -m conntrack --ctstate NEW -m comment --comment "lone/ab1111111111" -j ACCEPT',
        'COMMIT',
        '',
      ].join('\n'),
    );
    const removed = [...renderDiff(plan([...many, lone]), plan(many)).values()].join('');
    expect(removed).toBe(
      [
        '*filter',
        ':DOCKGATE-OPENINGS-ab - [0:0]',
        ':DOCKGATE-CONTAINERS-ab - [0:0]',
        '-D DOCKGATE-OPENINGS -m comment --comment dockgate -j DOCKGATE-OPENINGS-ab',
        '-D DOCKGATE-CONTAINERS -m comment --comment dockgate -j DOCKGATE-CONTAINERS-ab',
        '-X DOCKGATE-OPENINGS-ab',
        '-X DOCKGATE-CONTAINERS-ab',
        'COMMIT',
        '',
      ].join('\n'),
    );
  });

  it('spreads containers over shards by the first two hex digits of their id, so no chain holds them all', () => {
    const spread = Array.from({ length: 512 }, (_, i) =>
      container(`s${i}`, { id: (i % 256).toString(16).padStart(2, '0') + String(i).padStart(62, 'e'), ip: `172.17.${2 + (i >> 8)}.${(i % 250) + 1}`, labels: { 'dockgate.ports': '80' }, publish: [`0.0.0.0:${30000 + i}:80/tcp`] }),
    );
    const p = plan(spread);
    const shards = p.chains.filter((c) => /^DOCKGATE-OPENINGS-[0-9a-f]{2}$/.test(c.name));
    expect(shards).toHaveLength(256);
    expect(shards.every((c) => c.rules.length === 2)).toBe(true);
    expect(p.chains.find((c) => c.name === 'DOCKGATE-OPENINGS')!.rules).toHaveLength(256);
  });

  it('removing one container deletes exactly its own lines, and nothing else', () => {
    const gone = many[3]!;
    const diff = [...renderDiff(plan(many), plan(many.filter((c) => c !== gone))).values()].join('');
    const short = gone.id.slice(0, 12);
    const edits = diff.split('\n').filter((l) => /^-[ADXI] /.test(l));
    expect(edits.length).toBeGreaterThan(0);
    expect(edits.every((l) => l.startsWith('-D DOCKGATE-') && l.includes(`"c3/${short}"`))).toBe(true);
    expect(diff).toContain(`-D DOCKGATE-DNAT-00 -p tcp -m tcp --dport 10003 -m comment --comment "c3/${short}" -j DNAT --to-destination 172.17.1.4:80`);
  });

  it('an unchanged plan writes nothing', () => {
    expect(renderDiff(plan(many), plan(many)).size).toBe(0);
  });
});

describe('plan cache', () => {
  it('gives the same plan as without it, through changes, and forgets containers that are gone', () => {
    const cache = new PlanCache();
    const base = Array.from({ length: 20 }, (_, i) =>
      container(`k${i}`, { ip: `172.17.3.${i + 1}`, labels: { 'dockgate.ports': '80', 'dockgate.mode': i % 2 ? 'dnat' : 'proxy' }, publish: [`0.0.0.0:${11000 + i}:80/tcp`] }),
    );
    const steps = [
      base,
      base.slice(2),
      base.map((c, i) => (i === 5 ? { ...c, labels: { ...c.labels, 'dockgate.from': '10.0.0.0/8' } } : c)),
      base.map((c, i) => (i === 6 ? { ...c, name: 'renamed' } : c)),
    ];
    for (const containers of steps) {
      const cached = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks: [BRIDGE] }, cache);
      expect(renderPlan(cached)).toBe(renderPlan(plan(containers)));
    }
    // A network change reaches containers whose facts did not change.
    const moved = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: base, networks: [{ ...BRIDGE, bridge: 'docker1' }] }, cache);
    expect(renderPlan(moved)).toBe(renderPlan(plan(base, [{ ...BRIDGE, bridge: 'docker1' }])));
    buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: base.slice(0, 3), networks: [BRIDGE] }, cache);
    expect(cache.size).toBe(3);
  });
});

describe('limits', () => {
  it('refuses a ports × sources product that would need too many rules', () => {
    const from = Array.from({ length: 10 }, (_, i) => `10.0.${i}.0/24`).join(',');
    const p = plan([container('wide', { labels: { 'dockgate.ports': '2001-3000:1-1000', 'dockgate.mode': 'dnat', 'dockgate.from': from } })]);
    expect(p.containers[0]!.openings).toEqual([]);
    expect(p.containers[0]!.warnings.join()).toMatch(/would need 10000 rules; at most 4096/);
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([]);
  });
});
