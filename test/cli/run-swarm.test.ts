// `dockgate run` on a swarm node: the built CLI, in a network namespace of its own (it would
// write the namespace's firewall if it did not refuse), against a scripted Docker API on a unix
// socket that says what swarm state it is in. Needs root and `npm run build`.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, eventWithin, exitWithin, startCli } from '../support/cli-daemon.js';
import { type FakeDockerApi, startFakeDockerApi } from '../support/fake-docker-api.js';
import { type Netns, createNetns, destroyNetns } from '../support/netns.js';

const ROOT = process.getuid?.() === 0;

let dir: string;
let ns: Netns;
let docker: FakeDockerApi;
let configFile: string;

describe.skipIf(!ROOT)('dockgate run on a swarm node', () => {
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} missing: run \`npm run build\` first`);
    dir = await mkdtemp(join(tmpdir(), 'dockgate-run-swarm-'));
    const socket = join(dir, 'docker.sock');
    docker = await startFakeDockerApi(socket);
    configFile = join(dir, 'config.yaml');
    await writeFile(configFile, `external_interfaces: []\ndocker:\n  host: "unix://${socket}"\n`);
    ns = await createNetns('swarm');
  });

  afterAll(async () => {
    if (ns) await destroyNetns(ns);
    await docker?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses: exit 2, a message naming swarm, and no rule written', async () => {
    docker.swarm = 'active';
    const r = startCli(ns.path, ['run', '--config', configFile]);
    expect(await exitWithin(r, 30_000)).toBe(2);
    expect(r.stderr()).toMatch(/^dockgate: this Docker node is in a swarm \(Swarm\.LocalNodeState active\): swarm needs Docker's own iptables rules/);
    expect(r.events().find((l) => l.event === 'swarm')).toMatchObject({ level: 'error', state: 'active', refused: true });
    expect(r.events().some((l) => l.event === 'ready')).toBe(false);
    const saved = await ns.exec('iptables-save', []);
    expect(saved.stdout).not.toContain('DOCKGATE');
  });

  it('not in a swarm: starts as usual (ready), and SIGTERM ends it', async () => {
    docker.swarm = 'inactive';
    const r = startCli(ns.path, ['run', '--config', configFile]);
    expect(await eventWithin(r, 'ready', 30_000), r.stdout() + r.stderr()).toBeDefined();
    r.child.kill('SIGTERM');
    expect(await exitWithin(r, 10_000)).toBe(0);
  });
});
