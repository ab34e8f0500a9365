// Parsing `ip -j route show default` output. Every fixture below was captured from iproute2 6.1
// (ip -j route show default / ip -j -6 route show default) in a throwaway namespace on Linux 6.18.
import { describe, expect, it } from 'vitest';
import { defaultRouteInterfaces, parseDefaultRoutes, parseHostRoutes, parseLocalRoutes, reachInterfaces } from '../../src/net/routes.js';

const V4_EMPTY = '[]\n';
const V4_SINGLE = '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]}]\n';
const V4_MULTIPATH =
  '[{"dst":"default","flags":[],"nexthops":[{"gateway":"10.1.0.1","dev":"d0","weight":1,"flags":[]},{"gateway":"10.2.0.1","dev":"d1","weight":2,"flags":[]}]}]\n';
// A DHCP uplink, a VLAN backup, a link-down tunnel, and two fallbacks some network managers add.
const V4_SEVERAL =
  '[{"dst":"default","gateway":"10.1.0.1","dev":"d0","protocol":"dhcp","metric":100,"flags":[]},' +
  '{"dst":"default","gateway":"10.3.0.1","dev":"eth0.100","metric":200,"flags":[]},' +
  '{"dst":"default","dev":"wg0","scope":"link","metric":300,"flags":["linkdown"]},' +
  '{"type":"unreachable","dst":"default","metric":4278198272,"flags":[]},' +
  '{"type":"blackhole","dst":"default","metric":4278198273,"flags":[]}]\n';
const V6_SEVERAL =
  '[{"dst":"default","gateway":"fe80::1","dev":"d0","protocol":"ra","metric":1024,"flags":[],"expires":1799,"pref":"medium"},' +
  '{"dst":"default","gateway":"fd02::1","dev":"d1","metric":2048,"flags":[],"pref":"medium"},' +
  '{"type":"unreachable","dst":"default","dev":"lo","metric":4294967295,"flags":[],"pref":"medium"}]\n';
const V6_MULTIPATH =
  '[{"dst":"default","metric":1024,"flags":[],"pref":"medium","nexthops":[{"gateway":"fd01::1","dev":"d0","weight":1,"flags":[]},{"gateway":"fd02::1","dev":"d1","weight":1,"flags":[]}]}]\n';
// `ip -j route show default table 7` for a table that does not exist: the list is opened, then
// "Error: ipv4: FIB table does not exist." goes to stderr and the dump stops.
const TRUNCATED = '[';

