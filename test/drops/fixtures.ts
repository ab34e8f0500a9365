// Builders shared by the drop-log tests: one container, the packets ulogd reports for it, who
// holds which id or address, and what a daemon killed by SIGKILL leaves on disk.
import { spawn } from 'node:child_process';
import type { DropContainer, Attribution } from '../../src/drops/recorder.js';
import type { LoggedPacket } from '../../src/drops/ulogd-json.js';
import type { ContainerFacts } from '../../src/model/types.js';

export const WEB: DropContainer = { id: 'abcdef012345', name: 'web' };

/** WEB by its short id and by its address 172.17.0.2; nobody else. */
export const attribution: Attribution = {
  byShortId: (id) => (id === WEB.id ? WEB : undefined),
  byAddress: (ip) => (ip === '172.17.0.2' ? WEB : undefined),
};

/** A TCP attempt from the outside at WEB's unlabelled port 8080 (kernel time 1_000_000 ms unless `at` says). */
export const packet = (over: Partial<LoggedPacket> = {}): LoggedPacket => ({
  at: 1_000_000,
  reason: 'not-labelled',
  shortId: WEB.id,
  family: 4,
  src: '10.0.0.9',
  dst: '10.0.0.5',
  protocol: 'tcp',
  dport: 8080,
  ...over,
});

/** A running container as the daemon's facts hold it, on the default bridge. */
export const facts = (id: string, name: string, ipv4: string, ipv6?: string): ContainerFacts => ({
  id: id.padEnd(64, '0'),
  name,
  labels: {},
  image: { kind: 'inspected', ref: 'x', sameAsImage: [] },
  networks: [{ networkId: 'n', networkName: 'bridge', ipv4, ...(ipv6 !== undefined ? { ipv6 } : {}) }],
  ports: [],
  created: '2026-01-01T00:00:00.000000000Z',
});

/**
 * What a SIGKILLed daemon leaves at `path`: a socket file nobody listens on (a server closed in
 * this process would unlink it). Resolves with the dead process's pid.
 */
export async function deadSocket(path: string): Promise<number> {
  const script = `require('node:net').createServer().listen(process.argv[1], () => console.log('up'))`;
  const child = spawn(process.execPath, ['-e', script, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the listener did not come up in 5 s')), 5_000);
      child.stdout.once('data', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  return child.pid!;
}
