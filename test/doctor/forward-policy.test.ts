// Issue 18 item 6, doctor's side: the FORWARD policy is judged with all.forwarding in both
// families (ACCEPT is harmless where only dockgate's guarded forwarding exists, not on a router),
// and before Linux 6.17 the IPv6 fix text says what dockgate really does and does not do.
import { describe, expect, it } from 'vitest';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import { checkExternalForwarding, checkForwardPolicy, checkForwardPolicy6 } from '../../src/doctor/forwarding-checks.js';
import { parseSave } from '../../src/plan/kernel-state.js';

const filter = (forward: string) => parseSave(`*filter\n:INPUT DROP [0:0]\n:FORWARD ${forward} [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n`);

function facts(o: { v4?: string; v6?: string; all4?: string; all6?: string; kernel617?: boolean } = {}): DoctorFacts {
  return {
    config: { defaultMode: 'proxy', externalInterfaces: { kind: 'auto' } },
    iptables: { command: 'iptables-save', found: true, state: filter(o.v4 ?? 'ACCEPT') },
    ip6tables: { command: 'ip6tables-save', found: true, state: filter(o.v6 ?? 'ACCEPT') },
    backends: {},
    docker: { host: 'unix:///var/run/docker.sock', reachable: true, version: '26.1.5', swarm: 'inactive' },
    dockerd: undefined,
    daemonJson: { path: '/etc/docker/daemon.json', state: 'absent' },
    sysctl: { allForwarding: o.all4 ?? '0', ipv6AllForwarding: o.all6 ?? '0', interfaces: [] },
    routes: {
      ok: true,
      interfaces: [{ name: 'eth0', uplink: true, families: [4, 6], ipv4Forwarding: '1', ...(o.kernel617 === false ? {} : { ipv6ForceForwarding: '1' }) }],
      ipv6: { allForwarding: o.all6 ?? '0', forceForwardingKnown: o.kernel617 ?? true },
    },
    use: { egress: ['web'], dnat: [], ipv6: true },
  };
}

describe('forward-policy and forward-policy-ipv6', () => {
  it('ACCEPT where all.forwarding is 0 is ok: dockgate drops what its own forwarding would route', () => {
    expect(checkForwardPolicy(facts())).toMatchObject({ status: 'ok', detail: expect.stringMatching(/ACCEPT, net\.ipv4\.conf\.all\.forwarding=0: .*drop what that would route/) });
    expect(checkForwardPolicy6(facts())).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^ip6tables FORWARD policy is ACCEPT, net\.ipv6\.conf\.all\.forwarding=0/) });
  });

  it('ACCEPT on a router warns, per family', () => {
    expect(checkForwardPolicy(facts({ all4: '1' }))).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^iptables FORWARD policy is ACCEPT and net\.ipv4\.conf\.all\.forwarding=1/) });
    expect(checkForwardPolicy6(facts({ all4: '1' })).status).toBe('ok');
    const six = checkForwardPolicy6(facts({ all6: '1' }));
    expect(six).toMatchObject({ status: 'warn', detail: expect.stringMatching(/^ip6tables FORWARD policy is ACCEPT and net\.ipv6\.conf\.all\.forwarding=1: this host routes IPv6 between all its interfaces/) });
    expect(checkForwardPolicy(facts({ all6: '1' })).status).toBe('ok');
  });

  it('DROP is ok whatever forwards; a host without IPv6 has no ip6tables verdict', () => {
    expect(checkForwardPolicy(facts({ v4: 'DROP', all4: '1' }))).toEqual({ status: 'ok', name: 'forward-policy', detail: 'iptables FORWARD policy is DROP' });
    expect(checkForwardPolicy6(facts({ v6: 'DROP', all6: '1' }))).toEqual({ status: 'ok', name: 'forward-policy-ipv6', detail: 'ip6tables FORWARD policy is DROP' });
    const none = { ...facts(), ip6tables: { command: 'ip6tables-save', found: false, error: 'IPv6 is disabled on this host' } };
    expect(checkForwardPolicy6(none)).toMatchObject({ status: 'ok', detail: expect.stringContaining('IPv6 is disabled') });
  });

  it('the IPv6 sysctl falls back to what the route probe read', () => {
    const f = facts({ all6: '1' });
    delete f.sysctl.ipv6AllForwarding;
    expect(checkForwardPolicy6(f).status).toBe('warn');
  });
});

describe('external-forwarding before Linux 6.17: a truthful fix', () => {
  it('IPv6 needs all.forwarding, which dockgate does not set: the admin is told so, not that dockgate turns it on', () => {
    const r = checkExternalForwarding(facts({ kernel617: false }));
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/dockgate does not set net\.ipv6\.conf\.all\.forwarding/);
    expect(r.detail).toMatch(/ip6tables FORWARD policy DROP/);
    expect(r.detail).not.toMatch(/dockgate turns it on/);
  });

  it('with an IPv4 uplink off too, both fixes are named', () => {
    const f = facts({ kernel617: false });
    if (f.routes.ok) f.routes.interfaces[0]!.ipv4Forwarding = '0';
    const r = checkExternalForwarding(f);
    expect(r.detail).toMatch(/dockgate turns it on while it runs .*; dockgate does not set net\.ipv6\.conf\.all\.forwarding/);
  });

  it('on 6.17+ the per-interface fix stays', () => {
    const f = facts();
    if (f.routes.ok) f.routes.interfaces[0]!.ipv6ForceForwarding = '0';
    const r = checkExternalForwarding(f);
    expect(r.detail).toMatch(/force_forwarding=0: .*dockgate turns it on while it runs/);
    expect(r.detail).not.toMatch(/does not set/);
  });
});
