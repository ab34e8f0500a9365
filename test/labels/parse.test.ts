import { describe, expect, it } from 'vitest';
import type { Cidr, ContainerPolicy, PolicyDefaults, PolicyResult, PortSpec } from '../../src/model/types.js';
import { parseAddress, parseCidr } from '../../src/net/address.js';
import { MAX_LABEL_BYTES, MAX_PORTS_PER_CONTAINER, parseLabels } from '../../src/labels/parse.js';
import { DEFAULTS } from '../plan/fixtures.js';

const OPTS = { prefix: 'dockgate', defaults: DEFAULTS };

function parse(labels: Record<string, string>, prefix = 'dockgate'): PolicyResult {
  const r = parseLabels(labels, { prefix, defaults: DEFAULTS });
  if (r.ok) checkInvariants(r.policy);
  return r;
}

function ok(labels: Record<string, string>): ContainerPolicy {
  const r = parse(labels);
  if (!r.ok) throw new Error(`expected success, got ${JSON.stringify(r.errors)}`);
  return r.policy;
}

function errorsOf(labels: Record<string, string>) {
  const r = parse(labels);
  if (r.ok) throw new Error(`expected errors, got ${JSON.stringify(r.policy)}`);
  return r.errors;
}

function isPort(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Every successful parse yields numbers in range and canonical addresses only. */
function checkInvariants(p: ContainerPolicy): void {
  for (const s of p.ports) {
    expect(isPort(s.start) && isPort(s.end) && s.start <= s.end, JSON.stringify(s)).toBe(true);
    expect(['tcp', 'udp']).toContain(s.protocol);
    if (s.host) {
      expect(isPort(s.host.start) && isPort(s.host.end) && s.host.start <= s.host.end, JSON.stringify(s)).toBe(true);
      if (s.host.ip !== undefined) {
        const a = parseAddress(s.host.ip);
        expect(a.ok && a.value.text === s.host.ip, s.host.ip).toBe(true);
      }
    }
  }
  expect(p.ports.reduce((n, s) => n + (s.end - s.start + 1), 0)).toBeLessThanOrEqual(MAX_PORTS_PER_CONTAINER);
  for (const c of p.from) {
    const r = parseCidr(c.text);
    expect(r.ok && r.value.text === c.text && r.value.family === c.family, c.text).toBe(true);
  }
  expect(['proxy', 'dnat']).toContain(p.mode);
  expect(['all', 'none', 'list']).toContain(p.egress.kind);
}

const tcp = (start: number, end = start): PortSpec => ({ start, end, protocol: 'tcp' });
const udp = (start: number, end = start): PortSpec => ({ start, end, protocol: 'udp' });
/** `ip` undefined: the entry names no host address (every address). */
const map = (ip: string | undefined, hs: number, he: number, cs: number, ce: number, protocol: 'tcp' | 'udp' = 'tcp'): PortSpec => ({
  start: cs,
  end: ce,
  protocol,
  host: { ...(ip === undefined ? {} : { ip }), start: hs, end: he },
});

describe('dockgate.ports: valid forms', () => {
  it.each<[string, PortSpec[]]>([
    ['80', [tcp(80)]],
    ['1', [tcp(1)]],
    ['65535', [tcp(65535)]],
    ['80/tcp', [tcp(80)]],
    ['53/udp', [udp(53)]],
    ['8000-8010', [tcp(8000, 8010)]],
    ['8000-8000', [tcp(8000)]],
    ['60000-60010/udp', [udp(60000, 60010)]],
    ['8080:80', [map(undefined, 8080, 8080, 80, 80)]],
    ['8080:80/udp', [map(undefined, 8080, 8080, 80, 80, 'udp')]],
    ['127.0.0.1:8080:80', [map('127.0.0.1', 8080, 8080, 80, 80)]],
    ['0.0.0.0:8080:80', [map('0.0.0.0', 8080, 8080, 80, 80)]],
    ['192.168.1.10:53:53/udp', [map('192.168.1.10', 53, 53, 53, 53, 'udp')]],
    ['[2001:db8::1]:8080:80', [map('2001:db8::1', 8080, 8080, 80, 80)]],
    ['[2001:DB8:0:0:0:0:0:1]:8080:80/udp', [map('2001:db8::1', 8080, 8080, 80, 80, 'udp')]],
    ['[::]:443:443', [map('::', 443, 443, 443, 443)]],
    ['8000-8002:9000-9002', [map(undefined, 8000, 8002, 9000, 9002)]],
    ['10.0.0.1:8000-8002:9000-9002/udp', [map('10.0.0.1', 8000, 8002, 9000, 9002, 'udp')]],
    ['8000-8010:80', [map(undefined, 8000, 8010, 80, 80)]],
    ['80,443', [tcp(80), tcp(443)]],
    ['80 , 443 ,53/udp', [tcp(80), tcp(443), udp(53)]],
    ['  80,443  ', [tcp(80), tcp(443)]],
    ['80,53/udp,53', [tcp(80), udp(53), tcp(53)]],
    ['80,80/tcp,443,80', [tcp(80), tcp(443)]],
    ['8080:80,80,8080:80,127.0.0.1:8080:80', [map(undefined, 8080, 8080, 80, 80), tcp(80), map('127.0.0.1', 8080, 8080, 80, 80)]],
    [`1-${MAX_PORTS_PER_CONTAINER}`, [tcp(1, MAX_PORTS_PER_CONTAINER)]],
  ])('%j', (value, expected) => {
    const p = ok({ 'dockgate.ports': value });
    expect(p.ports).toEqual(expected);
    expect(p.declared).toBe(true);
  });
});

describe('dockgate.ports: refused', () => {
  it.each<[string, RegExp]>([
    ['', /^empty/],
    ['   ', /^empty/],
    ['80 81', /entry "80 81" contains whitespace/],
    ['80,8 1', /entry "8 1" contains whitespace/],
    ['80\t', /entry "80\\t" contains whitespace/],
    ['\t80', /entry "\\t80" contains whitespace/],
    ['80\n81', /entry "80\\n81" contains whitespace/],
    ['80;rm', /^entry "80;rm" is not PORT\[\/PROTO\], START-END\[\/PROTO\] or \[HOSTIP:\]HOSTPORT:PORT\[\/PROTO\] \(unexpected character ";"\)$/],
    ['80;rm -rf /', /entry "80;rm -rf \/" contains whitespace/],
    ['"80"', /unexpected character "\\""/],
    ["'80'", /unexpected character "'"/],
    ['80 -j ACCEPT', /contains whitespace/],
    ['-j', /entry "-j": port "-j" is neither a port nor a START-END range/],
    ['80\u00a0', /non-ASCII/],
    ['８０', /non-ASCII/],
    ['80\u0000', /control character/],
    ['80$(id)', /unexpected character "\$"/],
    ['0', /port "0" must be a number 1-65535/],
    ['65536', /port "65536" must be a number 1-65535/],
    ['99999999999', /port "99999999999" must be a number 1-65535/],
    ['080', /port "080" must be a number 1-65535.*leading zeros/],
    ['+80', /unexpected character "\+"/],
    ['8e3', /port "8e3" must be a number 1-65535/],
    ['0x50', /port "0x50" must be a number 1-65535/],
    ['80.0', /port "80.0" must be a number 1-65535/],
    ['http', /port "http" must be a number 1-65535/],
    ['0-80', /port "0" must be a number 1-65535/],
    ['90-80', /reversed range "90-80"/],
    ['8080:90-80', /reversed range "90-80"/],
    ['90-80:8080', /reversed range "90-80"/],
    ['80-', /port "80-" is neither a port nor a START-END range/],
    ['80-90-100', /neither a port nor a START-END range/],
    ['80/sctp', /protocol "sctp" is not supported; use tcp or udp/],
    ['80/TCP', /protocol "TCP" is not supported/],
    ['80/', /protocol after "\/" is empty/],
    ['80/tcp/udp', /only one \/PROTO/],
    ['80,,81', /^empty entry/],
    ['80,', /^empty entry/],
    [',80', /^empty entry/],
    ['8000-8002:9000-9001', /host range 8000-8002 has 3 ports but container range 9000-9001 has 2/],
    ['8080:80-81', /host port 8080 is a single port but container range 80-81 has 2 ports/],
    [':8080:80', /host IP is empty/],
    ['[]:8080:80', /host IP is empty/],
    ['::8080', /host IP is empty/],
    ['127.0.0.1::80', /host port is empty/],
    ['8080:', /entry "8080:": port is empty/],
    ['localhost:8080:80', /host IP "localhost" is not an IPv4 address/],
    ['10.0.0.300:8080:80', /host IP "10.0.0.300" is not an IPv4 address/],
    ['10.0.0.1/32:8080:80', /host IP "10.0.0.1\/32" must be a plain address/],
    ['[::1/128]:8080:80', /host IP "\[::1\/128\]" must be a plain address/],
    ['[10.0.0.1]:8080:80', /brackets are only for IPv6/],
    ['[fe80::1%eth0]:8080:80', /unexpected character "%"/],
    ['[zz::1]:8080:80', /host IP "\[zz::1\]" is not an IPv6 address/],
    ['2001:db8::1:8080:80', /IPv6 host IP must be in brackets/],
    ['[2001:db8::1]:80', /expected \[HOSTIP\]:HOSTPORT:PORT/],
    ['[2001:db8::1]', /must be followed by :HOSTPORT:PORT/],
    ['80:[::1]', /brackets go only around an IPv6 host IP/],
    ['1:2:3:4', /too many ":"/],
    ['1-2000', /declares 2000 ports; at most 1024 allowed/],
    ['1-1000,2001-2025', /declares 1025 ports; at most 1024/],
  ])('%j', (value, reason) => {
    const errors = errorsOf({ 'dockgate.ports': value });
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const e of errors) {
      expect(e.label).toBe('dockgate.ports');
      expect(e.value).toBe(value);
    }
    expect(errors.map((e) => e.reason).join('\n')).toMatch(reason);
  });

  it('counts a host range mapped to one port by its host range', () => {
    expect(errorsOf({ 'dockgate.ports': '1-2000:80' })[0]?.reason).toMatch(/declares 2000 ports/);
    expect(ok({ 'dockgate.ports': '1-1024:80' }).ports).toEqual([map(undefined, 1, 1024, 80, 80)]);
  });

  it('reports one error per bad entry and refuses the whole label', () => {
    const errors = errorsOf({ 'dockgate.ports': '80,0,443/sctp,90-80,8080' });
    expect(errors.map((e) => e.reason)).toEqual([
      expect.stringMatching(/port "0"/),
      expect.stringMatching(/protocol "sctp"/),
      expect.stringMatching(/reversed range "90-80"/),
    ]);
  });

  it('counts ports after removing duplicates', () => {
    expect(ok({ 'dockgate.ports': '1-1000,1-1000,1-24' }).ports).toEqual([tcp(1, 1000), tcp(1, 24)]);
  });
});

describe('dockgate.from', () => {
  it.each<[string, Cidr[]]>([
    ['10.0.0.0/8', [{ family: 4, text: '10.0.0.0/8' }]],
    ['192.168.1.5', [{ family: 4, text: '192.168.1.5/32' }]],
    ['0.0.0.0/0', [{ family: 4, text: '0.0.0.0/0' }]],
    ['2001:DB8::/32', [{ family: 6, text: '2001:db8::/32' }]],
    ['::1', [{ family: 6, text: '::1/128' }]],
    [
      '10.0.0.0/8 , 2001:db8::/32,192.168.1.5/32',
      [
        { family: 4, text: '10.0.0.0/8' },
        { family: 6, text: '2001:db8::/32' },
        { family: 4, text: '192.168.1.5/32' },
      ],
    ],
    ['10.0.0.1,10.0.0.1/32,2001:db8::1,2001:0db8::1/128', [{ family: 4, text: '10.0.0.1/32' }, { family: 6, text: '2001:db8::1/128' }]],
  ])('%j', (value, expected) => {
    const p = ok({ 'dockgate.from': value });
    expect(p.from).toEqual(expected);
    expect(p.declared).toBe(false);
    expect(p.ports).toEqual([]);
  });

  it.each<[string, RegExp]>([
    ['', /^empty/],
    ['10.0.0.300', /"10.0.0.300" is not an address or CIDR/],
    ['10.0.0.0/33', /"10.0.0.0\/33": prefix length must be 0-32/],
    ['10.0.0.5/8', /"10.0.0.5\/8" has host bits set; did you mean 10.0.0.0\/8\?/],
    ['fe80::1%eth0', /"fe80::1%eth0" is not an address or CIDR/],
    ['::1/129', /"::1\/129": prefix length must be 0-128/],
    ['10.0.0.0/08', /prefix length must be 0-32/],
    ['010.0.0.1', /is not an address or CIDR/],
    ['10.0.0.0 /8', /entry "10.0.0.0 \/8" contains whitespace/],
    ['10.0.0.0/8;', /"10.0.0.0\/8;": prefix length must be 0-32/],
    ['10.0.0.0/8,', /^empty entry/],
    ['any', /"any" is not an address or CIDR/],
    ['10.0.0.0/8\n-j ACCEPT', /contains whitespace/],
  ])('refuses %j', (value, reason) => {
    const errors = errorsOf({ 'dockgate.from': value });
    expect(errors.every((e) => e.label === 'dockgate.from' && e.value === value)).toBe(true);
    expect(errors.map((e) => e.reason).join('\n')).toMatch(reason);
  });
});

describe('dockgate.mode and dockgate.egress', () => {
  it.each<[Record<string, string>, Partial<ContainerPolicy>]>([
    [{ 'dockgate.mode': 'proxy' }, { mode: 'proxy' }],
    [{ 'dockgate.mode': 'dnat' }, { mode: 'dnat' }],
    [{ 'dockgate.mode': ' dnat ' }, { mode: 'dnat' }],
    [{ 'dockgate.egress': 'true' }, { egress: { kind: 'all' } }],
    [{ 'dockgate.egress': 'false' }, { egress: { kind: 'none' } }],
  ])('%j', (labels, expected) => {
    expect(ok(labels)).toMatchObject(expected);
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ 'dockgate.mode': 'DNAT' }, /"DNAT" is not a mode; use proxy or dnat/],
    [{ 'dockgate.mode': 'nat' }, /"nat" is not a mode/],
    [{ 'dockgate.mode': '' }, /^empty; use proxy or dnat/],
    [{ 'dockgate.mode': 'proxy,dnat' }, /"proxy,dnat" is not a mode/],
    [{ 'dockgate.mode': 'proxy\n' }, /"proxy\\n" is not a mode/],
    [{ 'dockgate.egress': 'yes' }, /"yes" is neither an address, a CIDR nor a fully qualified DNS name \(or, as the whole value: true, all, false, none\)/],
    [{ 'dockgate.egress': 'True' }, /"True" is neither an address/],
    [{ 'dockgate.egress': '1' }, /"1" is not an address or CIDR/],
    [{ 'dockgate.egress': '' }, /^empty; use true, all, false, none, or a comma list/],
  ])('refuses %j', (labels, reason) => {
    const errors = errorsOf(labels);
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toMatch(reason);
  });
});

