// Container labels → ContainerPolicy. Pure: parsed once, here, strictly. Any label under the
// prefix that is unknown or outside the grammar is an error, and all errors are reported at
// once so an admin can fix a container in one go.
import type { Cidr, EgressPolicy, LabelError, Mode, PolicyDefaults, PolicyResult, PortSpec } from '../model/types.js';
import { parseCidr } from '../net/address.js';
import { parseEgressPolicy } from './egress.js';
import { parsePortEntry, portCount, portSpecKey } from './ports.js';
import { badCharacter, cutValue, quote, splitList, trimSpaces } from './text.js';
import type { Result } from '../model/result.js';

export interface LabelOptions {
  prefix: string;
  defaults: PolicyDefaults;
}

export const MAX_LABEL_BYTES = 1024;
export const MAX_PORTS_PER_CONTAINER = 1024; // sum of expanded port-range sizes

const KNOWN = ['ports', 'from', 'mode', 'egress'] as const;
type Known = (typeof KNOWN)[number];

function isKnown(name: string): name is Known {
  return (KNOWN as readonly string[]).includes(name);
}

function parsePorts(value: string): Result<PortSpec[], string[]> {
  if (trimSpaces(value) === '') return { ok: false, error: ['empty; list container ports, e.g. 80,443/tcp,53/udp'] };
  const reasons: string[] = [];
  const ports: PortSpec[] = [];
  const seen = new Set<string>();
  for (const token of splitList(trimSpaces(value))) {
    const r = parsePortEntry(token);
    if (!r.ok) {
      reasons.push(r.error);
      continue;
    }
    const key = portSpecKey(r.value);
    if (seen.has(key)) continue;
    seen.add(key);
    ports.push(r.value);
  }
  const total = ports.reduce((sum, p) => sum + portCount(p), 0);
  if (total > MAX_PORTS_PER_CONTAINER) {
    reasons.push(`declares ${total} ports; at most ${MAX_PORTS_PER_CONTAINER} allowed per container (a range counts every port it spans)`);
  }
  return reasons.length > 0 ? { ok: false, error: reasons } : { ok: true, value: ports };
}

function parseFrom(value: string): Result<Cidr[], string[]> {
  if (trimSpaces(value) === '') return { ok: false, error: ['empty; list source addresses or CIDRs, e.g. 10.0.0.0/8,2001:db8::/32'] };
  const reasons: string[] = [];
  const from: Cidr[] = [];
  const seen = new Set<string>();
  for (const token of splitList(trimSpaces(value))) {
    if (token === '') {
      reasons.push('empty entry (two commas in a row, or a comma at the start or end)');
      continue;
    }
    const bad = badCharacter(token);
    if (bad !== undefined) {
      reasons.push(`entry ${quote(token)} ${bad}`);
      continue;
    }
    const r = parseCidr(token);
    if (!r.ok) {
      reasons.push(r.error);
      continue;
    }
    if (seen.has(r.value.text)) continue;
    seen.add(r.value.text);
    from.push(r.value);
  }
  return reasons.length > 0 ? { ok: false, error: reasons } : { ok: true, value: from };
}

function parseMode(value: string): Result<Mode, string[]> {
  const v = trimSpaces(value);
  if (v === 'proxy' || v === 'dnat') return { ok: true, value: v };
  if (v === '') return { ok: false, error: ['empty; use proxy or dnat'] };
  return { ok: false, error: [`${quote(v)} is not a mode; use proxy or dnat`] };
}

/**
 * Parses the labels under `prefix` (keys equal to it or starting with `prefix.`); all others
 * are ignored. Absent labels take `defaults`; policy.declared says whether `prefix.ports` is set.
 */
export function parseLabels(labels: Record<string, string>, options: LabelOptions): PolicyResult {
  const { prefix, defaults } = options;
  const errors: LabelError[] = [];
  let ports: PortSpec[] | undefined;
  let from: Cidr[] | undefined;
  let mode: Mode | undefined;
  let egress: EgressPolicy | undefined;
  let declared = false;

  // Sorted so that errors come out in the same order whatever order Docker listed the labels.
  const keys = Object.keys(labels)
    .filter((k) => k === prefix || k.startsWith(`${prefix}.`))
    .sort();
  for (const key of keys) {
    const raw: unknown = labels[key];
    const value = typeof raw === 'string' ? raw : '';
    const report = (reason: string): void => {
      errors.push({ label: key, value: cutValue(value), reason });
    };
    const name = key === prefix ? '' : key.slice(prefix.length + 1);
    if (!isKnown(name)) {
      report(`unknown label; known labels are ${KNOWN.map((k) => `${prefix}.${k}`).join(', ')}`);
      continue;
    }
    if (name === 'ports') declared = true;
    if (typeof raw !== 'string') {
      report('value is not a string');
      continue;
    }
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_LABEL_BYTES) {
      report(`value is ${bytes} bytes; at most ${MAX_LABEL_BYTES} allowed`);
      continue;
    }
    switch (name) {
      case 'ports': {
        const r = parsePorts(value);
        if (r.ok) ports = r.value;
        else r.error.forEach(report);
        break;
      }
      case 'from': {
        const r = parseFrom(value);
        if (r.ok) from = r.value;
        else r.error.forEach(report);
        break;
      }
      case 'mode': {
        const r = parseMode(value);
        if (r.ok) mode = r.value;
        else r.error.forEach(report);
        break;
      }
      case 'egress': {
        const r = parseEgressPolicy(value);
        if (r.ok) egress = r.value;
        else r.error.forEach(report);
        break;
      }
    }
  }

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    policy: {
      ports: ports ?? [],
      from: from ?? defaults.from.map((c) => ({ ...c })),
      mode: mode ?? defaults.mode,
      egress: egress ?? defaults.egress,
      declared,
    },
  };
}
