// doctor's verdicts from hand-made facts: a healthy host first, then one bad condition per row.
import { describe, expect, it } from 'vitest';
import { parseDockerdArgs } from '../../src/dataplane/dockerd-probe.js';
import type { CheckResult } from '../../src/doctor/check-result.js';
import { formatChecks, runChecks } from '../../src/doctor/doctor-checks.js';
import { type DoctorFacts, forwardingUse, ownershipConflicts } from '../../src/doctor/facts.js';
import { ANY_HOST, ANY_SOURCE, hostAddress } from '../../src/model/format.js';
import type { Opening } from '../../src/model/types.js';
import { JUMPS } from '../../src/plan/chains.js';
import { jumpLine } from '../../src/plan/render.js';
import { parseSave } from '../../src/plan/kernel-state.js';

function save(extra: { filter?: string[]; nat?: string[]; raw?: string[] } = {}, forwardPolicy = 'DROP', jumps = true): string {
  const j = (table: string, builtin: string) =>
    jumps ? JUMPS.filter((x) => x.table === table && x.builtin === builtin).map((x) => `-A ${builtin} ${jumpLine(x)}`) : [];
  return [
    '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':DOCKGATE-RAW - [0:0]', ...j('raw', 'PREROUTING'), ...(extra.raw ?? []), 'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]',
    ':DOCKGATE-PREROUTING - [0:0]', ':DOCKGATE-OUTPUT - [0:0]', ':DOCKGATE-POSTROUTING - [0:0]',
    ...j('nat', 'PREROUTING'), ...j('nat', 'OUTPUT'), ...j('nat', 'POSTROUTING'), ...(extra.nat ?? []), 'COMMIT',
    '*filter', ':INPUT DROP [0:0]', `:FORWARD ${forwardPolicy} [0:0]`, ':OUTPUT ACCEPT [0:0]', ':DOCKGATE-INPUT - [0:0]', ':DOCKGATE-FORWARD - [0:0]',
    ...j('filter', 'INPUT'), ...j('filter', 'FORWARD'), ...(extra.filter ?? []), 'COMMIT', '',
  ].join('\n');
}

function healthy(): DoctorFacts {
  return {
    config: { defaultMode: 'proxy', externalInterfaces: { kind: 'list', names: ['eth0'] } },
    iptables: { command: 'iptables-save', found: true, version: 'iptables-save v1.8.9 (nf_tables)', backend: 'nf_tables', state: parseSave(save()) },
    backends: {
      nf_tables: { command: 'iptables-nft-save', found: true, version: 'iptables-save v1.8.9 (nf_tables)', backend: 'nf_tables', state: parseSave(save()) },
      legacy: { command: 'iptables-legacy-save', found: true, version: 'iptables-save v1.8.9 (legacy)', backend: 'legacy', state: parseSave('') },
    },
    docker: { host: 'unix:///var/run/docker.sock', reachable: true, version: '20.10.24+dfsg1', swarm: 'inactive' },
    dockerd: { pid: 42 },
    daemonJson: { path: '/etc/docker/daemon.json', state: 'ok', settings: { iptables: false, ip6tables: false, 'ip-forward': false } },
    sysctl: { allForwarding: '0', interfaces: [{ name: 'eth0', forwarding: '1' }] },
    routes: {
      ok: true,
      interfaces: [{ name: 'eth0', uplink: true, families: [4, 6], ipv4Forwarding: '1', ipv6ForceForwarding: '1' }],
      ipv6: { allForwarding: '0', forceForwardingKnown: true },
    },
    use: { egress: ['web'], dnat: ['api *:8443/tcp'], ipv6: true },
  };
}

const byName = (results: CheckResult[], name: string): CheckResult => {
  const r = results.find((x) => x.name === name);
  if (!r) throw new Error(`no check ${name} in ${results.map((x) => x.name).join(', ')}`);
  return r;
};