describe('parseDefaultRoutes', () => {
  it('no default route', () => {
    expect(parseDefaultRoutes(V4_EMPTY, 4)).toEqual({ ok: true, value: [] });
    expect(parseDefaultRoutes('', 6)).toEqual({ ok: true, value: [] });
  });

  it('one route via a gateway', () => {
    expect(parseDefaultRoutes(V4_SINGLE, 4)).toEqual({ ok: true, value: [{ family: 4, devs: ['eth0'] }] });
  });

  it('a multipath route: every nexthop counts', () => {
    expect(parseDefaultRoutes(V4_MULTIPATH, 4)).toEqual({ ok: true, value: [{ family: 4, devs: ['d0', 'd1'] }] });
    expect(parseDefaultRoutes(V6_MULTIPATH, 6)).toEqual({ ok: true, value: [{ family: 6, devs: ['d0', 'd1'], metric: 1024 }] });
  });

  it('several routes by metric, link-down ones included; unreachable and blackhole defaults forward nothing', () => {
    expect(parseDefaultRoutes(V4_SEVERAL, 4)).toEqual({
      ok: true,
      value: [
        { family: 4, devs: ['d0'], metric: 100 },
        { family: 4, devs: ['eth0.100'], metric: 200 },
        { family: 4, devs: ['wg0'], metric: 300 },
      ],
    });
  });

  it('IPv6: an RA-learned route counts; `unreachable default dev lo` does not', () => {
    expect(parseDefaultRoutes(V6_SEVERAL, 6)).toEqual({
      ok: true,
      value: [
        { family: 6, devs: ['d0'], metric: 1024 },
        { family: 6, devs: ['d1'], metric: 2048 },
      ],
    });
  });

  it('output that is not a JSON list is an error, never an empty set', () => {
    expect(parseDefaultRoutes(TRUNCATED, 4)).toMatchObject({ ok: false, error: expect.stringMatching(/not JSON/) });
    expect(parseDefaultRoutes('default via 192.0.2.1 dev eth0\n', 4)).toMatchObject({ ok: false });
    expect(parseDefaultRoutes('{"dst":"default"}', 4)).toEqual({ ok: false, error: 'ip -j route printed unexpected JSON at the top level: Invalid input: expected array, received object' });
  });

  it('the error names the command that printed the answer', () => {
    expect(parseHostRoutes('null', 6, 'ip -j -6 route show table main')).toMatchObject({ ok: false, error: expect.stringMatching(/^ip -j -6 route show table main printed unexpected JSON at the top level: /) });
    expect(parseLocalRoutes('[', 4, 'ip -j route show table local')).toMatchObject({ ok: false, error: expect.stringMatching(/^ip -j route show table local printed something that is not JSON: /) });
  });

  it('skips entries that are not default routes or name no usable interface', () => {
    const odd = JSON.stringify([
      { dst: '10.0.0.0/8', dev: 'eth0' },
      { dst: 'default', dev: '../../etc' },
      { dst: 'default', dev: 'x'.repeat(16) },
      { dst: 'default', dev: '..' },
      { dst: 'default' },
      { dst: 'default', nexthops: [{ dev: 5 }, null, { dev: 'eth1' }] },
      { dst: '0.0.0.0/0', dev: 'eth2', type: 'unicast' },
      { dst: 'default', dev: 'eth3', type: 'prohibit' },
      'default',
      null,
    ]);
    expect(parseDefaultRoutes(odd, 4)).toEqual({
      ok: true,
      value: [
        { family: 4, devs: ['eth1'] },
        { family: 4, devs: ['eth2'] },
      ],
    });
  });
});

describe('defaultRouteInterfaces', () => {
  it('both families, each interface once, sorted', () => {
    const v4 = parseDefaultRoutes(V4_SEVERAL, 4);
    const v6 = parseDefaultRoutes(V6_MULTIPATH, 6);
    if (!v4.ok || !v6.ok) throw new Error('fixtures parse');
    expect(defaultRouteInterfaces([...v4.value, ...v6.value])).toEqual(['d0', 'd1', 'eth0.100', 'wg0']);
    expect(defaultRouteInterfaces([])).toEqual([]);
  });
});

// `ip -j route show table main` of a multi-homed host: an uplink, a LAN on a second interface, a
// WireGuard VPN with a static route, Docker's bridges and a custom-named one, and what every
// interface carries besides (link-local, a zeroconf route, fallbacks).
const V4_MAIN =
  '[{"dst":"default","gateway":"203.0.113.1","dev":"eth0","protocol":"dhcp","metric":100,"flags":[]},' +
  '{"dst":"203.0.113.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"203.0.113.5","flags":[]},' +
  '{"dst":"192.168.1.0/24","dev":"eth1","protocol":"kernel","scope":"link","prefsrc":"192.168.1.5","flags":[]},' +
  '{"dst":"10.8.0.0/24","dev":"wg0","protocol":"kernel","scope":"link","prefsrc":"10.8.0.1","flags":[]},' +
  '{"dst":"10.20.0.0/16","gateway":"10.8.0.2","dev":"wg0","flags":[]},' +
  '{"dst":"10.30.0.7","gateway":"192.168.1.1","dev":"eth1","flags":[]},' +
  '{"dst":"169.254.0.0/16","dev":"eth1","scope":"link","metric":1000,"flags":[]},' +
  '{"dst":"172.17.0.0/16","dev":"docker0","protocol":"kernel","scope":"link","prefsrc":"172.17.0.1","flags":["linkdown"]},' +
  '{"dst":"172.18.0.0/16","dev":"br-0123456789ab","protocol":"kernel","scope":"link","prefsrc":"172.18.0.1","flags":[]},' +
  '{"dst":"172.19.0.0/16","dev":"dg-back","protocol":"kernel","scope":"link","prefsrc":"172.19.0.1","flags":[]},' +
  '{"type":"blackhole","dst":"10.99.0.0/16","flags":[]},' +
  '{"dst":"10.40.0.0/16","gateway":"192.168.1.1","dev":"eth1","table":"7","flags":[]}]\n';
