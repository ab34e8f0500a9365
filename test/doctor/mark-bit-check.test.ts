// doctor's mark-bit check from hand-made facts: every place another tool can test or set the
// footprint's bit (nft, ip rule, iptables and ip6tables, Docker's bridge-accept-fwmark) is named
// with where it was found, and the fix proposes a bit none of them uses.
import { describe, expect, it } from 'vitest';
import { parseDockerdArgs } from '../../src/dataplane/dockerd-probe.js';
import type { CheckResult } from '../../src/doctor/check-result.js';
import { runChecks } from '../../src/doctor/doctor-checks.js';
import type { DoctorFacts } from '../../src/doctor/facts.js';
import type { IpRuleFacts } from '../../src/dataplane/host-facts.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { DEFAULT_MARK_BIT, type MarkBit } from '../../src/model/mark-bit.js';
import { parseSave } from '../../src/plan/kernel-state.js';

const BIT = DEFAULT_MARK_BIT;

/** dockgate's own mangle chains and its footprint: never another user of the bit. */
const OWN_MANGLE = [
  '*mangle',
  ':INPUT ACCEPT [0:0]',
  ':DOCKGATE-MINPUT - [0:0]',
  '-A INPUT -m comment --comment dockgate -j DOCKGATE-MINPUT',
  '-A DOCKGATE-MINPUT -p tcp -m tcp --dport 8000 -m comment --comment "web/aaaaaaaaaaaa" -j MARK --set-xmark 0x1000000/0x1000000',
  'COMMIT',
  '',
].join('\n');

const nftRule = (handle: number, expr: unknown[], comment?: string) => ({ rule: { family: 'inet', table: 'admin', chain: 'input', handle, expr, ...(comment ? { comment } : {}) } });
const markAnd = (mask: number) => ({ '&': [{ meta: { key: 'mark' } }, mask] });
const FOOTPRINT = nftRule(2, [{ match: { op: '==', left: markAnd(BIT), right: BIT } }, { accept: null }], 'dockgate');

function nft(...rules: unknown[]) {
  return parseNftJson(
    JSON.stringify({
      nftables: [
        { table: { family: 'inet', name: 'admin' } },
        { chain: { family: 'inet', table: 'admin', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'drop' } },
        FOOTPRINT,
        ...rules,
      ],
    }),
  );
}

const ipRules = (family: 4 | 6, ...rules: Array<Record<string, unknown>>): IpRuleFacts => ({
  family,
  ok: true,
  rules: [{ priority: 0, src: 'all', table: 'local' }, ...rules, { priority: 32766, src: 'all', table: 'main' }],
});

function facts(o: { nft?: ReturnType<typeof nft>; ip4?: IpRuleFacts; ip6?: IpRuleFacts; mangle?: string; mangle6?: string; daemonJson?: Record<string, unknown>; dockerdFlag?: string; bit?: MarkBit; mode?: 'allow' | 'leave' } = {}): DoctorFacts {
  return {
    config: { defaultMode: 'proxy', externalInterfaces: { kind: 'auto' } },
    iptables: { command: 'iptables-save', found: true, backend: 'nf_tables', state: parseSave(o.mangle ?? OWN_MANGLE) },
    ip6tables: { command: 'ip6tables-save', found: true, backend: 'nf_tables', state: parseSave(o.mangle6 ?? OWN_MANGLE) },
    backends: {},
    docker: { host: 'unix:///run/docker.sock', reachable: true, version: '28.3.0', swarm: 'inactive' },
    dockerd: { pid: 42, ...(o.dockerdFlag !== undefined ? { bridgeAcceptFwmark: o.dockerdFlag } : {}) },
    daemonJson: { path: '/etc/docker/daemon.json', state: 'ok', settings: (o.daemonJson ?? { iptables: false }) as never },
    sysctl: { allForwarding: '0', interfaces: [] },
    routes: { ok: true, interfaces: [] },
    hostFirewall: { mode: o.mode ?? 'allow', nft: { ok: true, ruleset: o.nft ?? nft() }, ufw: undefined, firewalld: [] },
    markBit: { bit: o.bit ?? BIT, ipRules: [o.ip4 ?? ipRules(4), o.ip6 ?? ipRules(6)] },
  };
}

const markBit = (f: DoctorFacts): CheckResult => {
  const r = runChecks(f).find((x) => x.name === 'mark-bit');
  if (!r) throw new Error('no mark-bit check');
  return r;
};

