// Which labels count (issue 18, item 2): a label that may be the image's never opens, claims or
// widens anything, but still narrows, so an image cannot cancel the admin's own restriction.
import { describe, expect, it } from 'vitest';
import { type LabelReading, describeImageLabels, intersect, readLabels } from '../../src/labels/image.js';
import type { Cidr, ContainerImage, ContainerPolicy, PolicyDefaults } from '../../src/model/types.js';
import { DEFAULTS } from '../plan/fixtures.js';

const v4 = (text: string): Cidr => ({ family: 4, text });
const v6 = (text: string): Cidr => ({ family: 6, text });

/** An image carrying `same` with the container's very values. */
const fromImage = (...same: string[]): ContainerImage => ({ kind: 'inspected', ref: 'evil/app:1', sameAsImage: same.sort() });
const GONE: ContainerImage = { kind: 'unknown', ref: 'evil/app:1', reason: 'image 0123456789ab no longer exists' };

function read(labels: Record<string, string>, image: ContainerImage, o: { trust?: boolean; defaults?: PolicyDefaults; prefix?: string } = {}): LabelReading {
  return readLabels({ labels, image }, { prefix: o.prefix ?? 'dockgate', defaults: o.defaults ?? DEFAULTS, trustImageLabels: o.trust ?? false });
}

function policyOf(r: LabelReading): ContainerPolicy {
  if (!r.ok) throw new Error(`expected a policy, got ${JSON.stringify(r.errors)}`);
  return r.policy;
}

describe('labels equal to the image\'s open nothing', () => {
  it('an image\'s dockgate.ports is ignored: nothing declared, nothing to open', () => {
    const r = read({ 'dockgate.ports': '8080' }, fromImage('dockgate.ports'));
    expect(policyOf(r)).toMatchObject({ ports: [], declared: false, mode: 'proxy', egress: { kind: 'all' } });
    expect(r.imageLabels).toEqual([{ label: 'dockgate.ports', value: '8080', image: 'evil/app:1', why: 'same-value', effect: 'ignored' }]);
  });

  it('an image\'s dnat claim is ignored, mode and mapping both', () => {
    const r = read({ 'dockgate.ports': '31337:22', 'dockgate.mode': 'dnat' }, fromImage('dockgate.ports', 'dockgate.mode'));
    expect(policyOf(r)).toMatchObject({ ports: [], mode: 'proxy' });
    expect(r.imageLabels.map((l) => [l.label, l.effect])).toEqual([
      ['dockgate.mode', 'ignored'],
      ['dockgate.ports', 'ignored'],
    ]);
  });

  it('a label the container sets to its own value counts, next to the image\'s that do not', () => {
    // The image says 8080; `docker run --label dockgate.ports=80` replaced it; the image's mode stays.
    const r = read({ 'dockgate.ports': '80', 'dockgate.mode': 'dnat' }, fromImage('dockgate.mode'));
    expect(policyOf(r)).toMatchObject({ ports: [{ start: 80, end: 80, protocol: 'tcp' }], declared: true, mode: 'proxy' });
    expect(r.imageLabels).toEqual([{ label: 'dockgate.mode', value: 'dnat', image: 'evil/app:1', why: 'same-value', effect: 'ignored' }]);
  });

  it('other labels are not dockgate\'s business, whoever set them', () => {
    const r = read({ 'org.opencontainers.image.title': 'app', 'dockgate.ports': '80' }, fromImage('org.opencontainers.image.title'));
    expect(policyOf(r).declared).toBe(true);
    expect(r.imageLabels).toEqual([]);
  });

  it('the prefix is the configured one', () => {
    const r = read({ 'fw.ports': '80', 'dockgate.ports': '81' }, fromImage('fw.ports', 'dockgate.ports'), { prefix: 'fw' });
    expect(policyOf(r).declared).toBe(false);
    expect(r.imageLabels.map((l) => l.label)).toEqual(['fw.ports']);
  });

  it('trust_image_labels: true takes every label as the admin\'s', () => {
    const r = read({ 'dockgate.ports': '31337:22', 'dockgate.mode': 'dnat' }, fromImage('dockgate.ports', 'dockgate.mode'), { trust: true });
    expect(policyOf(r)).toMatchObject({ mode: 'dnat', declared: true, ports: [{ start: 22, end: 22, host: { start: 31337, end: 31337 } }] });
    expect(r.imageLabels).toEqual([]);
    expect(policyOf(read({ 'dockgate.ports': '80' }, GONE, { trust: true })).declared).toBe(true);
  });
});

describe('labels equal to the image\'s still narrow', () => {
  // The attack: an image that expects to be sandboxed carries the sandbox's own label, so that the
  // admin's `--label dockgate.egress=false` would look like the image's and be dropped.
  it('dockgate.egress=false the image also carries keeps egress off', () => {
    const r = read({ 'dockgate.egress': 'false' }, fromImage('dockgate.egress'));
    expect(policyOf(r).egress).toEqual({ kind: 'none' });
    expect(r.imageLabels).toEqual([{ label: 'dockgate.egress', value: 'false', image: 'evil/app:1', why: 'same-value', effect: 'restricts' }]);
  });

  it('dockgate.egress=true from the image does not turn egress on', () => {
    const r = read({ 'dockgate.egress': 'true' }, fromImage('dockgate.egress'), { defaults: { ...DEFAULTS, egress: { kind: 'none' } } });
    expect(policyOf(r).egress).toEqual({ kind: 'none' });
    expect(r.imageLabels[0]?.effect).toBe('ignored');
  });

  it('dockgate.from the image also carries narrows the admin\'s sources, never widens them', () => {
    const own = { 'dockgate.ports': '443' };
    const narrowing = read({ ...own, 'dockgate.from': '192.168.10.0/24' }, fromImage('dockgate.from'));
    expect(policyOf(narrowing).from).toEqual([v4('192.168.10.0/24')]);
    expect(narrowing.imageLabels[0]?.effect).toBe('restricts');
    const office = { ...DEFAULTS, from: [v4('10.0.0.0/8')] };
    expect(policyOf(read({ ...own, 'dockgate.from': '0.0.0.0/0, ::/0' }, fromImage('dockgate.from'), { defaults: office })).from).toEqual([v4('10.0.0.0/8')]);
  });

  it('dockgate.mode=proxy the image also carries keeps a dnat default from claiming', () => {
    const r = read({ 'dockgate.mode': 'proxy', 'dockgate.ports': '8080:80' }, fromImage('dockgate.mode'), { defaults: { ...DEFAULTS, mode: 'dnat' } });
    expect(policyOf(r).mode).toBe('proxy');
    expect(r.imageLabels[0]?.effect).toBe('restricts');
  });
});

