// examples/compose.yaml is meant to be copied: it must parse as YAML, and every dockgate label in
// it must pass the project's own label parser (what the daemon would apply).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultConfig } from '../../src/config/load.js';
import { parseLabels } from '../../src/labels/parse.js';

const FILE = new URL('../../examples/compose.yaml', import.meta.url);

interface Service {
  image?: unknown;
  ports?: unknown;
  labels?: unknown;
}

function services(): Record<string, Service> {
  const doc = parse(readFileSync(FILE, 'utf8')) as { services?: Record<string, Service> };
  expect(doc.services).toBeTypeOf('object');
  return doc.services ?? {};
}

/** compose allows labels as a map or as a list of KEY=VALUE strings. */
function labelsOf(s: Service): Record<string, string> {
  if (s.labels === undefined) return {};
  if (Array.isArray(s.labels)) {
    return Object.fromEntries(
      s.labels.map((l: unknown) => {
        const text = String(l);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels as Record<string, unknown>)) {
    // compose refuses non-string label values: so does this test (quote "false", "80").
    expect(typeof v, `label ${k} must be a quoted string`).toBe('string');
    out[k] = v as string;
  }
  return out;
}

describe('examples/compose.yaml', () => {
  const config = defaultConfig();
  const opts = { prefix: config.labelPrefix, defaults: config.defaults };

  it('parses, and every dockgate label parses with the project parser', () => {
    const all = services();
    expect(Object.keys(all).length).toBeGreaterThan(0);
    for (const [name, s] of Object.entries(all)) {
      const r = parseLabels(labelsOf(s), opts);
      expect(r.ok ? [] : r.errors, `service ${name}`).toEqual([]);
    }
  });

  it('publishes the web service with a dockgate.ports label, and leaves the database unpublished without egress', () => {
    const { web, db } = services();
    expect(web?.ports).toBeInstanceOf(Array);
    const w = parseLabels(labelsOf(web ?? {}), opts);
    expect(w.ok && w.policy.declared).toBe(true);
    expect(db?.ports).toBeUndefined();
    const d = parseLabels(labelsOf(db ?? {}), opts);
    if (!d.ok) throw new Error(JSON.stringify(d.errors));
    expect(d.policy.declared).toBe(false);
    expect(d.policy.ports).toEqual([]);
    expect(labelsOf(db ?? {})['dockgate.egress']).toBe('false');
  });
});