describe('keys', () => {
  const unknown = 'unknown label; known labels are dockgate.ports, dockgate.from, dockgate.mode, dockgate.egress';
  it.each(['dockgate.port', 'dockgate.Ports', 'dockgate.ports.x', 'dockgate', 'dockgate.', 'dockgate.source', 'dockgate.from.0'])(
    'refuses %j',
    (key) => {
      expect(errorsOf({ [key]: '80', 'dockgate.ports': '443' })).toEqual([{ label: key, value: '80', reason: unknown }]);
    },
  );

  it.each<Record<string, string>>([
    {},
    { 'com.docker.compose.project': 'x', maintainer: 'me' },
    { dockgateports: '80', 'dockgate-ports': '80', 'Dockgate.ports': 'nonsense', 'x.dockgate.ports': 'bad' },
    { 'org.dockgate.mode': 'bad', 'traefik.http.routers.x.rule': 'Host(`a`)' },
  ])('ignores labels outside the prefix: %j', (labels) => {
    expect(ok(labels)).toEqual({ ports: [], from: DEFAULTS.from, mode: 'proxy', egress: { kind: 'all' }, declared: false });
  });

  it('applies defaults per absent label', () => {
    const defaults: PolicyDefaults = { mode: 'dnat', from: [{ family: 4, text: '10.0.0.0/8' }], egress: { kind: 'none' } };
    const r = parseLabels({ 'dockgate.ports': '80', 'dockgate.egress': 'true' }, { prefix: 'dockgate', defaults });
    expect(r).toEqual({
      ok: true,
      policy: { ports: [tcp(80)], from: [{ family: 4, text: '10.0.0.0/8' }], mode: 'dnat', egress: { kind: 'all' }, declared: true },
    });
    // The label overrides the default entirely; it does not add to it.
    const r2 = parseLabels({ 'dockgate.from': '192.168.0.0/16' }, { prefix: 'dockgate', defaults });
    expect(r2.ok && r2.policy.from).toEqual([{ family: 4, text: '192.168.0.0/16' }]);
  });

  it('does not share the defaults array with the result', () => {
    const p = ok({});
    p.from.push({ family: 4, text: '1.2.3.4/32' });
    expect(DEFAULTS.from).toHaveLength(2);
  });

  it('supports a custom prefix', () => {
    const labels = {
      'fw.ports': '80',
      'fw.mode': 'dnat',
      'dockgate.ports': 'garbage',
      'dockgate.whatever': 'x',
    };
    expect(parse(labels, 'fw')).toEqual({
      ok: true,
      policy: { ports: [tcp(80)], from: DEFAULTS.from, mode: 'dnat', egress: { kind: 'all' }, declared: true },
    });
    const bad = parse({ 'fw.port': '80', 'fwx.port': '80' }, 'fw');
    expect(bad).toEqual({
      ok: false,
      errors: [{ label: 'fw.port', value: '80', reason: 'unknown label; known labels are fw.ports, fw.from, fw.mode, fw.egress' }],
    });
  });

  it('supports a dotted custom prefix', () => {
    const r = parse({ 'io.example.fw.ports': '80', 'io.example.fw': 'x', 'io.example.fwports': 'y' }, 'io.example.fw');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.errors.map((e) => e.label)).toEqual(['io.example.fw']);
  });
});