describe('mark-bit: who else uses foreign_chains_mark', () => {
  it("a host where only dockgate's marks and footprint use the bit: ok", () => {
    expect(markBit(facts())).toEqual({ status: 'ok', name: 'mark-bit', detail: 'no other rule tests or sets foreign_chains_mark 0x01000000' });
  });

  it('without the probe (hand-made facts elsewhere), no mark-bit line at all', () => {
    const { markBit: _none, ...rest } = facts();
    expect(runChecks(rest).some((x) => x.name === 'mark-bit')).toBe(false);
  });

  it.each([
    ['an nft test of the bit', nftRule(7, [{ match: { op: '==', left: markAnd(0x01000000), right: 0x01000000 } }, { drop: null }]), /nft inet admin input handle 7: tests meta mark & 0x1000000/],
    ['an nft test of a byte holding it (a prefix, as nft prints `and 0xff000000 != 0`)', nftRule(8, [{ match: { op: '!=', left: { meta: { key: 'mark' } }, right: { prefix: { addr: 0, len: 8 } } } }, { drop: null }]), /handle 8: tests meta mark/],
    ['an nft write that sets it', nftRule(9, [{ mangle: { key: { meta: { key: 'mark' } }, value: { '|': [{ meta: { key: 'mark' } }, 0x01000000] } } }]), /handle 9: changes meta mark bits 0x1000000/],
    ['an nft write that clears it', nftRule(10, [{ mangle: { key: { meta: { key: 'mark' } }, value: { '&': [{ meta: { key: 'mark' } }, 0xfeffffff] } } }]), /handle 10: changes meta mark bits 0x1000000/],
    ['a ct mark test with a mask over it', nftRule(11, [{ match: { op: '==', left: { '&': [{ ct: { key: 'mark' } }, 0xff000000] }, right: 0 } }, { accept: null }]), /handle 11: tests ct mark & 0xff000000/],
    ['a whole-mark write of a value with the bit', nftRule(12, [{ mangle: { key: { meta: { key: 'mark' } }, value: 0x01000539 } }]), /handle 12: sets meta mark to 0x1000539/],
  ])('%s is named, with where', (_what, rule, where) => {
    const r = markBit(facts({ nft: nft(rule) }));
    expect(r.status).toBe('warn');
    expect(r.detail).toMatch(where);
    // Clear of every bit they touch: bit 25, or below bit 24 when the whole top byte is taken.
    expect(r.detail).toMatch(/set foreign_chains_mark to a bit none of them uses, e\.g\. foreign_chains_mark: 0x(02000000|00800000)$/);
  });

  it("other tools' marks elsewhere are not the bit's business: Tailscale's byte, kube-proxy's bits, wg-quick's and Istio's whole values", () => {
    const r = markBit(
      facts({
        nft: nft(
          nftRule(20, [{ match: { op: '==', left: markAnd(0xff0000), right: 0x40000 } }, { accept: null }]),
          nftRule(21, [{ mangle: { key: { meta: { key: 'mark' } }, value: 1337 } }]),
          // A copy of the whole mark: no choice of bit escapes it, so it is no user of this one.
          nftRule(22, [{ mangle: { key: { ct: { key: 'mark' } }, value: { meta: { key: 'mark' } } } }]),
        ),
        ip4: ipRules(4, { priority: 32764, not: null, src: 'all', fwmark: '0xca6c', table: '51820' }, { priority: 5270, src: 'all', fwmark: '0x80000', fwmask: '0xff0000', table: '52' }),
        mangle: `${OWN_MANGLE}*nat\n:POSTROUTING ACCEPT [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n-A POSTROUTING -m mark --mark 0x4000/0x4000 -j MASQUERADE\nCOMMIT\n`,
      }),
    );
    expect(r.status).toBe('ok');
  });

  it('ip rule fwmark covering the bit, in either family, is named with its priority', () => {
    const r = markBit(
      facts({
        ip4: ipRules(4, { priority: 100, src: 'all', fwmark: '0x1000000', fwmask: '0x1000000', table: '100' }),
        ip6: ipRules(6, { priority: 200, src: 'all', fwmark: '0x0', fwmask: '0xff000000', table: '200' }),
      }),
    );
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('ip rule priority 100: fwmark 0x1000000/0x1000000 lookup 100');
    expect(r.detail).toContain('ip -6 rule priority 200: fwmark 0x0/0xff000000 lookup 200');
    // 0xff000000 is taken too: the proposal is below it.
    expect(r.detail).toContain('e.g. foreign_chains_mark: 0x00800000');
  });

  it("iptables and ip6tables MARK/CONNMARK rules outside dockgate's mark chains are named, with table and chain", () => {
    const r = markBit(
      facts({
        mangle: `${OWN_MANGLE}*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i wg0 -j MARK --set-xmark 0x1000000/0x1000000\nCOMMIT\n`,
        mangle6: `${OWN_MANGLE}*mangle\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff000000 --ctmask 0xff000000\nCOMMIT\n`,
      }),
    );
    expect(r.status).toBe('warn');
    expect(r.detail).toContain('iptables mangle/PREROUTING: -A PREROUTING -i wg0 -j MARK --set-xmark 0x1000000/0x1000000');
    expect(r.detail).toContain('ip6tables mangle/PREROUTING: -A PREROUTING -j CONNMARK --restore-mark --nfmask 0xff000000 --ctmask 0xff000000');
    expect(r.detail).not.toContain('DOCKGATE-MINPUT');
  });

  it('a filter rule testing the bit (-m mark, negated too) is named', () => {
    const r = markBit(facts({ mangle: `${OWN_MANGLE}*filter\n:INPUT DROP [0:0]\n-A INPUT -m mark ! --mark 0x0/0x1000000 -j ACCEPT\nCOMMIT\n` }));
    expect(r.detail).toContain('iptables filter/INPUT: -A INPUT -m mark ! --mark 0x0/0x1000000 -j ACCEPT');
  });

  it("Docker's bridge-accept-fwmark, from daemon.json or dockerd's command line", () => {
    const json = markBit(facts({ daemonJson: { iptables: false, 'bridge-accept-fwmark': '0x1000000/0x1000000' } }));
    expect(json.status).toBe('warn');
    expect(json.detail).toContain('/etc/docker/daemon.json: bridge-accept-fwmark 0x1000000/0x1000000');
    const flag = markBit(facts({ dockerdFlag: '16777216' }));
    expect(flag.detail).toContain('dockerd --bridge-accept-fwmark (pid 42): bridge-accept-fwmark 16777216');
    // Another mark: not this bit's business.
    expect(markBit(facts({ daemonJson: { 'bridge-accept-fwmark': '0x10/0x10' } })).status).toBe('ok');
  });

  it('with another bit configured, the judgement follows it', () => {
    const bit = 0x00200000 as MarkBit;
    const rule = nftRule(7, [{ match: { op: '==', left: markAnd(0x01000000), right: 0x01000000 } }, { drop: null }]);
    expect(markBit(facts({ nft: nft(rule), bit })).status).toBe('ok');
    expect(markBit(facts({ bit, ip4: ipRules(4, { priority: 9, src: 'all', fwmark: '0x200000', fwmask: '0x200000', table: '9' }) })).detail).toMatch(/^foreign_chains_mark 0x00200000 is used by others too: ip rule priority 9/);
  });

  it('foreign_chains: leave sets no mark, so nothing can collide', () => {
    const rule = nftRule(7, [{ match: { op: '==', left: markAnd(0x01000000), right: 0x01000000 } }, { drop: null }]);
    expect(markBit(facts({ nft: nft(rule), mode: 'leave' }))).toMatchObject({ status: 'ok', detail: expect.stringMatching(/leave/) });
  });

  it('what could not be read is said', () => {
    const f = facts();
    f.markBit!.ipRules = [{ family: 4, ok: false, error: 'ip not found' }];
    f.hostFirewall = { mode: 'allow', nft: { ok: false, error: 'nft not found', missing: true }, ufw: undefined, firewalld: [] };
    expect(markBit(f).detail).toMatch(/not read: nft, ip rule \(ip not found\)/);
  });
});

describe('parseDockerdArgs: --bridge-accept-fwmark', () => {
  it('both pflag spellings', () => {
    expect(parseDockerdArgs(['dockerd', '--bridge-accept-fwmark=0x1/0x1']).bridgeAcceptFwmark).toBe('0x1/0x1');
    expect(parseDockerdArgs(['dockerd', '--bridge-accept-fwmark', '4']).bridgeAcceptFwmark).toBe('4');
  });
});
