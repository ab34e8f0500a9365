// The systemd proof as part of `npm test`: scripts/systemd-proof/run.sh builds the Debian package
// (`npm run package`), boots a Debian 12 image with systemd as PID 1 on a private dockerd inside a
// network namespace, installs the .deb there, runs `dockgate install` and every check of the
// proof against the packaged unit, then removes and purges the package. A systemd-managed daemon
// is proven under systemd on every change.
//
// The debootstrap base is cached in /var/cache/dockgate-test: on a fresh machine the first run
// builds it (2-5 min), later runs take about 3 min. DOCKGATE_SYSTEMD_PROOF=0 skips this file
// (for quick local runs; CI never sets it).
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PROOF_TIMEOUT_MS = 20 * 60_000;

describe.skipIf(process.env.DOCKGATE_SYSTEMD_PROOF === '0')('systemd proof, from the Debian package', () => {
  it(
    'installs dockgate_*.deb under systemd as PID 1 and passes every check, purge included',
    async () => {
      const r = await execa('bash', ['scripts/systemd-proof/run.sh'], {
        cwd: REPO,
        reject: false,
        all: true,
        stdin: 'ignore',
        timeout: PROOF_TIMEOUT_MS,
        // SIGTERM first: the script's trap stops its dockerd, containerd and namespace by pid.
        forceKillAfterDelay: 120_000,
      });
      const lines = (r.all ?? '').split('\n');
      const checks = lines.filter((l) => /^(PASS|FAIL) {2}/.test(l));
      const summary = lines.find((l) => l.startsWith('systemd proof (package):')) ?? '';
      const report = [
        `exit ${r.exitCode ?? r.signal}${r.timedOut ? ' (timed out)' : ''}; full log: /var/cache/dockgate-test/systemd-proof.log`,
        ...checks,
        ...lines.filter((l) => l.includes('ERROR')),
        summary,
      ].join('\n');
      // Timings into the test output (without the pass/fail counts: vitest's own line is the verdict).
      console.log(`systemd proof timings: ${summary.split('; ').slice(1).join('; ')}`);

      expect(checks.filter((l) => l.startsWith('FAIL')), report).toEqual([]);
      expect(r.exitCode, report).toBe(0);
      expect(lines, report).toContainEqual(expect.stringMatching(/^\d+ passed, 0 failed$/));
      // The package's own steps and the failing reload are among the checks.
      for (const want of [
        /^PASS {2}apt-get install \.\/dockgate_.+_all\.deb/,
        /^PASS {2}postinst: the package's unit is known, neither enabled nor started/,
        /^PASS {2}installing the package did not restart Docker/,
        /^PASS {2}installing the package did not write \/etc\/docker\/daemon\.json/,
        /^PASS {2}after dockgate install the unit in force is still the package's/,
        /^PASS {2}systemctl is-active dockgate = active/,
        /^PASS {2}boot: labelled reachable/,
        /^PASS {2}systemctl reload dockgate \(bad config\) fails: exit [1-9]/,
        /^PASS {2}bad reload: old config in force: dnat reachable/,
        /^PASS {2}remove: prerm stopped the running dockgate/,
        /^PASS {2}remove: prerm's dockgate flush left no DOCKGATE-\* chain or jump/,
        /^PASS {2}purge: \/etc\/dockgate is gone/,
        /^PASS {2}purge: none of the package's \d+ paths is left/,
      ]) {
        expect(checks.some((l) => want.test(l)), `no check matching ${want}\n${report}`).toBe(true);
      }
    },
    PROOF_TIMEOUT_MS + 180_000,
  );
});