describe('size limits', () => {
  it('accepts a value of exactly MAX_LABEL_BYTES bytes', () => {
    const value = `${'80,'.repeat(340)}8080`; // 1024 bytes
    expect(Buffer.byteLength(value)).toBe(MAX_LABEL_BYTES);
    expect(ok({ 'dockgate.ports': value }).ports).toEqual([tcp(80), tcp(8080)]);
  });

  it.each<[string, string, number]>([
    ['dockgate.ports', `${'80,'.repeat(341)}80`, 1025],
    ['dockgate.from', `${'10.0.0.1,'.repeat(200)}10.0.0.1`, 1808],
    ['dockgate.mode', `proxy${' '.repeat(1020)}`, 1025],
    ['dockgate.egress', 'é'.repeat(513), 1026], // counted in UTF-8 bytes, not characters
  ])('refuses %s over 1 KiB', (label, value, bytes) => {
    const errors = errorsOf({ [label]: value });
    expect(errors).toHaveLength(1);
    expect(errors[0]?.reason).toBe(`value is ${bytes} bytes; at most 1024 allowed`);
    expect(errors[0]?.value).toBe(Array.from(value).slice(0, 200).join(''));
  });

  it('cuts the reported value to 200 characters without splitting a character', () => {
    const value = '😀'.repeat(300);
    const errors = errorsOf({ 'dockgate.mode': value });
    expect(Array.from(errors[0]?.value ?? '')).toHaveLength(200);
    expect(errors[0]?.value).toBe('😀'.repeat(200));
  });

  it('keeps reasons short and escaped for long or hostile tokens', () => {
    const token = `8${'0'.repeat(900)}`;
    const [e] = errorsOf({ 'dockgate.ports': token });
    expect(e?.reason.length).toBeLessThan(300);
    const [e2] = errorsOf({ 'dockgate.mode': 'a\u202eb\u001b[31m' });
    expect(e2?.reason).toBe('"a\\u202eb\\u001b[31m" is not a mode; use proxy or dnat');
  });
});

