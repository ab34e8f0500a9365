// The documentation part of the Debian package, without building the package: build.sh calls
// scripts/package/docs.sh, which this runs into a temporary root and checks file by file.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
const EPOCH = '1780000000'; // 2026-05-28

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('scripts/package/docs.sh (the .deb documentation)', () => {
  const pkg = mkdtempSync(join(tmpdir(), 'dockgate-docs-'));
  afterAll(() => rmSync(pkg, { recursive: true, force: true }));
  execFileSync('bash', [join(ROOT, 'scripts/package/docs.sh'), pkg, '9.8.7', EPOCH, 'Test <test@example.org>'], { stdio: 'pipe' });
  const staged = files(pkg).map((f) => relative(pkg, f)).sort();

  it('stages the manual page, README, every docs/*.md, both changelogs and the copyright', () => {
    const docs = readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `usr/share/doc/dockgate/docs/${f}`);
    expect(docs.length).toBeGreaterThan(5);
    expect(staged).toEqual(
      [
        'usr/share/man/man8/dockgate.8.gz',
        'usr/share/doc/dockgate/copyright',
        'usr/share/doc/dockgate/changelog.gz',
        'usr/share/doc/dockgate/README.md',
        'usr/share/doc/dockgate/CHANGELOG.md',
        ...docs,
      ].sort(),
    );
  });

  it('dates and versions the manual page, with its EXIT STATUS filled in', () => {
    const man = gunzipSync(readFileSync(join(pkg, 'usr/share/man/man8/dockgate.8.gz'))).toString('utf8');
    expect(man.split('\n')).toContain('.TH DOCKGATE 8 "2026-05-28" "dockgate 9.8.7" "System Administration"');
    expect(man).toMatch(/\.SS dockgate run\n\.TP 4\n\.B 0\n/);
  });

  it("writes changelog.gz in Debian's format and the copyright with the year", () => {
    const log = gunzipSync(readFileSync(join(pkg, 'usr/share/doc/dockgate/changelog.gz'))).toString('utf8');
    expect(log).toMatch(/^dockgate \(9\.8\.7\) unstable; urgency=medium\n\n {2}\* /);
    expect(log).toMatch(/\n -- Test <test@example.org> {2}Thu, 28 May 2026 \d\d:\d\d:\d\d \+0000\n$/);
    if (spawnSync('dpkg-parsechangelog', ['--help']).status === 0) {
      const parsed = execFileSync('dpkg-parsechangelog', ['-l-', '-SVersion'], { input: log, encoding: 'utf8' });
      expect(parsed.trim()).toBe('9.8.7');
    }
    expect(readFileSync(join(pkg, 'usr/share/doc/dockgate/copyright'), 'utf8')).toContain('Copyright: 2026 ');
  });

  it('is what build.sh runs', () => {
    const build = readFileSync(join(ROOT, 'scripts/package/build.sh'), 'utf8');
    expect(build).toContain('bash "$HERE/docs.sh" "$PKG" "$VERSION" "$SOURCE_DATE_EPOCH" "$MAINTAINER"');
  });
});
