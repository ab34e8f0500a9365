// Every relative link in docs/*.md (and README's links into docs/) leads to a file that exists,
// and every #anchor to a heading of that file (GitHub's slugs).
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replaceAll(' ', '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1] ?? '')));
}

function links(file: string): Array<{ target: string; anchor?: string }> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] ?? '')
    .filter((l) => !/^[a-z]+:/.test(l))
    .map((l) => {
      const [path = '', anchor] = l.split('#');
      return { target: path === '' ? file : join(dirname(file), path), ...(anchor === undefined ? {} : { anchor }) };
    });
}

describe('links in the documents', () => {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join(ROOT, 'docs', f));

  it('lead to files and headings that exist', () => {
    const broken: string[] = [];
    const readme = join(ROOT, 'README.md');
    // README's links into docs/ and to its own headings (sections moved to docs/ must not leave dead anchors).
    const readmeIntoDocs = links(readme).filter((l) => relative(ROOT, l.target).startsWith('docs/') || l.target === readme);
    for (const [file, list] of [...docs.map((f) => [f, links(f)] as const), [readme, readmeIntoDocs] as const]) {
      for (const l of list) {
        const where = `${relative(ROOT, file)} -> ${relative(ROOT, l.target)}${l.anchor ? `#${l.anchor}` : ''}`;
        if (!existsSync(l.target)) broken.push(`${where}: no such file`);
        else if (l.anchor && l.target.endsWith('.md') && !anchors(l.target).has(l.anchor)) broken.push(`${where}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the glossary explains the words the documents use', () => {
    const glossary = readFileSync(join(ROOT, 'docs/glossary.md'), 'utf8');
    for (const word of ['opening', 'claim', 'guard', 'shard', 'footprint', 'foreign chain', 'drift', 'hairpin', 'effective', 'mark bit', 'set chain / ordered chain']) {
      expect(glossary, word).toContain(`\n**${word}**\n: `);
    }
  });

  it("README's Development section names the code's own words and points to the glossary", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const development = /\n## Development\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    expect(development).toContain('](docs/glossary.md)');
    for (const word of ['opening', 'claim', 'guard', 'footprint', 'shard', 'set chain', 'ordered chain']) expect(development, word).toContain(`**${word}**`);
  });
});
