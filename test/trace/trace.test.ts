// The tracer against hand-written iptables-save texts (as iptables-save 1.8.9 prints them):
// every option dockgate writes, the common admin rules, and every way it refuses to guess.
import { describe, expect, it } from 'vitest';
import { parseSave } from '../../src/plan/kernel-state.js';
import type { HostView } from '../../src/trace/host.js';
import { parseRule } from '../../src/trace/rule.js';
import { TraceInputError, describeStep, trace } from '../../src/trace/trace.js';
import { HOST, path, tcp, traceIn } from './helpers.js';

const save = (...tables: string[]) => parseSave(tables.join('\n'));
const filter = (input: string, rules: string[], forward = 'DROP', forwardRules: string[] = [], chains: string[] = []) =>
  [
    '*filter',
    `:INPUT ${input} [0:0]`,
    `:FORWARD ${forward} [0:0]`,
    ':OUTPUT ACCEPT [0:0]',
    ...chains.map((c) => `:${c} - [0:0]`),
    ...rules,
    ...forwardRules,
    'COMMIT',
  ].join('\n');
const nat = (rules: string[]) => ['*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', ...rules, 'COMMIT'].join('\n');

describe('the admin firewall alone', () => {
  const admin = save(
    filter('DROP', [
      '-A INPUT -i lo -j ACCEPT',
      '-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT',
      '-A INPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j LOG --log-prefix "new conn "',
      '-A INPUT -p tcp -m multiport --dports 80,443,8000:8100 -j ACCEPT',
      '-A INPUT ! -s 10.0.0.0/8 -p tcp -m tcp --dport 1000:2000 -j REJECT --reject-with tcp-reset',
      '-A INPUT -p tcp -m tcp --dport 1000:2000 -m state --state NEW -j ACCEPT',
      '-A INPUT -p udp -m udp --dport 53 -j ACCEPT',
    ]),
  );

  it('multiport accepts, the LOG rule before it only continues', () => {
    const r = traceIn(admin, tcp('203.0.113.9', '10.0.0.5', 8050));
    expect(r.verdict).toBe('accept');
    expect(path(r)).toEqual(['filter/INPUT#3:continue', 'filter/INPUT#4:accept']);
    expect(r.decidedBy?.line).toBe('-p tcp -m multiport --dports 80,443,8000:8100 -j ACCEPT');
    expect(r.route).toBe('INPUT');
  });

  it('a port nobody accepts falls to the policy', () => {
    const r = traceIn(admin, tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy).toEqual({ table: 'filter', chain: 'INPUT', policy: 'DROP', action: 'policy' });
    expect(describeStep(r.decidedBy!)).toBe('filter INPUT: policy DROP');
  });

  it('! -s and a port range: REJECT from outside 10/8, accepted (state NEW) from inside', () => {
    const out = traceIn(admin, tcp('203.0.113.9', '10.0.0.5', 1500));
    expect(out.verdict).toBe('drop');
    expect(out.decidedBy?.action).toBe('reject');
    expect(out.decidedBy?.rule).toBe(5);
    const inside = traceIn(admin, tcp('10.1.2.3', '10.0.0.5', 1500));
    expect(inside.verdict).toBe('accept');
    expect(inside.decidedBy?.rule).toBe(6);
  });

  it('-p udp rules do not match tcp, and the other way round', () => {
    expect(traceIn(admin, tcp('203.0.113.9', '10.0.0.5', 53)).verdict).toBe('drop');
    expect(traceIn(admin, { ...tcp('203.0.113.9', '10.0.0.5', 53), protocol: 'udp' }).verdict).toBe('accept');
    // The SYN-only LOG rule is tcp: not on the udp path.
    expect(path(traceIn(admin, { ...tcp('203.0.113.9', '10.0.0.5', 53), protocol: 'udp' }))).toEqual(['filter/INPUT#7:accept']);
  });

  it('no tables at all: everything passes (and says which way it was routed)', () => {
    const r = traceIn(new Map(), tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('accept');
    expect(r.steps).toEqual([]);
  });
});

describe('chains: jump, goto, RETURN, end of chain', () => {
  const state = save(
    filter(
      'DROP',
      [
        '-A INPUT -p tcp -m tcp --dport 22 -g SSH',
        '-A INPUT -p tcp -j CHECK',
        '-A INPUT -p tcp -m tcp --dport 23 -j ACCEPT',
        '-A INPUT -p tcp -m tcp --dport 24 -j ACCEPT',
        '-A SSH -s 192.0.2.0/24 -j ACCEPT',
        '-A CHECK -p tcp -m tcp --dport 24 -j RETURN',
        '-A CHECK -p tcp -m tcp --dport 23 -j DROP',
      ],
      'DROP',
      [],
      ['SSH', 'CHECK'],
    ),
  );

  it('a goto chain that falls off its end returns past the goto: the policy decides', () => {
    const r = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('drop');
    expect(path(r)).toEqual(['filter/INPUT#1:goto', 'filter/INPUT:policy DROP']);
    expect(traceIn(state, tcp('192.0.2.7', '10.0.0.5', 22)).verdict).toBe('accept');
  });

  it('a jump chain that DROPs ends everything; one that RETURNs goes on after the jump', () => {
    const drop = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 23));
    expect(path(drop)).toEqual(['filter/INPUT#2:jump', 'filter/CHECK#2:drop']);
    const ret = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 24));
    expect(path(ret)).toEqual(['filter/INPUT#2:jump', 'filter/CHECK#1:return', 'filter/INPUT#4:accept']);
  });

  it('a jump to a chain that does not exist is unknown, not a guess', () => {
    const r = traceIn(save(filter('DROP', ['-A INPUT -j NOWHERE'])), tcp('203.0.113.9', '10.0.0.5', 24));
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toMatch(/target NOWHERE is not modelled/);
  });
});

