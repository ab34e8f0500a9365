// docs/operations.md promises "every value of `event` that dockgate writes". This keeps the
// promise: every event the code emits (found by reading src/) has a row in the table, and every
// row names an event the code still emits.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const SRC = join(ROOT, 'src');

function sources(dir: string): Array<{ path: string; text: string }> {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') ? [{ path, text: readFileSync(path, 'utf8') }] : [];
  });
}

/** The events src/ emits: `event: 'name'` literals, and the supervised children's `${name}-suffix`. */
function emittedEvents(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const add = (event: string, where: string): void => {
    found.set(event, [...(found.get(event) ?? []), where]);
  };
  const files = sources(SRC);
  const suffixes: string[] = [];
  for (const { path, text } of files) {
    for (const m of text.matchAll(/\bevent:\s*(['"])([^'"]+)\1/g)) add(m[2] ?? '', path);
    // A template event: only the supervised-process pattern `${this.#o.name}-SUFFIX` is known.
    for (const m of text.matchAll(/\bevent:\s*`([^`]*)`/g)) {
      const t = m[1] ?? '';
      const s = /^\$\{this\.#o\.name\}-([a-z-]+)$/.exec(t);
      if (!s) throw new Error(`${path}: an event name built as \`${t}\`: teach this test how to expand it`);
      suffixes.push(s[1] ?? '');
    }
  }
  // Names of the supervised children: `name: '...'` in the files that start one.
  for (const { path, text } of files) {
    if (!/\bSupervised[A-Za-z]*\(/.test(text) || path.endsWith('supervised.ts')) continue;
    for (const m of text.matchAll(/\bname:\s*'([a-z-]+)'/g)) for (const s of suffixes) add(`${m[1]}-${s}`, path);
  }
  return found;
}

/** The first column of the table under "## Every log event" in docs/operations.md. */
function documentedEvents(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const start = text.indexOf('\n## Every log event');
  expect(start, 'docs/operations.md has a "## Every log event" section').toBeGreaterThan(0);
  const section = text.slice(start + 1).split(/\n## /)[0] ?? '';
  const rows = new Map<string, string>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| ([a-z/]+) \|/.exec(line);
    if (!m) continue;
    expect(rows.has(m[1] ?? ''), `${m[1]} has two rows`).toBe(false);
    rows.set(m[1] ?? '', m[2] ?? '');
  }
  return rows;
}

describe('docs/operations.md: the log-event table', () => {
  const emitted = emittedEvents();
  const documented = documentedEvents();

  it('finds the events (the search itself works)', () => {
    expect(emitted.size).toBeGreaterThan(30);
    expect(emitted.has('label-error')).toBe(true);
    expect(emitted.has('nft-monitor-exited')).toBe(true);
  });

  it('documents every event the code emits', () => {
    const missing = [...emitted].filter(([e]) => !documented.has(e)).map(([e, where]) => `${e} (${where.map((p) => p.slice(ROOT.length)).join(', ')})`);
    expect(missing, 'events emitted by src/ without a row in docs/operations.md').toEqual([]);
  });

  it('documents no event the code does not emit', () => {
    const stale = [...documented.keys()].filter((e) => !emitted.has(e));
    expect(stale, 'rows in docs/operations.md for events src/ no longer emits').toEqual([]);
  });

  it('gives each event a level', () => {
    for (const [event, level] of documented) {
      for (const l of level.split('/')) expect(['debug', 'info', 'warn', 'error'], `${event}: level ${level}`).toContain(l);
    }
  });
});