describe('doctor checks', () => {
  it('a healthy host is all ok', () => {
    const results = runChecks(healthy());
    expect(results.filter((r) => r.status !== 'ok')).toEqual([]);
    expect(results.map((r) => r.name)).toEqual([
      'iptables', 'iptables-backends', 'docker', 'swarm', 'daemon.json', 'docker-iptables', 'docker-ip6tables', 'docker-firewall', 'ipv6-exposure', 'port-ownership',
      'docker-ip-forward', 'userland-proxy', 'docker-chains', 'forwarding', 'forwarding:eth0', 'external-forwarding', 'forward-policy', 'forward-policy-ipv6', 'jumps',
    ]);
  });

  const cases: Array<[string, (f: DoctorFacts) => void, string, 'warn' | 'fail', RegExp]> = [
    ['iptables missing', (f) => (f.iptables = { command: 'iptables-save', found: false }), 'iptables', 'fail', /not found/],
    ['iptables-save failing', (f) => (f.iptables = { ...f.iptables, state: undefined, error: 'exit 1: Permission denied' }), 'iptables', 'fail', /Permission denied/],
    ['Docker chains in the other backend', (f) => (f.backends.legacy!.state = parseSave('*nat\n:PREROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\nCOMMIT\n')), 'iptables-backends', 'fail', /legacy backend holds nat\/DOCKER/],
    ['dockgate chains in the other backend', (f) => (f.backends.legacy!.state = parseSave('*filter\n:INPUT ACCEPT [0:0]\n:DOCKGATE-INPUT - [0:0]\nCOMMIT\n')), 'iptables-backends', 'fail', /filter\/DOCKGATE-INPUT/],
    ['Docker unreachable', (f) => (f.docker = { host: 'unix:///nope.sock', reachable: false, error: 'no socket there' }), 'docker', 'fail', /cannot reach Docker at unix:\/\/\/nope.sock: no socket there/],
    ['swarm active', (f) => (f.docker = { ...healthy().docker, swarm: 'active' } as DoctorFacts['docker']), 'swarm', 'fail', /swarm needs Docker's own iptables; dockgate refuses to run there/],
    ['swarm unknown (Docker down)', (f) => (f.docker = { host: 'x', reachable: false, error: 'e' }), 'swarm', 'warn', /not checked/],
    ['daemon.json malformed', (f) => (f.daemonJson = { path: '/etc/docker/daemon.json', state: 'invalid', error: 'invalid JSON at line 2, column 1: x' }), 'daemon.json', 'fail', /line 2, column 1/],
    ['daemon.json missing settings', (f) => (f.daemonJson = { path: '/d.json', state: 'ok', settings: { iptables: false } }), 'daemon.json', 'warn', /"ip6tables": false, "ip-forward": false not set/],
    ['daemon.json absent', (f) => (f.daemonJson = { path: '/d.json', state: 'absent' }), 'daemon.json', 'warn', /does not exist/],
    ['Docker iptables on in daemon.json', (f) => (f.daemonJson = { path: '/d.json', state: 'ok', settings: { iptables: true } }), 'docker-iptables', 'fail', /Docker manages iptables itself \(\/d.json\)/],
    ['Docker iptables by default', (f) => (f.daemonJson = { path: '/d.json', state: 'absent' }), 'docker-iptables', 'fail', /set neither in daemon.json nor by dockerd flags, and Docker's default is on/],
    ['Docker iptables unknown, dockerd not visible', (f) => {
      f.dockerd = undefined;
      f.daemonJson = { path: '/d.json', state: 'ok', settings: {} };
    }, 'docker-iptables', 'fail', /not set in daemon.json \(dockerd's flags not visible from here\)/],
    ['Docker iptables on by flag', (f) => (f.dockerd = { pid: 1, iptables: true }), 'docker-iptables', 'fail', /--iptables=true/],
    ['ip6tables unset on Docker 28', (f) => {
      f.daemonJson = { path: '/d.json', state: 'ok', settings: { iptables: false } };
      f.docker = { host: 'x', reachable: true, version: '28.1.1', swarm: 'inactive' };
    }, 'docker-ip6tables', 'fail', /Docker 28 defaults to on/],
    ['ip-forward on', (f) => (f.daemonJson = { path: '/d.json', state: 'ok', settings: { iptables: false, ip6tables: false } }), 'docker-ip-forward', 'warn', /Docker turns on forwarding for every interface/],
    ['dnat mode with docker-proxy', (f) => (f.config.defaultMode = 'dnat'), 'userland-proxy', 'warn', /dnat but docker-proxy still runs/],
    ['proxy mode without docker-proxy', (f) => (f.dockerd = { pid: 1, userlandProxy: false }), 'userland-proxy', 'fail', /nothing listens on published ports/],
    ['Docker rules in the firewall', (f) => (f.iptables.state = parseSave(save({ nat: [':DOCKER - [0:0]', '-A DOCKER -i docker0 -j RETURN'] }))), 'docker-chains', 'fail', /nat\/DOCKER \(1 rule\)/],
    ['empty Docker chains', (f) => (f.iptables.state = parseSave(save({ filter: [':DOCKER-USER - [0:0]'] }))), 'docker-chains', 'warn', /empty leftover chains filter\/DOCKER-USER/],
    ['all.forwarding on', (f) => (f.sysctl.allForwarding = '1'), 'forwarding', 'warn', /net\.ipv4\.conf\.all\.forwarding=1/],
    ['external interface missing', (f) => (f.sysctl.interfaces = [{ name: 'nope0', forwarding: undefined }]), 'forwarding:nope0', 'fail', /does not exist/],
    ['external interface not forwarding', (f) => (f.sysctl.interfaces = [{ name: 'eth0', forwarding: '0' }]), 'forwarding:eth0', 'warn', /forwarding=0/],
    ['no external interfaces', (f) => {
      f.config.externalInterfaces = { kind: 'list', names: [] };
      f.sysctl.interfaces = [];
    }, 'external-interfaces', 'warn', /none configured/],
    ['auto without a default route', (f) => {
      f.config.externalInterfaces = { kind: 'auto' };
      f.routes = { ok: true, interfaces: [] };
    }, 'external-interfaces', 'warn', /auto, but the host has no route to any network/],
    ['auto with unreadable routes', (f) => {
      f.config.externalInterfaces = { kind: 'auto' };
      f.routes = { ok: false, error: 'ip not found' };
    }, 'external-interfaces', 'warn', /cannot be read: ip not found/],
    ['FORWARD policy ACCEPT on a router (all.forwarding=1)', (f) => {
      f.iptables.state = parseSave(save({}, 'ACCEPT'));
      f.sysctl.allForwarding = '1';
    }, 'forward-policy', 'warn', /ACCEPT and net\.ipv4\.conf\.all\.forwarding=1: this host routes between all its interfaces/],
    ['no filter table at all (nf_tables, nothing written yet), on a router', (f) => {
      f.iptables.state = parseSave('*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n');
      f.sysctl.allForwarding = '1';
    }, 'forward-policy', 'warn', /FORWARD policy is ACCEPT/],
    ['no jumps at all', (f) => (f.iptables.state = parseSave(save({}, 'DROP', false))), 'jumps', 'warn', /dockgate is not running/],
    ['one jump missing', (f) => {
      const text = save().replace(/^-A FORWARD .*DOCKGATE-FORWARD\n/m, '');
      f.iptables.state = parseSave(text);
    }, 'jumps', 'fail', /missing filter\/FORWARD -> DOCKGATE-FORWARD/],
    ['one jump twice', (f) => (f.iptables.state = parseSave(save({ filter: ['-A INPUT -m comment --comment dockgate -j DOCKGATE-INPUT'] }))), 'jumps', 'fail', /duplicated filter\/INPUT -> DOCKGATE-INPUT \(2 times\)/],
    ['jump not first', (f) => (f.iptables.state = parseSave(save().replace('-A INPUT -m comment', '-A INPUT -i lo -j ACCEPT\n-A INPUT -m comment'))), 'jumps', 'warn', /not first in filter\/INPUT/],
  ];

  it.each(cases)('%s', (_name, spoil, check, status, detail) => {
    const facts = healthy();
    spoil(facts);
    const r = byName(runChecks(facts), check);
    expect(r.status).toBe(status);
    expect(r.detail).toMatch(detail);
  });

  it('prints aligned `status  name  detail` lines', () => {
    const text = formatChecks([
      { status: 'ok', name: 'docker', detail: 'Docker 20.10' },
      { status: 'fail', name: 'swarm', detail: 'active' },
      { status: 'warn', name: 'forward-policy', detail: 'ACCEPT' },
    ]);
    expect(text).toBe('ok    docker          Docker 20.10\nfail  swarm           active\nwarn  forward-policy  ACCEPT\n');
  });
});

describe('external-forwarding: egress and dnat need the uplink to forward', () => {
  const check = (spoil: (f: DoctorFacts) => void): CheckResult => {
    const f = healthy();
    spoil(f);
    return byName(runChecks(f), 'external-forwarding');
  };
  const uplinkV4 = (ipv4Forwarding: string | undefined) => (f: DoctorFacts) => {
    f.routes = { ok: true, interfaces: [{ name: 'eth0', uplink: true, families: [4], ipv4Forwarding }], ipv6: { allForwarding: '0', forceForwardingKnown: true } };
  };

  it('ok when every default-route interface forwards, naming them', () => {
    expect(check(() => undefined)).toEqual({ status: 'ok', name: 'external-forwarding', detail: 'eth0 (IPv4/IPv6, default route) forwards' });
  });

  it('fails when egress is in use and the IPv4 uplink does not forward, naming interface and sysctl', () => {
    const r = check((f) => {
      uplinkV4('0')(f);
      f.use = { egress: ['web'], dnat: [], ipv6: false };
    });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/^egress \(1 container, e\.g\. web\) in use, but net\.ipv4\.conf\.eth0\.forwarding=0: replies/);
    expect(r.detail).toMatch(/add the interface to external_interfaces \(or use external_interfaces: auto\)/);
  });

  it('fails when only dnat is in use (no container has egress)', () => {
    const r = check((f) => {
      uplinkV4('0')(f);
      f.use = { egress: [], dnat: ['api *:8443/tcp', 'db 10.0.0.5:5432/tcp'], ipv6: false };
    });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/^dnat \(2 openings, e\.g\. api \*:8443\/tcp\) in use, but net\.ipv4\.conf\.eth0\.forwarding=0/);
  });

  it('names every uplink of a multipath default route that does not forward', () => {
    const r = check((f) => {
      f.routes = {
        ok: true,
        interfaces: [
          { name: 'eth0', uplink: true, families: [4], ipv4Forwarding: '1' },
          { name: 'eth1', uplink: true, families: [4], ipv4Forwarding: '0' },
          { name: 'wwan0', uplink: true, families: [4], ipv4Forwarding: undefined },
        ],
      };
    });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/net\.ipv4\.conf\.eth1\.forwarding=0, net\.ipv4\.conf\.wwan0\.forwarding=\(unreadable\)/);
    expect(r.detail).not.toMatch(/eth0\.forwarding/);
  });

  it('in auto mode says dockgate turns it on when it runs', () => {
    const r = check((f) => {
      f.config.externalInterfaces = { kind: 'auto' };
      uplinkV4('0')(f);
    });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/dockgate turns it on while it runs with external_interfaces: auto/);
  });

  it('IPv6 uplinks count through force_forwarding (Linux 6.17+), unless all.forwarding is 1', () => {
    const v6 = (force: string, all = '0') => (f: DoctorFacts) => {
      f.routes = {
        ok: true,
        interfaces: [{ name: 'eth0', uplink: true, families: [4, 6], ipv4Forwarding: '1', ipv6ForceForwarding: force }],
        ipv6: { allForwarding: all, forceForwardingKnown: true },
      };
    };
    expect(check(v6('0'))).toMatchObject({ status: 'fail', detail: expect.stringMatching(/but net\.ipv6\.conf\.eth0\.force_forwarding=0:/) });
    expect(check(v6('0', '1')).status).toBe('ok');
    expect(check(v6('1')).status).toBe('ok');
  });

  it('on a kernel without force_forwarding, an IPv6 uplink needs all.forwarding', () => {
    const r = check((f) => {
      f.routes = { ok: true, interfaces: [{ name: 'eth0', uplink: true, families: [6], ipv4Forwarding: '1' }], ipv6: { allForwarding: '0', forceForwardingKnown: false } };
    });
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/net\.ipv6\.conf\.all\.forwarding=0 \(IPv6 routes via eth0; before Linux 6\.17/);
  });

  it('IPv6 is not judged when no managed network has IPv6', () => {
    const r = check((f) => {
      f.routes = {
        ok: true,
        interfaces: [{ name: 'eth0', uplink: true, families: [4, 6], ipv4Forwarding: '1', ipv6ForceForwarding: '0' }],
        ipv6: { allForwarding: '0', forceForwardingKnown: true },
      };
      f.use = { egress: ['web'], dnat: [], ipv6: false };
    });
    expect(r.status).toBe('ok');
  });

  it('ok when neither egress nor dnat is in use, still naming what would break', () => {
    const r = check((f) => {
      uplinkV4('0')(f);
      f.use = { egress: [], dnat: [], ipv6: false };
    });
    expect(r).toMatchObject({ status: 'ok', detail: expect.stringMatching(/no running container uses egress or dnat; net\.ipv4\.conf\.eth0\.forwarding=0/) });
  });

  it('warns when Docker cannot say whether they are in use', () => {
    const r = check((f) => {
      uplinkV4('0')(f);
      delete f.use;
    });
    expect(r).toMatchObject({ status: 'warn', detail: expect.stringMatching(/net\.ipv4\.conf\.eth0\.forwarding=0; whether egress or dnat is in use is unknown/) });
  });

  it('no default route, or routes that cannot be read', () => {
    expect(check((f) => (f.routes = { ok: true, interfaces: [] }))).toMatchObject({ status: 'ok', detail: 'no default route: no uplink to forward from' });
    expect(check((f) => (f.routes = { ok: false, error: 'exit 1: boom' }))).toMatchObject({ status: 'warn', detail: expect.stringMatching(/not checked: .*boom/) });
  });
});