describe('DNAT, routing and FORWARD', () => {
  const tables = [
    nat([
      '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
      '-A DOCKER -d 10.0.0.5/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80',
      '-A DOCKER -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.3',
    ]).replace(':POSTROUTING ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]'),
    filter(
      'DROP',
      [],
      'DROP',
      [
        '-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
        '-A FORWARD -i docker0 -o docker0 -j ACCEPT',
        '-A FORWARD -d 172.17.0.3/32 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT',
        '-A FORWARD -o docker0 -m conntrack ! --ctstate DNAT -j DROP',
      ],
    ),
  ];
  const state = save(...tables);

  it('DNATs in nat PREROUTING, then FORWARD accepts it only as DNATed', () => {
    const r = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 8080));
    expect(r.verdict).toBe('accept');
    expect(r.dnat).toMatchObject({ dst: '172.17.0.3', dport: 80 });
    expect(r.route).toBe('FORWARD');
    expect(r.outInterface).toBe('docker0');
    expect(path(r)).toEqual([
      'nat/PREROUTING#1:jump',
      'nat/DOCKER#1:dnat',
      'filter/FORWARD#3:accept',
    ]);
    expect(r.notes.join('\n')).toMatch(/forwarded out of docker0 \(connected subnet 172\.17\.0\.0\/16 on docker0\)/);
  });

  it('a DNAT without a port keeps the port; the DNATed flow to another port meets the policy', () => {
    const r = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 8081));
    expect(r.dnat).toMatchObject({ dst: '172.17.0.3', dport: 8081 });
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy?.policy).toBe('DROP');
  });

  it('a packet sent straight to the container address is not DNATed: ! --ctstate DNAT drops it', () => {
    const r = traceIn(state, tcp('203.0.113.9', '172.17.0.3', 80));
    expect(r.dnat).toBeUndefined();
    expect(r.verdict).toBe('drop');
    expect(r.decidedBy?.rule).toBe(4);
  });

  it('without the bridge in the host view the out interface is unknown, and the trace says so', () => {
    const host: HostView = { interfaces: HOST.interfaces.filter((i) => i.name !== 'docker0') };
    const r = traceIn(state, tcp('203.0.113.9', '10.0.0.5', 8080), host);
    // -o docker0 RELATED,ESTABLISHED fails on its state, -i docker0 on the in interface: the
    // DNAT accept decides, whatever the out interface.
    expect(r.verdict).toBe('accept');
    expect(r.outInterface).toBeUndefined();
    expect(r.notes.join('\n')).toMatch(/interface it leaves by is not known/);
    // Dropped whether or not rule 4 matches (the policy is DROP too): still a sure answer.
    expect(traceIn(state, tcp('203.0.113.9', '172.17.0.3', 80), host).verdict).toBe('drop');
    // With FORWARD policy ACCEPT the direct packet depends on it: unknown at the -o rule, never "accepted".
    const open = parseSave(tables.join('\n').replace(':FORWARD DROP', ':FORWARD ACCEPT'));
    const direct = traceIn(open, tcp('203.0.113.9', '172.17.0.3', 80), host);
    expect(direct.verdict).toBe('unknown');
    expect(direct.unknownAt).toMatchObject({ chain: 'FORWARD', rule: 4 });
    expect(direct.unknownAt?.why).toMatch(/leaves by is not known \(-o docker0\)/);
  });

  it('REDIRECT sends it to the in interface\'s address and the new port', () => {
    const st = save(nat(['-A PREROUTING -p tcp -m tcp --dport 80 -j REDIRECT --to-ports 8080']), filter('DROP', ['-A INPUT -p tcp -m tcp --dport 8080 -j ACCEPT']));
    const r = traceIn(st, tcp('203.0.113.9', '10.0.0.5', 80));
    expect(r.dnat).toMatchObject({ dst: '10.0.0.5', dport: 8080 });
    expect(r.verdict).toBe('accept');
  });
});

