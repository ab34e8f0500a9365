// The daemon follows egress.resolv_conf: a replaced file (rename, as resolvconf does) re-plans
// the resolver accepts of allow-listed containers at once, with no Docker event and long before
// the next drift check, and says so in the log.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeDocker } from '../support/fake-docker.js';
import { container } from '../plan/fixtures.js';
import { startTestDaemon, stopTestDaemons, testConfig } from '../support/test-daemon.js';
import { until } from '../support/poll.js';

let dir: string | undefined;
afterEach(async () => {
  await stopTestDaemons();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('resolv.conf followed by the daemon', () => {
  it('a replaced resolv.conf re-plans the resolver accepts within a second, and logs resolv-conf-changed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'dgt-resolv-'));
    const path = join(dir, 'resolv.conf');
    writeFileSync(path, 'nameserver 192.0.2.53\n');
    // No drift check, no full check for a minute: only the watch can bring the change.
    const config = testConfig({ driftCheckMs: 60_000, fullCheckMs: 60_000 });
    config.egress = { ...config.egress, resolvConf: path };
    const docker = new FakeDocker();
    const listed = container('listed', { ip: '172.17.0.2', labels: { 'dockgate.egress': '10.9.0.0/16' } });
    docker.start(listed);
    const { daemon, ipt, lines } = startTestDaemon(docker, config);
    await daemon.ready;
    const resolverLines = () => ipt.text().split('\n').filter((l) => l.includes('egress to resolver') && l.includes('--dport 53'));
    await until(() => resolverLines().some((l) => l.includes('-d 192.0.2.53/32')), { what: 'the first resolver accepts' });
    writeFileSync(join(dir, 'resolv.conf.tmp'), 'nameserver 192.0.2.54\n');
    renameSync(join(dir, 'resolv.conf.tmp'), path);
    await until(() => resolverLines().some((l) => l.includes('-d 192.0.2.54/32')), { what: 'the new resolver accepts', timeoutMs: 1_500 });
    expect(resolverLines().some((l) => l.includes('192.0.2.53'))).toBe(false);
    expect(lines.find((l) => l.event === 'resolv-conf-changed')).toMatchObject({ path, servers: ['192.0.2.54'], before: ['192.0.2.53'] });
  });
});