describe('forwardingUse', () => {
  const base = { id: 'x'.repeat(64), mode: 'dnat' as const, errors: [], warnings: [], imageLabels: [] };
  const opening: Opening = { family: 4, protocol: 'tcp', hostIp: ANY_HOST, hostPort: 8080, containerIp: '172.17.0.2', containerPort: 80, mode: 'dnat', sources: ANY_SOURCE };
  const net = (subnets6: string[], internal = false) => ({ id: 'n', name: 'n', bridge: 'docker0', subnets: ['172.17.0.0/16'], subnets6, internal });

  it('lists containers with egress on and dnat openings; IPv6 when a managed network has an IPv6 subnet', () => {
    const plan = {
      chains: [],
      jumps: [],
      containers: [
        { ...base, name: 'web', egress: true, openings: [{ ...opening, mode: 'proxy' as const }] },
        { ...base, name: 'api', egress: false, openings: [opening, { ...opening, family: 6 as const, hostIp: hostAddress('2001:db8::5'), hostPort: 443 }, { ...opening, family: 6 as const, containerIp: 'fd00::2' }] },
      ],
    };
    expect(forwardingUse(plan, [net([])])).toEqual({ egress: ['web'], dnat: ['api *:8080/tcp', 'api [2001:db8::5]:443/tcp', 'api [::]:8080/tcp'], ipv6: false });
    expect(forwardingUse(plan, [net(['fd00:1::/64'])]).ipv6).toBe(true);
    expect(forwardingUse(plan, [net(['fd00:1::/64'], true)]).ipv6).toBe(false);
  });
});

