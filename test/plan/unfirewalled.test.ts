// Issue 22 item 3: a container on a macvlan or ipvlan network. Its traffic there never passes the
// host's firewall, so status (the plan's warnings), the daemon's log (one line per warning) and
// doctor say so for that container, and its dockgate labels are reported as doing nothing there
// rather than silently ignored.
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import type { ContainerFacts, OtherNetwork, RuleSet } from '../../src/model/types.js';
import { ChangeLog } from '../../src/daemon/change-log.js';
import { checkUnfirewalled } from '../../src/doctor/container-checks.js';
import { unfirewalledContainers } from '../../src/plan/unfirewalled.js';
import { BRIDGE, container, plan } from './fixtures.js';

const LAN: OtherNetwork = { id: 'ee'.repeat(32), name: 'lan', driver: 'macvlan' };
const L3: OtherNetwork = { id: 'dd'.repeat(32), name: 'l3', driver: 'ipvlan' };
const OVERLAY: OtherNetwork = { id: 'cc'.repeat(32), name: 'swarmnet', driver: 'overlay' };
const OTHERS = [LAN, L3, OVERLAY];

/** A container attached to `nets` only (no bridge unless given). */
function on(name: string, nets: OtherNetwork[], labels: Record<string, string> = {}, bridge = false): ContainerFacts {
  const c = container(name, { labels });
  c.networks = [
    ...(bridge ? c.networks : []),
    ...nets.map((n, i) => ({ networkId: n.id, networkName: n.name, ipv4: `192.168.1.${50 + i}` })),
  ];
  return c;
}
const warningsOf = (p: RuleSet, name: string): string[] => p.containers.find((c) => c.name === name)!.warnings;

describe('status: a warning for each container on a macvlan or ipvlan network', () => {
  it('without labels: says its traffic there passes no host firewall', () => {
    const p = plan([on('mac', [LAN]), on('vlan', [L3])], [BRIDGE], { otherNetworks: OTHERS });
    expect(warningsOf(p, 'mac')).toEqual([
      "on network lan (driver macvlan): its traffic there goes through the parent interface without passing the host's firewall, so dockgate filters none of it",
    ]);
    expect(warningsOf(p, 'vlan').join()).toMatch(/^on network l3 \(driver ipvlan\): .*without passing the host's firewall/);
  });

  it('with dockgate labels: names them and says they do nothing for it, in one warning', () => {
    const p = plan([on('mac', [LAN, L3], { 'dockgate.ports': '80', 'dockgate.mode': 'dnat', other: 'x' })], [BRIDGE], { otherNetworks: OTHERS });
    const w = warningsOf(p, 'mac');
    expect(w.filter((x) => x.includes('macvlan'))).toHaveLength(1);
    expect(w.join('\n')).toMatch(
      /^on network lan \(driver macvlan\) and l3 \(driver ipvlan\): .*; its labels dockgate\.mode, dockgate\.ports open, close and forward nothing on that network: they do nothing for this container/m,
    );
    expect(p.containers.find((c) => c.name === 'mac')!.openings).toEqual([]);
  });

  it('also on a bridge network: the labels apply there only', () => {
    const p = plan([on('both', [LAN], { 'dockgate.ports': '80' }, true)], [BRIDGE], { otherNetworks: OTHERS });
    expect(warningsOf(p, 'both').join()).toMatch(/they apply only to its traffic through its bridge networks/);
  });

  it('a label error does not hide it', () => {
    const p = plan([on('bad', [LAN], { 'dockgate.ports': 'nope' })], [BRIDGE], { otherNetworks: OTHERS });
    expect(p.containers.find((c) => c.name === 'bad')!.errors).not.toEqual([]);
    expect(warningsOf(p, 'bad').join()).toMatch(/its labels dockgate\.ports .* do nothing for this container/);
  });

  it('other drivers keep their own warning; a bridge-only container gets none', () => {
    const p = plan([on('ov', [OVERLAY]), container('plain')], [BRIDGE], { otherNetworks: OTHERS });
    expect(warningsOf(p, 'ov')).toEqual(['attached to network swarmnet (driver overlay), which dockgate does not firewall']);
    expect(warningsOf(p, 'plain')).toEqual([]);
  });
});

describe('the daemon logs it once', () => {
  it('one warn line for the container, not again while nothing changes', () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
    const changes = new ChangeLog(log);
    const p = plan([on('mac', [LAN], { 'dockgate.ports': '80' })], [BRIDGE], { otherNetworks: OTHERS });
    changes.written(p.containers, 1);
    changes.written(p.containers, 1);
    const about = lines.filter((l) => String(l.msg).includes('macvlan'));
    expect(about).toHaveLength(1);
    expect(about[0]).toMatchObject({ level: 40, container: 'mac' });
  });
});

describe('doctor: one line per such container', () => {
  it('warn with labels, ok without, nothing when none', () => {
    const u = unfirewalledContainers([on('z-plain', [L3]), on('a-labelled', [LAN], { 'dockgate.ports': '80' }), container('bridged')], OTHERS, 'dockgate');
    expect(u.map((x) => x.container)).toEqual(['a-labelled', 'z-plain']);
    const r = checkUnfirewalled({ unfirewalled: u } as Parameters<typeof checkUnfirewalled>[0]);
    expect(r.map((c) => [c.status, c.name])).toEqual([
      ['warn', 'unfirewalled:a-labelled'],
      ['ok', 'unfirewalled:z-plain'],
    ]);
    expect(r[0]!.detail).toMatch(/its labels dockgate\.ports open, close and forward nothing/);
    expect(r[1]!.detail).toMatch(/^on network l3 \(driver ipvlan\): .*without passing the host's firewall/);
    expect(checkUnfirewalled({} as Parameters<typeof checkUnfirewalled>[0])).toEqual([]);
  });
});
