// `dockgate flush` while `dockgate run` works in the same network namespace would be undone at the
// daemon's next check, so flush refuses unless --force. The daemon is found by the abstract unix
// socket it holds: abstract names belong to a network namespace, so the daemons other tests run in
// their namespaces are never seen here, and each test below uses a name of its own. The CLI runs
// in a namespace of its own (flush --force really flushes that namespace). Needs root and
// `npm run build` for the CLI part.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAEMON_PRESENCE, announce, findDaemon } from '../../src/daemon/presence.js';
import { CLI, eventWithin, exitWithin, startCli } from '../support/cli-daemon.js';
import { type FakeDockerApi, startFakeDockerApi } from '../support/fake-docker-api.js';
import { type Netns, createNetns, destroyNetns } from '../support/netns.js';

const ROOT = process.getuid?.() === 0;
let n = 0;
const uniqueName = () => `dockgate-test/${process.pid}/${++n}`;

describe('the running daemon is found by its presence socket', () => {
  it('nothing holds it: no daemon', async () => {
    expect(await findDaemon(uniqueName())).toBeUndefined();
  });

  it('held: the holder and its pid; closed: gone at once', async () => {
    const name = uniqueName();
    const held = await announce(name);
    if (held.kind !== 'held') throw new Error(`expected to hold ${name}`);
    expect(await findDaemon(name)).toEqual({ pid: process.pid });
    await held.close();
    expect(await findDaemon(name)).toBeUndefined();
  });

  it('a second daemon in the same namespace is told who holds it', async () => {
    const name = uniqueName();
    const first = await announce(name);
    try {
      expect(await announce(name)).toEqual({ kind: 'taken', by: { pid: process.pid } });
    } finally {
      if (first.kind === 'held') await first.close();
    }
  });

  it('an abstract name, not a file: nothing to go stale after a crash', () => {
    expect(DAEMON_PRESENCE.startsWith('/')).toBe(false);
  });
});

describe.skipIf(!ROOT)('dockgate flush with the daemon running (CLI, in a namespace)', () => {
  let dir: string;
  let ns: Netns;
  let docker: FakeDockerApi;
  let configFile: string;

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
    dir = await mkdtemp(join(tmpdir(), 'dockgate-flush-running-'));
    const socket = join(dir, 'docker.sock');
    docker = await startFakeDockerApi(socket);
    configFile = join(dir, 'config.yaml');
    await writeFile(configFile, `external_interfaces: []\ndocker:\n  host: "unix://${socket}"\n`);
    ns = await createNetns('flushrun');
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
    await docker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const flush = async (...extra: string[]) => {
    const r = startCli(ns.path, ['flush', '--config', configFile, ...extra]);
    const code = await exitWithin(r, 60_000);
    return { code, stdout: r.stdout(), stderr: r.stderr() };
  };

  it('refuses while the daemon runs, saying why and how to stop it; --force flushes anyway; once it stops, flush works', async () => {
    const daemon = startCli(ns.path, ['run', '--config', configFile]);
    try {
      expect(await eventWithin(daemon, 'ready', 30_000), daemon.stdout() + daemon.stderr()).toBeDefined();
      expect((await ns.exec('iptables-save', [])).stdout).toContain('DOCKGATE-INPUT');

      const refused = await flush();
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(`dockgate run (pid ${daemon.child.pid}) is running in this network namespace`);
      expect(refused.stderr).toContain('would put every rule back');
      expect(refused.stderr).toContain('systemctl stop dockgate');
      expect(refused.stderr).toContain('--force');
      // nothing was removed
      expect((await ns.exec('iptables-save', [])).stdout).toContain('DOCKGATE-INPUT');

      const forced = await flush('--force');
      expect(forced.code).toBe(0);
      expect(forced.stderr).toContain(`--force while dockgate run (pid ${daemon.child.pid}) is running: the daemon will put its rules back at its next check`);
      expect(forced.stdout).toContain('removed dockgate chains and jumps');
    } finally {
      daemon.child.kill('SIGTERM');
      expect(await exitWithin(daemon, 10_000)).toBe(0);
    }
    // stopped: the rules it wrote back stay (SIGTERM leaves them), and flush goes ahead
    const after = await flush();
    expect(after.code, after.stderr).toBe(0);
    expect((await ns.exec('iptables-save', [])).stdout).not.toContain('DOCKGATE-INPUT');
  });
});