describe('parseDockerdArgs', () => {
  it('reads the flags that matter, in both pflag spellings', () => {
    expect(parseDockerdArgs(['dockerd', '-H', 'fd://', '--containerd=/run/containerd/containerd.sock', '--iptables=false', '--ip-forward=false', '--config-file', '/srv/d.json'])).toEqual({
      hosts: ['fd://'], iptables: false, ipForward: false, configFile: '/srv/d.json',
    });
    expect(parseDockerdArgs(['dockerd', '--host=unix:///tmp/s', '--ip6tables', '--userland-proxy=false'])).toEqual({
      hosts: ['unix:///tmp/s'], ip6tables: true, userlandProxy: false,
    });
  });
});

describe('doctor on a table iptables-save cannot show', () => {
  const incompatible = (table: string) => (f: DoctorFacts) => {
    const text = save().replace(new RegExp(`\\*${table}\\n[\\s\\S]*?COMMIT\\n`), `# Table \`${table}' is incompatible, use 'nft' tool.\n`);
    f.iptables.state = parseSave(text);
  };

  it('fails the iptables check, naming the table, the reason and what to do', () => {
    const facts = healthy();
    incompatible('filter')(facts);
    const results = runChecks(facts);
    const r = byName(results, 'iptables');
    expect(r.status).toBe('fail');
    expect(r.detail).toMatch(/filter/);
    expect(r.detail).toMatch(/incompatible/);
    expect(r.detail).toMatch(/nft (-a )?list table ip filter/);
    // What cannot be read is not judged as missing.
    expect(byName(results, 'jumps')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/not checked.*filter/) });
    expect(byName(results, 'forward-policy')).toMatchObject({ status: 'warn', detail: expect.stringMatching(/not checked.*filter/) });
  });

  it('a table dockgate does not write to (mangle) only warns', () => {
    const facts = healthy();
    facts.iptables.state = parseSave(`${save()}# Table \`mangle' is incompatible, use 'nft' tool.\n`);
    const r = byName(runChecks(facts), 'iptables');
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/mangle/);
  });

  it("names an admin's own jump into a dockgate chain as left alone", () => {
    const facts = healthy();
    facts.iptables.state = parseSave(save({ filter: ['-A INPUT -s 10.9.0.0/16 -j DOCKGATE-INPUT'] }));
    const r = byName(runChecks(facts), 'jumps');
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/filter\/INPUT: -s 10\.9\.0\.0\/16 -j DOCKGATE-INPUT/);
    expect(r.detail).toMatch(/left alone/);
  });
});