describe('collecting errors', () => {
  it('reports every error of every label at once, in key order', () => {
    const errors = errorsOf({
      'dockgate.mode': 'nat',
      'dockgate.ports': '80;rm,0',
      'dockgate.from': '10.0.0.5/8,10.0.0.300',
      'dockgate.egress': 'maybe',
      'dockgate.port': '80',
      'other.label': 'ignored',
    });
    expect(errors.map((e) => [e.label, e.reason])).toEqual([
      ['dockgate.egress', expect.stringMatching(/"maybe" is neither an address/)],
      ['dockgate.from', expect.stringMatching(/has host bits set/)],
      ['dockgate.from', expect.stringMatching(/"10.0.0.300" is not an address/)],
      ['dockgate.mode', expect.stringMatching(/"nat" is not a mode/)],
      ['dockgate.port', expect.stringMatching(/^unknown label/)],
      ['dockgate.ports', expect.stringMatching(/entry "80;rm" is not PORT/)],
      ['dockgate.ports', expect.stringMatching(/port "0"/)],
    ]);
  });

  it('refuses the whole container when one label is bad', () => {
    const r = parse({ 'dockgate.ports': '80', 'dockgate.from': '10.0.0.5/8' });
    expect(r.ok).toBe(false);
  });

  it('a full valid set of labels', () => {
    expect(
      parse({
        'dockgate.ports': '80, 443, 127.0.0.1:5432:5432, [::1]:6379:6379, 60000-60010/udp',
        'dockgate.from': '192.168.0.0/16, 2001:db8::/48',
        'dockgate.mode': 'dnat',
        'dockgate.egress': 'false',
        'com.example': 'x',
      }),
    ).toEqual({
      ok: true,
      policy: {
        ports: [tcp(80), tcp(443), map('127.0.0.1', 5432, 5432, 5432, 5432), map('::1', 6379, 6379, 6379, 6379), udp(60000, 60010)],
        from: [
          { family: 4, text: '192.168.0.0/16' },
          { family: 6, text: '2001:db8::/48' },
        ],
        mode: 'dnat',
        egress: { kind: 'none' },
        declared: true,
      },
    });
  });

  it('exports the documented limits', () => {
    expect(MAX_LABEL_BYTES).toBe(1024);
    expect(MAX_PORTS_PER_CONTAINER).toBe(1024);
    expect(OPTS.prefix).toBe('dockgate');
  });
});