describe('never a guess', () => {
  it('an option it does not understand on a rule that could decide: unknown at that rule', () => {
    const st = save(
      filter('DROP', [
        '-A INPUT -p tcp -m tcp --dport 22 -m recent --rcheck --seconds 60 --name ssh --mask 255.255.255.255 --rsource -j DROP',
        '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT',
      ]),
    );
    const r = traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt).toMatchObject({ table: 'filter', chain: 'INPUT', rule: 1 });
    expect(r.unknownAt?.why).toMatch(/option not understood by the tracer: -m recent/);
    expect(r.outcomes.map((o) => o.verdict).sort()).toEqual(['accept', 'drop']);
    // Another port: the rule surely does not match whatever -m recent says.
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 23)).verdict).toBe('drop');
  });

  it('an uncertain rule whose outcomes all agree does not make the verdict unknown', () => {
    const st = save(filter('DROP', ['-A INPUT -p tcp -m tcp --dport 22 -m limit --limit 5/min -j DROP']));
    const r = traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('drop');
    expect(r.notes.join('\n')).toMatch(/every way they go ends the same: .*-m limit/);
  });

  it('-j LOG under an option it does not know just continues', () => {
    const st = save(filter('DROP', ['-A INPUT -m limit --limit 5/min -j LOG', '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT']));
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('accept');
  });

  it('an unknown in interface makes -i rules uncertain; a known one decides', () => {
    const st = save(filter('ACCEPT', ['-A INPUT -i eth1 -j DROP']));
    const unknown = traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22, { inInterface: undefined }));
    expect(unknown.verdict).toBe('unknown');
    expect(unknown.unknownAt?.why).toMatch(/arrives on is not known \(-i eth1\)/);
    expect(unknown.notes[0]).toMatch(/was not given/);
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('accept');
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22, { inInterface: 'eth1' })).verdict).toBe('drop');
    // iptables' wildcard
    expect(traceIn(save(filter('ACCEPT', ['-A INPUT -i eth+ -j DROP'])), tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('drop');
  });

  it('the client source port is unknown', () => {
    const st = save(filter('ACCEPT', ['-A INPUT -p tcp -m tcp --sport 1024:65535 -j DROP']));
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('unknown');
  });

  it('a source range splits at a rule for part of it: unknown, with both outcomes', () => {
    const st = save(filter('ACCEPT', ['-A INPUT -s 192.0.2.9/32 -j DROP']));
    const r = traceIn(st, tcp('0.0.0.0/0', '10.0.0.5', 22));
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toMatch(/source 0\.0\.0\.0\/0 is partly inside 192\.0\.2\.9/);
    expect(r.outcomes.map((o) => o.verdict)).toEqual(['accept', 'drop']);
    expect(traceIn(st, tcp('198.51.100.0/24', '10.0.0.5', 22)).verdict).toBe('accept');
  });

  it('MARK before routing may steer policy routing: unknown; after routing it continues', () => {
    const mangle = (chain: string) => ['*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', `-A ${chain} -j MARK --set-xmark 0x1/0x1`, 'COMMIT'].join('\n');
    expect(traceIn(save(mangle('PREROUTING')), tcp('203.0.113.9', '10.0.0.5', 22)).unknownAt?.why).toMatch(/policy routing/);
    expect(traceIn(save(mangle('INPUT')), tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('accept');
  });

  it('a table iptables-save cannot show is unknown', () => {
    const st = parseSave("# Table `filter' is incompatible, use 'nft' tool.\n");
    const r = traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toMatch(/cannot show the filter table/);
  });

  it('too many uncertain matches: unknown rather than a partial answer', () => {
    const rules = Array.from({ length: 10 }, (_, i) => `-A INPUT -p tcp -m tcp --sport ${1000 + i} -j ${i % 2 ? 'ACCEPT' : 'DROP'}`);
    const r = trace({ state: save(filter('ACCEPT', rules)), host: HOST, packet: tcp('203.0.113.9', '10.0.0.5', 22), maxOutcomes: 4 });
    expect(r.verdict).toBe('unknown');
    expect(r.unknownAt?.why).toMatch(/more than 4 combinations/);
  });

  it('refuses a malformed packet', () => {
    expect(() => traceIn(new Map(), tcp('203.0.113.9', '2001:db8::1', 22))).toThrow(TraceInputError);
    expect(() => traceIn(new Map(), tcp('203.0.113.9', '10.0.0.5', 0))).toThrow(/port 0/);
  });
});