describe('ipv6-exposure: ports published on :: behind an IPv6 INPUT policy of ACCEPT', () => {
  const six = (policy: string) => ({
    command: 'ip6tables-save',
    found: true,
    backend: 'nf_tables' as const,
    state: parseSave(`*filter\n:INPUT ${policy} [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n`),
  });

  it('fails naming every port reachable over IPv6 when the policy is ACCEPT', () => {
    const r = byName(runChecks({ ...healthy(), ip6tables: six('ACCEPT'), ipv6Published: ['mail [::]:25/tcp', 'web [::]:8080/tcp'] }), 'ipv6-exposure');
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('mail [::]:25/tcp');
    expect(r.detail).toContain('web [::]:8080/tcp');
  });

  it('is ok with a DROP policy, or with nothing published on IPv6', () => {
    expect(byName(runChecks({ ...healthy(), ip6tables: six('DROP'), ipv6Published: ['web [::]:8080/tcp'] }), 'ipv6-exposure').status).toBe('ok');
    expect(byName(runChecks({ ...healthy(), ip6tables: six('ACCEPT'), ipv6Published: [] }), 'ipv6-exposure').status).toBe('ok');
  });

  it('a host without IPv6 is ok and says dockgate runs IPv4-only', () => {
    const r = byName(runChecks({ ...healthy(), ip6tables: { command: 'ip6tables-save', found: false, error: 'IPv6 is disabled on this host' }, ipv6Published: [] }), 'ipv6-exposure');
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/IPv4-only/);
  });
});

