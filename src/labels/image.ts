// Which of a container's labels count. Docker merges an image's LABELs into the container's, so
// `docker run img` of an image carrying `dockgate.ports` would open a port nobody on this host
// asked for. Only labels set on the container count; one whose value equals the image's own (or
// any, when the image cannot be inspected) may be the image's, and such a label can only take
// away: it never opens a port, switches to dnat, widens `from` or turns egress on, but an
// `egress=false`, an egress list or a `from` still narrows, so an image carrying the admin's own restriction
// cannot cancel it. Pure.
import type { Cidr, ContainerFacts, ContainerPolicy, EgressPolicy, ImageLabel, PolicyResult } from '../model/types.js';
import { egressEntryKey } from './egress.js';
import { parseNet, relation } from '../net/address.js';
import { type LabelOptions, parseLabels } from './parse.js';
import { cutValue, quote } from './text.js';

export interface ReadOptions extends LabelOptions {
  /** trust_image_labels: take every label as the admin's, as Docker reports them. */
  trustImageLabels: boolean;
}

/** The policy from the labels that count, and the labels that may be the image's. */
export type LabelReading = PolicyResult & { imageLabels: ImageLabel[] };

/** What one label that may be the image's takes away; undefined fields take nothing. */
interface Restriction {
  from?: Cidr[];
  /** `none`, or an allow-list: never more than the admin's own egress (see narrowEgress). */
  egress?: Exclude<EgressPolicy, { kind: 'all' }>;
  mode?: 'proxy';
}

/** The policy for a container's labels, those that may be its image's reduced to restrictions. */
export function readLabels(facts: Pick<ContainerFacts, 'labels' | 'image'>, options: ReadOptions): LabelReading {
  const { labels, image } = facts;
  if (options.trustImageLabels) return { ...parseLabels(labels, options), imageLabels: [] };
  const ours = (k: string): boolean => k === options.prefix || k.startsWith(`${options.prefix}.`);
  const same = new Set(image.kind === 'inspected' ? image.sameAsImage : []);
  const suspect = (k: string): boolean => ours(k) && (image.kind === 'unknown' || same.has(k));

  const own: Record<string, string> = {};
  const theirs: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (suspect(k)) theirs.push(k);
    else own[k] = v;
  }
  const result = parseLabels(own, options);
  if (theirs.length === 0) return { ...result, imageLabels: [] };

  const why = image.kind === 'unknown' ? 'image-unknown' : 'same-value';
  const imageLabels: ImageLabel[] = [];
  const restrictions: Restriction[] = [];
  for (const key of theirs.sort()) {
    const value = labels[key] ?? '';
    // Read on its own: a bad value there is the image's problem, never this container's error.
    const alone = parseLabels({ [key]: value }, options);
    const r = alone.ok ? restrictionOf(key.slice(options.prefix.length + 1), alone.policy) : undefined;
    if (r) restrictions.push(r);
    imageLabels.push({ label: key, value: cutValue(value), image: image.ref, why, effect: r ? 'restricts' : 'ignored' });
  }
  if (!result.ok) return { ...result, imageLabels };
  return { ok: true, policy: restricted(result.policy, restrictions), imageLabels };
}

function restrictionOf(name: string, p: ContainerPolicy): Restriction | undefined {
  if (name === 'from') return { from: p.from };
  if (name === 'egress' && p.egress.kind !== 'all') return { egress: p.egress };
  if (name === 'mode' && p.mode === 'proxy') return { mode: 'proxy' };
  return undefined;
}

function restricted(policy: ContainerPolicy, restrictions: readonly Restriction[]): ContainerPolicy {
  let { from, egress, mode } = policy;
  for (const r of restrictions) {
    if (r.from) from = intersect(from, r.from);
    if (r.egress) egress = narrowEgress(egress, r.egress);
    if (r.mode) mode = r.mode;
  }
  return { ...policy, from, egress, mode };
}

/**
 * Egress allowed by both policies. Two lists keep only the entries they share word for word: a
 * name and the addresses it resolves to cannot be compared here, and a narrower answer is safe.
 */
export function narrowEgress(a: EgressPolicy, b: EgressPolicy): EgressPolicy {
  if (a.kind === 'none' || b.kind === 'none') return { kind: 'none' };
  if (a.kind === 'all') return b;
  if (b.kind === 'all') return a;
  const keys = new Set(b.entries.map(egressEntryKey));
  return { kind: 'list', entries: a.entries.filter((e) => keys.has(egressEntryKey(e))) };
}

/**
 * The sources in both lists. Two CIDRs either nest or are disjoint, so the intersection is the
 * smaller of each nesting pair; a family left without sources opens nothing over it.
 */
export function intersect(a: readonly Cidr[], b: readonly Cidr[]): Cidr[] {
  const out: Cidr[] = [];
  for (const x of a) {
    for (const y of b) {
      if (x.family !== y.family) continue;
      // Canonical CIDRs, as parseCidr writes them: always a network.
      const rx = parseNet(x.text)!;
      const ry = parseNet(y.text)!;
      const inner = relation(ry, rx) === 'yes' ? x : relation(rx, ry) === 'yes' ? y : undefined;
      if (inner && !out.some((c) => c.text === inner.text)) out.push({ ...inner });
    }
  }
  return out;
}

/**
 * The one warning for a container's image labels, naming the image and each label with what
 * became of it; undefined when there are none.
 */
export function describeImageLabels(image: ContainerFacts['image'], labels: readonly ImageLabel[]): string | undefined {
  if (labels.length === 0) return undefined;
  const list = (effect: ImageLabel['effect']): string =>
    labels
      .filter((l) => l.effect === effect)
      .map((l) => `${l.label}=${quote(l.value)}`)
      .join(', ');
  const ignored = list('ignored');
  const restricts = list('restricts');
  const what = [ignored && `${ignored} ignored`, restricts && `${restricts} only restrict`].filter((s) => s !== '').join('; ');
  if (image.kind === 'unknown') {
    return `image ${image.ref} cannot be inspected (${image.reason}), so its labels may be the image's, not yours: ${what} (recreate the container from an image Docker has, or trust_image_labels: true takes every label as yours)`;
  }
  return `labels equal to those of image ${image.ref} may be the image's, not yours: ${what} (a label you set counts when its value differs from the image's; trust_image_labels: true takes image labels as yours)`;
}
