import { describe, expect, it } from 'vitest';
import { formatEgressPolicy, parseEgressPolicy } from '../../src/labels/egress.js';
import { parseLabels } from '../../src/labels/parse.js';
import { readLabels } from '../../src/labels/image.js';
import type { EgressEntry, EgressPolicy, PolicyDefaults } from '../../src/model/types.js';

const DEFAULTS: PolicyDefaults = { mode: 'proxy', from: [{ family: 4, text: '0.0.0.0/0' }], egress: { kind: 'all' } };

const cidr = (family: 4 | 6, text: string, ports: EgressEntry['ports'] = { kind: 'any' }): EgressEntry => ({ destination: { kind: 'cidr', cidr: { family, text } }, ports });
const name = (n: string, ports: EgressEntry['ports'] = { kind: 'any' }): EgressEntry => ({ destination: { kind: 'name', name: n }, ports });
const tcp = (start: number, end = start) => ({ kind: 'range' as const, protocol: 'tcp' as const, start, end });
const udp = (start: number, end = start) => ({ kind: 'range' as const, protocol: 'udp' as const, start, end });

function entries(value: string): EgressEntry[] {
  const r = parseEgressPolicy(value);
  if (!r.ok) throw new Error(r.error.join('; '));
  if (r.value.kind !== 'list') throw new Error(`not a list: ${r.value.kind}`);
  return r.value.entries;
}

describe('dockgate.egress grammar', () => {
  it.each<[string, EgressPolicy]>([
    ['true', { kind: 'all' }],
    ['all', { kind: 'all' }],
    [' false ', { kind: 'none' }],
    ['none', { kind: 'none' }],
  ])('%j', (value, policy) => {
    expect(parseEgressPolicy(value)).toEqual({ ok: true, value: policy });
  });

  it.each<[string, EgressEntry[]]>([
    ['10.1.0.0/16', [cidr(4, '10.1.0.0/16')]],
    ['192.168.1.5', [cidr(4, '192.168.1.5/32')]],
    ['2001:DB8::/32', [cidr(6, '2001:db8::/32')]],
    ['[2001:db8::/32]', [cidr(6, '2001:db8::/32')]],
    ['[2001:db8::/32]:443', [cidr(6, '2001:db8::/32', tcp(443))]],
    ['[2001:db8::1]:53/udp', [cidr(6, '2001:db8::1/128', udp(53))]],
    ['10.0.0.9:7000-7010', [cidr(4, '10.0.0.9/32', tcp(7000, 7010))]],
    ['10.0.0.0/8:5353/udp', [cidr(4, '10.0.0.0/8', udp(5353))]],
    ['10.0.0.9/udp', [cidr(4, '10.0.0.9/32', udp(1, 65535))]],
    ['api.GitHub.com:443', [name('api.github.com', tcp(443))]],
    ['db.internal.example.', [name('db.internal.example')]],
    ['ntp.example.org:123/udp', [name('ntp.example.org', udp(123))]],
    ['a.example, a.example ,10.0.0.1,10.0.0.1/32', [name('a.example'), cidr(4, '10.0.0.1/32')]],
  ])('%j', (value, expected) => {
    expect(entries(value)).toEqual(expected);
  });

  it.each<[string, RegExp]>([
    ['', /^empty; use true, all, false, none/],
    ['10.0.0.5/8', /"10.0.0.5\/8" has host bits set; did you mean 10.0.0.0\/8\?/],
    ['10.0.0.300', /"10.0.0.300" is not an address or CIDR/],
    ['*.example.com:443', /wildcards are not supported/],
    ['localhost', /neither an address, a CIDR nor a fully qualified DNS name/],
    ['api.example.com:0', /port "0" must be a number 1-65535/],
    ['api.example.com:443/icmp', /protocol "icmp" is not supported/],
    ['10.0.0.1:90-80', /reversed range/],
    ['[10.0.0.1]:80', /brackets are only for IPv6/],
    ['2001:db8::1:443/tcp', /goes in brackets/],
    ['a..example', /is not a DNS name/],
    ['-bad.example', /is not a DNS name/],
    ['10.0.0.1,,10.0.0.2', /empty entry/],
    ['10.0.0.1 -j ACCEPT', /contains whitespace/],
    ['a.example;rm', /is not true, all, false, none/],
  ])('refuses %j', (value, reason) => {
    const r = parseEgressPolicy(value);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.join('\n')).toMatch(reason);
  });

  it('names every bad entry of a list, one reason each', () => {
    const r = parseEgressPolicy('10.0.0.0/8,10.0.0.5/8,*.example.com');
    expect(r.ok ? [] : r.error).toEqual([expect.stringContaining('"10.0.0.5/8"'), expect.stringContaining('"*.example.com"')]);
  });

  it('formats back to the grammar', () => {
    const v = '10.1.0.0/16,[2001:db8::/32]:443,api.example.com:443,ntp.example.org:123/udp,10.0.0.9:7000-7010,10.0.0.9/udp';
    const r = parseEgressPolicy(v);
    expect(r.ok && formatEgressPolicy(r.value)).toBe('10.1.0.0/16,[2001:db8::/32]:443,api.example.com:443,ntp.example.org:123/udp,10.0.0.9:7000-7010,10.0.0.9/udp');
  });
});

describe('dockgate.egress as a label', () => {
  it('a malformed entry fails the container closed with one error naming the entry', () => {
    const r = parseLabels({ 'dockgate.ports': '80', 'dockgate.egress': '10.0.0.0/8,api.example.com:99999' }, { prefix: 'dockgate', defaults: DEFAULTS });
    expect(r).toEqual({ ok: false, errors: [{ label: 'dockgate.egress', value: '10.0.0.0/8,api.example.com:99999', reason: expect.stringContaining('entry "api.example.com:99999"') }] });
  });

  it('a list from the image narrows the default, and never widens none', () => {
    const image = { kind: 'inspected' as const, ref: 'img', sameAsImage: ['dockgate.egress'] };
    const labels = { 'dockgate.egress': '10.0.0.0/8' };
    const narrowed = readLabels({ labels, image }, { prefix: 'dockgate', defaults: DEFAULTS, trustImageLabels: false });
    expect(narrowed.ok && narrowed.policy.egress).toEqual({ kind: 'list', entries: [cidr(4, '10.0.0.0/8')] });
    expect(narrowed.imageLabels[0]?.effect).toBe('restricts');
    const none = readLabels({ labels, image }, { prefix: 'dockgate', defaults: { ...DEFAULTS, egress: { kind: 'none' } }, trustImageLabels: false });
    expect(none.ok && none.policy.egress).toEqual({ kind: 'none' });
  });
});