describe('port-ownership: doctor names the claims the plan refuses, as status does', () => {
  it('warns with each container and reason; ok when there is none', () => {
    const r = byName(runChecks({ ...healthy(), ownership: ['sneaky: host port *:2222/tcp: a host process listens on *:2222/tcp; a label may not take a port from the host'] }), 'port-ownership');
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('sneaky: host port *:2222/tcp: a host process listens on');
    expect(byName(runChecks({ ...healthy(), ownership: [] }), 'port-ownership').status).toBe('ok');
  });

  it('ownershipConflicts picks the ownership refusals out of a plan', async () => {
    const { buildRuleSet } = await import('../../src/plan/ruleset.js');
    const { DEFAULTS, container } = await import('../plan/fixtures.js');
    const plan = buildRuleSet({
      labelPrefix: 'dockgate',
      defaults: DEFAULTS,
      containers: [container('ssh', { labels: { 'dockgate.ports': '22:22', 'dockgate.mode': 'dnat' } })],
      networks: [],
    });
    expect(ownershipConflicts(plan)).toEqual([expect.stringMatching(/^ssh: host port \*:22\/tcp is outside claimable_ports/)]);
  });
});

describe('docker-chains: both families (Docker 27 and later write ip6tables rules too)', () => {
  const six = (text: string) => ({ command: 'ip6tables-save', found: true, backend: 'nf_tables' as const, state: parseSave(text) });
  const DOCKER27_V6 = [
    '*nat', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ':DOCKER - [0:0]',
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A DOCKER ! -i br-0123456789ab -p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:db8:1::2]:80', 'COMMIT',
    '*filter', ':INPUT DROP [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ':DOCKER - [0:0]', ':DOCKER-USER - [0:0]', ':DOCKER-FORWARD - [0:0]',
    '-A FORWARD -j DOCKER-USER', '-A FORWARD -j DOCKER-FORWARD',
    '-A DOCKER -d fd00:db8:1::2/128 ! -i br-0123456789ab -o br-0123456789ab -p tcp -m tcp --dport 80 -j ACCEPT',
    '-A DOCKER-FORWARD -o br-0123456789ab -j DOCKER', 'COMMIT', '',
  ].join('\n');

  it("fails naming Docker's IPv6 chains when only ip6tables holds them", () => {
    const r = byName(runChecks({ ...healthy(), ip6tables: six(DOCKER27_V6) }), 'docker-chains');
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('ip6tables nat/DOCKER (1 rule)');
    expect(r.detail).toContain('ip6tables filter/DOCKER-FORWARD (1 rule)');
    expect(r.detail).toMatch(/"ip6tables": false/);
    expect(r.detail).not.toMatch(/(?<!ip6tables )filter\/DOCKER-USER/);
  });

  it('names each family: IPv4 chains plain, IPv6 ones as ip6tables', () => {
    const f = healthy();
    f.iptables.state = parseSave(save({ filter: [':DOCKER-USER - [0:0]'] }));
    const r = byName(runChecks({ ...f, ip6tables: six('*filter\n:INPUT DROP [0:0]\n:DOCKER-USER - [0:0]\nCOMMIT\n') }), 'docker-chains');
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(/empty leftover chains filter\/DOCKER-USER, ip6tables filter\/DOCKER-USER:/);
  });

  it('ok when neither holds any; an unreadable ip6tables is said, not taken for empty; a host without IPv6 is judged on iptables', () => {
    expect(byName(runChecks({ ...healthy(), ip6tables: six('*filter\n:INPUT DROP [0:0]\nCOMMIT\n') }), 'docker-chains')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/ip6tables/) });
    const failed = byName(runChecks({ ...healthy(), ip6tables: { command: 'ip6tables-save', found: true, error: 'exit 1: no ip6_tables module' } }), 'docker-chains');
    expect(failed).toMatchObject({ status: 'warn', detail: expect.stringMatching(/IPv6 not checked: ip6tables-save failed: exit 1/) });
    const none = byName(runChecks({ ...healthy(), ip6tables: { command: 'ip6tables-save', found: false, error: 'IPv6 is disabled on this host' } }), 'docker-chains');
    expect(none).toEqual({ status: 'ok', name: 'docker-chains', detail: 'no Docker chains' });
  });
});

