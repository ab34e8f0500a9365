// The drop log end to end (issue 21): a real dockerd, dockgate as a real process with ulogd2
// reading its NFLOG group inside the test's namespace (LOG would be silent there without the
// global nf_log_all_netns, which no test touches), and real packets from the outside namespace.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import type { WireDrop } from '../../src/drops/wire.js';
import { type DaemonProcess, type DockerHost, HOST_IP, OUTSIDE_IP, httpGet, runCli, saveClean, startDockerHost, startReadyDaemon, startWebContainer, stopAll, waitFor } from './harness.js';

const RATE = 5;
const BURST = 10;
let h: DockerHost;
let daemon: DaemonProcess;
let socket: string;
let ulogdPid: number | undefined;

const drops = async (...args: string[]): Promise<WireDrop[]> => {
  const r = await runCli(h, ['drops', '--json', '--socket', socket, ...args]);
  if (r.exitCode !== 0) throw new Error(`dockgate drops exited ${r.exitCode}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as WireDrop);
};

/**
 * An entry passing `pred`: first in the daemon's own `dropped` line within `timeoutMs` (the drop
 * log's latency, not the CLI's: under load a node process takes seconds to start), then in what
 * `dockgate drops --json` answers.
 */
const dropSeen = async (what: string, pred: (d: WireDrop) => boolean, sentAt: number, timeoutMs = 2_000): Promise<WireDrop> => {
  const asWire = (l: Record<string, unknown>): WireDrop => l as unknown as WireDrop;
  try {
    const line = await daemon.waitForLog((l) => l.event === 'dropped' && pred(asWire(l)), timeoutMs);
    // Logged (pino's own time) within the bound of the packet being sent.
    expect(new Date(line.time as string | number).getTime() - sentAt).toBeLessThan(timeoutMs);
  } catch (err) {
    // What the reader said, and what the daemon did hold, for the failure's message.
    const reader = daemon.lines.filter((l) => JSON.stringify(l).includes('drop-log') || JSON.stringify(l).includes('"ulogd"'));
    throw new Error(`${what}: ${(err as Error).message}\nreader: ${JSON.stringify(reader.slice(-10))}\nentries: ${JSON.stringify(await drops().catch((e: Error) => e.message))}`);
  }
  return waitFor(`${what} in dockgate drops`, async () => (await drops()).find(pred), 20_000, 100);
};

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  socket = `${h.tmpDir}/drops.sock`;
  const configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: debug\nsync:\n  debounce_ms: 10\ndrops:\n  rate_per_s: ${RATE}\n  burst: ${BURST}\n  socket: ${socket}\n`);
  daemon = await startReadyDaemon(h, configFile);
  ulogdPid = (await daemon.waitForLog((l) => l.event === 'drop-log-reader', 5_000)).pid as number | undefined;
}, 120_000);