const V6_MAIN =
  '[{"dst":"2001:db8:1::/64","dev":"eth0","protocol":"ra","metric":100,"flags":[],"pref":"medium"},' +
  '{"dst":"fd00:1::/64","dev":"eth1","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},' +
  '{"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},' +
  '{"dst":"fe80::/64","dev":"veth1a2b3c4","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},' +
  '{"dst":"fe80::/64","dev":"lan2","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},' +
  '{"dst":"::1","dev":"lo","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},' +
  '{"dst":"default","gateway":"fe80::1","dev":"eth0","protocol":"ra","metric":100,"flags":[],"pref":"medium"}]\n';

describe('parseHostRoutes: every network the host reaches', () => {
  it('default routes, on-link subnets, static and VPN routes; not link-local, loopback, fallbacks or other tables', () => {
    const v4 = parseHostRoutes(V4_MAIN, 4);
    expect(v4).toMatchObject({ ok: true, value: { defaults: [{ family: 4, devs: ['eth0'], metric: 100 }] } });
    if (!v4.ok) throw new Error('parses');
    expect(v4.value.networks.map((n) => `${n.dst} ${n.devs.join()}`)).toEqual([
      '203.0.113.0/24 eth0',
      '192.168.1.0/24 eth1',
      '10.8.0.0/24 wg0',
      '10.20.0.0/16 wg0',
      '10.30.0.7/32 eth1',
      '172.17.0.0/16 docker0',
      '172.18.0.0/16 br-0123456789ab',
      '172.19.0.0/16 dg-back',
    ]);
    const v6 = parseHostRoutes(V6_MAIN, 6);
    if (!v6.ok) throw new Error('parses');
    expect(v6.value.defaults).toEqual([{ family: 6, devs: ['eth0'], metric: 100 }]);
    expect(v6.value.networks).toEqual([
      { family: 6, dst: '2001:db8:1::/64', devs: ['eth0'] },
      { family: 6, dst: 'fd00:1::/64', devs: ['eth1'] },
    ]);
  });

  it('the same text gives parseDefaultRoutes the default routes only', () => {
    expect(parseDefaultRoutes(V4_MAIN, 4)).toEqual({ ok: true, value: [{ family: 4, devs: ['eth0'], metric: 100 }] });
    expect(parseHostRoutes(TRUNCATED, 4)).toMatchObject({ ok: false });
  });
});

describe('reachInterfaces', () => {
  it('every interface of every route, without Docker bridges (by name, and the managed ones given) and veths', () => {
    const v4 = parseHostRoutes(V4_MAIN, 4);
    const v6 = parseHostRoutes(V6_MAIN, 6);
    if (!v4.ok || !v6.ok) throw new Error('parses');
    const defaults = [...v4.value.defaults, ...v6.value.defaults];
    const networks = [...v4.value.networks, ...v6.value.networks];
    expect(reachInterfaces(defaults, networks)).toEqual(['dg-back', 'eth0', 'eth1', 'wg0']);
    expect(reachInterfaces(defaults, networks, ['dg-back'])).toEqual(['eth0', 'eth1', 'wg0']);
    // An interface with only a link-local address reaches no network.
    expect(reachInterfaces([], networks)).not.toContain('lan2');
  });
});