// Issue 22 item 1: with external_interfaces: auto every interface the host's routes lead through
// must forward (a LAN client's dnat request and a LAN server's replies arrive there), not only
// the uplink; with a list, a LAN left out of it is the admin's choice.
describe('external-forwarding on a multi-homed host', () => {
  const facts = (change: (f: DoctorFacts) => void): DoctorFacts => {
    const f = healthy();
    change(f);
    return f;
  };
  const multiHomed = (lanForwarding: string) => (f: DoctorFacts) => {
    f.routes = {
      ok: true,
      interfaces: [
        { name: 'eth0', uplink: true, families: [4], ipv4Forwarding: '1' },
        { name: 'eth1', uplink: false, families: [4, 6], ipv4Forwarding: lanForwarding, ipv6ForceForwarding: lanForwarding },
      ],
      ipv6: { allForwarding: '0', forceForwardingKnown: true },
    };
    f.use = { egress: ['web'], dnat: [], ipv6: false };
  };

  it('auto: a LAN interface that does not forward fails, named with its sysctl', () => {
    const r = runChecks(facts((f: DoctorFacts) => {
      f.config.externalInterfaces = { kind: 'auto' };
      multiHomed('0')(f);
    })).find((c) => c.name === 'external-forwarding')!;
    expect(r.status).toBe('fail');
    expect(r.detail).toContain('net.ipv4.conf.eth1.forwarding=0');
    expect(r.detail).not.toContain('eth0.forwarding');
  });

  it('auto: both forwarding is ok, and names which carries the default route', () => {
    const r = runChecks(facts((f: DoctorFacts) => {
      f.config.externalInterfaces = { kind: 'auto' };
      multiHomed('1')(f);
    }));
    expect(r.find((c) => c.name === 'external-forwarding')).toMatchObject({ status: 'ok', detail: 'eth0 (IPv4, default route), eth1 (IPv4/IPv6) forward' });
    expect(r.find((c) => c.name === 'external-interfaces')).toMatchObject({ status: 'ok', detail: expect.stringMatching(/^auto: eth0 \(default route\), eth1 \(every interface the host's routes lead through/) });
  });

  it('a list: only the uplinks are judged', () => {
    const r = runChecks(facts((f: DoctorFacts) => {
      f.config.externalInterfaces = { kind: 'list', names: ['eth0'] };
      multiHomed('0')(f);
    })).find((c) => c.name === 'external-forwarding')!;
    expect(r).toMatchObject({ status: 'ok', detail: 'eth0 (IPv4, default route) forwards' });
  });
});
