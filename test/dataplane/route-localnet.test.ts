// route_localnet on a real kernel, inside a network namespace this test makes: the daemon turns it
// on for the one bridge a 127.0.0.1 dnat port leads into and back off once that port is gone;
// flush turns it off on Docker's bridges. The work runs in route-localnet.child.ts, started inside
// the namespace: the machine's own sysctls are never read or written.
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, sbinPath } from '../support/netns.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./route-localnet.child.ts', import.meta.url));

let ns: Netns;

async function child(scenario: string): Promise<{ result: Record<string, unknown>; logs: Array<Record<string, unknown>> }> {
  const r = await execa('nsenter', [`--net=${ns.path}`, process.execPath, '--import', 'tsx', CHILD, scenario], {
    cwd: REPO,
    reject: false,
    timeout: 45_000,
    killSignal: 'SIGKILL',
    env: { PATH: sbinPath() },
    input: '',
  });
  if (r.exitCode !== 0) throw new Error(`child ${scenario} failed (exit ${r.exitCode}, timedOut ${r.timedOut}):\n${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { result: lines.at(-1)!, logs: lines.slice(0, -1) };
}

const sysctl = async (key: string, value?: string): Promise<string> =>
  value === undefined
    ? (await ns.exec('cat', [`/proc/sys/${key.replaceAll('.', '/')}`])).stdout.trim()
    : (await ns.exec('sysctl', ['-qw', `${key}=${value}`])).stdout;

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('rl');
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('route_localnet', () => {
  it('the daemon turns it on for the bridge of a 127.0.0.1 dnat target only, and off once the port is gone', async () => {
    for (const br of ['dgbr1', 'dgbr2']) await ns.exec('ip', ['link', 'add', br, 'type', 'bridge']);
    // As Docker with userland-proxy off leaves a bridge, before dockgate took over.
    await sysctl('net.ipv4.conf.dgbr2.route_localnet', '1');
    expect(await sysctl('net.ipv4.conf.dgbr1.route_localnet')).toBe('0');

    const { result, logs } = await child('daemon');
    expect(result).toEqual({ running: { dgbr1: '1', dgbr2: '0' }, stopped: { dgbr1: '0', dgbr2: '0' } });
    expect(await sysctl('net.ipv4.conf.dgbr1.route_localnet')).toBe('0');
    expect(await sysctl('net.ipv4.conf.all.route_localnet')).toBe('0');
    const changes = logs.filter((l) => l.event === 'sysctl' && l.setting === 'route_localnet').map((l) => [l.value, l.interfaces]);
    expect(changes).toEqual([
      ['1', ['dgbr1']],
      ['0', ['dgbr2']],
      ['0', ['dgbr1']],
    ]);
  });

  it("flush turns it off where it is 1 on Docker's bridges, and leaves other interfaces alone", async () => {
    for (const br of ['docker0', 'br-0123456789ab', 'dgother0']) {
      await ns.exec('ip', ['link', 'add', br, 'type', 'bridge']);
      await sysctl(`net.ipv4.conf.${br}.route_localnet`, '1');
    }
    const { result } = await child('flush');
    expect(result.after).toEqual({ docker0: '0', 'br-0123456789ab': '0', dgother0: '1' });
    expect((result.lines as string[]).join('\n')).toMatch(/route_localnet=0 on br-0123456789ab, docker0/);
  });
});