describe('bad labels', () => {
  it('a bad label that may be the image\'s is ignored, not an error of the container', () => {
    const r = read({ 'dockgate.bogus': 'x', 'dockgate.from': 'not a cidr', 'dockgate.ports': '80' }, fromImage('dockgate.bogus', 'dockgate.from'));
    expect(policyOf(r)).toMatchObject({ declared: true, from: DEFAULTS.from });
    expect(r.imageLabels.map((l) => [l.label, l.effect])).toEqual([
      ['dockgate.bogus', 'ignored'],
      ['dockgate.from', 'ignored'],
    ]);
  });

  it('the container\'s own bad label is still an error (fail closed), and the image\'s are still reported', () => {
    const r = read({ 'dockgate.ports': '0', 'dockgate.mode': 'dnat' }, fromImage('dockgate.mode'));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.map((e) => e.label)).toEqual(['dockgate.ports']);
    expect(r.imageLabels.map((l) => l.label)).toEqual(['dockgate.mode']);
  });
});

describe('an image that cannot be inspected', () => {
  it('every label under the prefix may be its: nothing opens, restrictions hold, other labels are untouched', () => {
    const r = read({ 'dockgate.ports': '80', 'dockgate.egress': 'false', 'com.example.team': 'web' }, GONE);
    expect(policyOf(r)).toMatchObject({ ports: [], declared: false, egress: { kind: 'none' } });
    expect(r.imageLabels).toEqual([
      { label: 'dockgate.egress', value: 'false', image: 'evil/app:1', why: 'image-unknown', effect: 'restricts' },
      { label: 'dockgate.ports', value: '80', image: 'evil/app:1', why: 'image-unknown', effect: 'ignored' },
    ]);
  });

  it('a container without dockgate labels is served by the defaults, as before', () => {
    const r = read({ 'com.example.team': 'web' }, GONE);
    expect(policyOf(r)).toMatchObject({ declared: false, egress: { kind: 'all' } });
    expect(r.imageLabels).toEqual([]);
  });
});

describe('intersect', () => {
  it.each([
    ['everyone and a network: the network', [v4('0.0.0.0/0'), v6('::/0')], [v4('10.0.0.0/8')], [v4('10.0.0.0/8')]],
    ['nested the other way round', [v4('10.1.0.0/16')], [v4('10.0.0.0/8')], [v4('10.1.0.0/16')]],
    ['disjoint: nothing', [v4('10.0.0.0/8')], [v4('192.168.0.0/16')], []],
    ['one host inside', [v4('192.168.0.0/16')], [v4('192.168.1.7/32')], [v4('192.168.1.7/32')]],
    ['IPv6 nesting', [v6('2001:db8::/32')], [v6('2001:db8:1::/48'), v4('0.0.0.0/0')], [v6('2001:db8:1::/48')]],
    ['families never meet', [v4('0.0.0.0/0')], [v6('::/0')], []],
    ['each pair once', [v4('10.0.0.0/8'), v4('10.0.0.0/8')], [v4('10.0.0.0/8')], [v4('10.0.0.0/8')]],
  ])('%s', (_what, a, b, expected) => {
    expect(intersect(a, b)).toEqual(expected);
    expect(new Set(intersect(b, a).map((c) => c.text))).toEqual(new Set(expected.map((c) => c.text)));
  });
});

describe('describeImageLabels', () => {
  it('one line naming the image and each label with what became of it', () => {
    const r = read({ 'dockgate.ports': '31337:22', 'dockgate.egress': 'false' }, fromImage('dockgate.ports', 'dockgate.egress'));
    const text = describeImageLabels(fromImage(), r.imageLabels);
    expect(text).toContain('image evil/app:1');
    expect(text).toContain('dockgate.ports="31337:22" ignored');
    expect(text).toContain('dockgate.egress="false" only restrict');
    expect(text).toContain('trust_image_labels: true');
  });

  it('an image that cannot be inspected is named with the reason', () => {
    const r = read({ 'dockgate.ports': '80' }, GONE);
    expect(describeImageLabels(GONE, r.imageLabels)).toMatch(/^image evil\/app:1 cannot be inspected \(image 0123456789ab no longer exists\)/);
  });

  it('nothing to say without image labels', () => {
    expect(describeImageLabels(fromImage(), [])).toBeUndefined();
  });

  it('hostile values are quoted, never raw', () => {
    const r = read({ 'dockgate.ports': '80"\n{"level":"fatal"}' }, fromImage('dockgate.ports'));
    expect(describeImageLabels(fromImage(), r.imageLabels)).not.toContain('\n');
  });
});