describe('conntrack, addrtype, raw', () => {
  it('--ctstate NEW and --ctdir ORIGINAL match the first packet; RELATED,ESTABLISHED does not', () => {
    const st = save(filter('DROP', ['-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j DROP', '-A INPUT -m conntrack --ctstate NEW --ctdir ORIGINAL -j ACCEPT']));
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22)).decidedBy?.rule).toBe(2);
  });

  it('in raw the packet has no connection yet: its state is INVALID', () => {
    const raw = ['*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -m conntrack --ctstate NEW -j DROP', '-A PREROUTING -m conntrack --ctstate INVALID -j LOG', 'COMMIT'].join('\n');
    const r = traceIn(save(raw), tcp('203.0.113.9', '10.0.0.5', 22));
    expect(r.verdict).toBe('accept');
    expect(path(r)).toEqual(['raw/PREROUTING#2:continue', 'raw/PREROUTING:policy ACCEPT']);
  });

  it('--dst-type LOCAL: the host\'s addresses and the whole loopback prefix', () => {
    const st = save(filter('ACCEPT', [], 'ACCEPT', ['-A INPUT -m addrtype --dst-type LOCAL -j DROP', '-A FORWARD -m addrtype ! --dst-type LOCAL -j DROP']));
    expect(traceIn(st, tcp('203.0.113.9', '10.0.0.5', 22)).verdict).toBe('drop');
    expect(traceIn(st, tcp('203.0.113.9', '127.0.0.53', 22, { inInterface: 'lo' })).verdict).toBe('drop');
    const fwd = traceIn(st, tcp('203.0.113.9', '198.51.100.1', 22));
    expect(fwd.route).toBe('FORWARD');
    expect(fwd.outInterface).toBe('eth0');
    expect(fwd.verdict).toBe('drop');
  });
});

describe('IPv6 (ip6tables-save)', () => {
  const state = save(
    nat(['-A PREROUTING -s 2001:db8::/32 -p tcp -m tcp --dport 81 -j DNAT --to-destination [fd00:db8:1::3]:80']),
    filter('DROP', ['-A INPUT -p ipv6-icmp -j ACCEPT'], 'DROP', ['-A FORWARD -s 2001:db8::/32 -d fd00:db8:1::3/128 -p tcp -m tcp --dport 80 -m conntrack --ctstate DNAT -j ACCEPT']),
  );

  it('DNAT to a bracketed IPv6 address and port, accepted in FORWARD', () => {
    const r = traceIn(state, tcp('2001:db8:9::7', '2001:db8:5::5', 81));
    expect(r.verdict).toBe('accept');
    expect(r.dnat).toMatchObject({ dst: 'fd00:db8:1::3', dport: 80 });
    expect(r.outInterface).toBe('br-eeeeeeeeeeee');
  });

  it('a source outside the prefix is not DNATed and meets the INPUT policy', () => {
    const r = traceIn(state, tcp('2a00::1', '2001:db8:5::5', 81));
    expect(r.dnat).toBeUndefined();
    expect(r.route).toBe('INPUT');
    expect(r.verdict).toBe('drop');
  });
});

describe('rule parsing', () => {
  it('reads dockgate\'s rule shapes without unknown parts', () => {
    const lines = [
      '-s 10.0.0.0/24 -d 10.0.0.5/32 -p tcp -m tcp --dport 8080 -m comment --comment "api/c0ffee000002" -j DNAT --to-destination 172.17.0.3:80',
      '-p tcp -m tcp --dport 8000 -m addrtype --dst-type LOCAL -m conntrack --ctstate NEW -m comment --comment "web/c0ffee000001" -j ACCEPT',
      '-i br-bbbbbbbbbbbb -o dg-back -m conntrack ! --ctstate DNAT -m comment --comment "dockgate isolate front from back" -j DROP',
      '-d 172.17.0.0/16 ! -i docker0 -m comment --comment "dockgate no direct access to bridge" -j DROP',
      '-s 172.17.0.0/16 ! -o docker0 -m comment --comment "dockgate egress of bridge" -j MASQUERADE',
    ];
    for (const l of lines) expect(parseRule(l).conds.filter((c) => c.kind === 'unknown')).toEqual([]);
    expect(parseRule(lines[0]!).targetArgs).toEqual(['--to-destination', '172.17.0.3:80']);
  });

  it('a quoted comment that looks like options stays a comment', () => {
    const r = parseRule('-m comment --comment "-m recent -j DROP" -j ACCEPT');
    expect(r.conds).toEqual([]);
    expect(r.target).toBe('ACCEPT');
  });
});