afterAll(async () => {
  // SIGTERM first: the daemon stops ulogd by its pid; then that pid, should the daemon have failed to.
  await daemon?.stop().catch(() => undefined);
  if (ulogdPid !== undefined) {
    try {
      process.kill(ulogdPid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  await stopAll();
});

describe('dockgate drops on a real kernel', () => {
  it('an unlabelled published port shows not-labelled with the container within 2 s', async () => {
    const id = await startWebContainer(h, { name: 'nolabel', ports: [`${HOST_IP}:8101:8000`] });
    await waitFor('nolabel planned', async () => (await saveClean(h.host)).includes('"dockgate:not-labelled:'), 5_000);
    const sentAt = Date.now();
    expect((await httpGet(h.outside, `http://${HOST_IP}:8101/`, 1000)).ok).toBe(false);
    const d = await dropSeen('not-labelled entry', (e) => e.reason === 'not-labelled', sentAt);
    expect(d).toMatchObject({ container: { name: 'nolabel', id: id.slice(0, 12) }, src: OUTSIDE_IP, dst: HOST_IP, dport: 8101, protocol: 'tcp' });
    // The text form: time, name/shortid, reason, source → destination:port/proto, count.
    const text = await runCli(h, ['drops', '--socket', socket, '--container', 'nolabel']);
    expect(text.stdout).toMatch(new RegExp(`^\\S+Z  nolabel/${id.slice(0, 12)}  not-labelled  ${OUTSIDE_IP} → ${HOST_IP}:8101/tcp  x\\d+$`, 'm'));
  });

  it('a source outside dockgate.from shows source-not-allowed', async () => {
    await startWebContainer(h, { name: 'private', ports: [`${HOST_IP}:8102:8000`], labels: { 'dockgate.ports': '8000', 'dockgate.from': '192.168.77.0/24' } });
    await waitFor('private planned', async () => (await saveClean(h.host)).includes('"dockgate:source-not-allowed:'), 5_000);
    const sentAt = Date.now();
    expect((await httpGet(h.outside, `http://${HOST_IP}:8102/`, 1000)).ok).toBe(false);
    const d = await dropSeen('source-not-allowed entry', (e) => e.reason === 'source-not-allowed', sentAt);
    expect(d).toMatchObject({ container: { name: 'private' }, src: OUTSIDE_IP, dport: 8102 });
  });

  it('a container without egress that tries to go out shows egress-denied with the destination', async () => {
    await h.docker(['run', '-d', '--name', 'jail', '-l', 'dockgate.egress=false', h.image, 'sh', '-c', `while true; do echo x | nc -w 1 ${OUTSIDE_IP} 9; sleep 0.3; done`]);
    // Its first packets may leave before dockgate has read its facts (attributed to "host" then).
    const d = await dropSeen('egress-denied entry for jail', (e) => e.reason === 'egress-denied' && e.container !== null, Date.now(), 8_000);
    expect(d).toMatchObject({ container: { name: 'jail' }, dst: OUTSIDE_IP, dport: 9, protocol: 'tcp' });
    expect(d.src).toMatch(/^172\.31\.0\.\d+$/);
    // --since and --container filter on the daemon's side.
    expect((await drops('--container', 'jail')).every((e) => e.container?.name === 'jail')).toBe(true);
    expect(await drops('--since', '0s')).toEqual([]);
    // For README's example: the text form of everything so far.
    console.log((await runCli(h, ['drops', '--socket', socket])).stdout);
    console.log((await runCli(h, ['drops', '--socket', socket, '--json', '--container', 'jail', '--since', '10m'])).stdout);
  });

  it('a container sending from an address it does not own shows spoofed, attributed by its MAC', async () => {
    // NET_ADMIN to swap its address for one it does not own (busybox nc has no -s); anti-spoofing
    // on the bridge port drops what it sends from it, ARP included.
    const id = (
      await h.docker(['run', '-d', '--name', 'forger', '--cap-add', 'NET_ADMIN', h.image, 'sh', '-c', `ip addr flush dev eth0; ip addr add 172.31.0.250/24 dev eth0; ip route add default via 172.31.0.1; while true; do echo x | nc -w 1 ${OUTSIDE_IP} 9; sleep 0.3; done`])
    ).stdout.trim();
    const d = await dropSeen('spoofed entry for forger', (e) => e.reason === 'spoofed' && e.container?.name === 'forger', Date.now(), 10_000).catch(async (err: Error) => {
      const table = (await h.host.exec('nft', ['list', 'table', 'bridge', 'dockgate'], { reject: false })).stdout;
      const logs = (await h.docker(['logs', 'forger'], { reject: false })).stderr;
      throw new Error(`${err.message.slice(0, 300)}\nTABLE ${table}\nLOGS ${logs.slice(0, 500)}\nINSPECT ${(await h.docker(['exec', 'forger', 'ip', 'addr'], { reject: false })).stdout}`);
    });
    expect(d.container?.id).toBe(id.slice(0, 12));
    expect(d.src === '172.31.0.250' || d.protocol === 'other').toBe(true);
  });

  it('a 20k-packet UDP flood yields at most the configured rate of entries', async () => {
    // Straight at container addresses from outside: direct access, dropped in raw, each packet to
    // another port so that nothing folds and only the rate limits count.
    await h.outside.exec('ip', ['route', 'replace', '172.31.0.0/24', 'via', HOST_IP]);
    const before = (await drops()).filter((e) => e.reason === 'direct-access').length;
    const t0 = Date.now();
    const sender = `const s=require('dgram').createSocket('udp4');let i=0;const b=Buffer.from('x');(function go(){for(let k=0;k<500&&i<20000;k++,i++)s.send(b,1024+i,'172.31.0.200');if(i<20000)setImmediate(go);else setTimeout(()=>s.close(),200);})();`;
    const r = await h.outside.exec(process.execPath, ['-e', sender], { timeoutMs: 60_000, reject: false });
    expect(r.exitCode).toBe(0);
    await new Promise((res) => setTimeout(res, 1_500));
    const seconds = (Date.now() - t0) / 1000;
    const flood = (await drops()).filter((e) => e.reason === 'direct-access').length - before;
    const bound = BURST + RATE * Math.ceil(seconds) + 1;
    expect(flood).toBeGreaterThan(0);
    expect(flood).toBeLessThanOrEqual(bound);
    // The kernel did the limiting: its log line let through no more than that, its drop saw them all.
    const raw = (await h.host.exec('iptables-save', ['-c', '-t', 'raw'])).stdout.split('\n');
    const counter = (pred: (l: string) => boolean): number => Number(/^\[(\d+):/.exec(raw.find(pred) ?? '')?.[1] ?? -1);
    const logged = counter((l) => l.includes('-d 172.31.0.0/24') && l.includes('NFLOG'));
    const dropped = counter((l) => l.includes('-d 172.31.0.0/24') && l.endsWith('-j DROP'));
    expect(dropped).toBeGreaterThanOrEqual(19_000);
    expect(logged).toBeLessThanOrEqual(bound);
    // The log lines read back from iptables-save exactly as planned (both families): no repair, ever.
    expect(daemon.lines.filter((l) => typeof l === 'object' && l !== null && (l as { event?: string }).event === 'drift-repaired')).toEqual([]);
    console.log(`flood: ${dropped} dropped in raw, ${logged} logged by the kernel, ${flood} entries in ${seconds.toFixed(1)} s (bound ${bound})`);
  }, 90_000);
});
