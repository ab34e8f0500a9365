// Labels baked into an image are not the admin's word (issue 18, item 2). Docker copies an image's
// LABELs into every container made from it, so `docker run img` of an image carrying
// `dockgate.ports` / `dockgate.mode=dnat` must not open or claim anything; the same labels given
// with `docker run --label` do, and `trust_image_labels: true` takes the image's labels as before.
// Proved with real connections from the outside namespace against a real dockerd.
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import { type DaemonProcess, type DockerHost, HOST_IP, httpGet, runCli, startDockerHost, startReadyDaemon, stopAll, waitFor } from './harness.js';

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;

const PORTS_IMAGE = 'dgimg-ports:1';
const CLAIM_IMAGE = 'dgimg-claim:1';
const GONE_IMAGE = 'dgimg-gone:1';

const url = (port: number): string => `http://${HOST_IP}:${port}/`;
const body = async (port: number): Promise<string> => {
  const r = await httpGet(h.outside, url(port), 1500);
  return r.ok ? r.body.trim() : '(no answer)';
};
const reachable = (port: number, name: string) =>
  waitFor(`${name} reachable on ${port}`, async () => ((await body(port)) === name ? true : undefined), 5_000);

/** Waits until dockgate has logged a plan with `name` in it (applied, a label error or a warning). */
const planned = (name: string) =>
  daemon.waitForLog((l) => (l.event === 'applied' || l.event === 'label-error' || l.event === 'warning') && l.container === name, 10_000);
/** The warning naming the container's image labels. */
const imageWarning = (name: string) =>
  daemon.waitForLog((l) => l.event === 'warning' && l.container === name && /image/.test(String(l.reason)), 10_000);

/** A busybox httpd on port 8000 serving "<name>", run from `image` with `args` before it. */
async function startFrom(image: string, name: string, args: string[] = []): Promise<string> {
  const script = `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 8000 -h /www`;
  const id = (await h.docker(['run', '-d', '--name', name, ...args, image, 'sh', '-c', script], { timeoutMs: 30_000 })).stdout.trim();
  await waitFor(
    `httpd in ${name}`,
    async () => ((await h.docker(['exec', id, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8000/'], { reject: false, timeoutMs: 5_000 })).exitCode === 0 ? true : undefined),
    10_000,
  );
  return id;
}

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  // Images as a registry would deliver them: the author's LABELs, nothing the admin wrote.
  await h.docker(['create', '--name', 'image-base', h.image, 'true']);
  await h.docker(['commit', '-c', 'LABEL dockgate.ports=8000', 'image-base', PORTS_IMAGE]);
  await h.docker(['commit', '-c', 'LABEL dockgate.ports=31337:8000', '-c', 'LABEL dockgate.mode=dnat', 'image-base', CLAIM_IMAGE]);
  await h.docker(['commit', '-c', 'LABEL dockgate.ports=8000', 'image-base', GONE_IMAGE]);
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, 'log_level: debug\nsync:\n  debounce_ms: 10\n');
  daemon = await startReadyDaemon(h, configFile);
});

afterAll(async () => {
  await stopAll();
});

describe('labels from the image', () => {
  it("an image's dockgate.ports does not open the admin's -p, and says so", async () => {
    await startFrom(PORTS_IMAGE, 'ported', ['-p', '8080:8000']);
    await planned('ported');
    expect(await body(8080)).toBe('(no answer)');
    const w = await imageWarning('ported');
    expect(String(w.reason)).toContain(PORTS_IMAGE);
    expect(String(w.reason)).toContain('dockgate.ports="8000"');
  });

  it("an image's dnat claim claims no host port", async () => {
    await startFrom(CLAIM_IMAGE, 'claimer');
    const w = await imageWarning('claimer');
    expect(String(w.reason)).toContain(CLAIM_IMAGE);
    expect(String(w.reason)).toMatch(/dockgate\.mode="dnat".*dockgate\.ports="31337:8000"|dockgate\.ports="31337:8000".*dockgate\.mode="dnat"/);
    expect(await body(31337)).toBe('(no answer)');
  });

  it('the same labels set with docker run --label count', async () => {
    await startFrom(PORTS_IMAGE, 'explicit', ['-p', '8081:8000', '-l', 'dockgate.ports=8000/tcp']);
    await startFrom(PORTS_IMAGE, 'explicit-claim', ['-l', 'dockgate.ports=31338:8000', '-l', 'dockgate.mode=dnat']);
    await reachable(8081, 'explicit');
    await reachable(31338, 'explicit-claim');
  });

  it('a label whose value equals the image\'s cannot be told from it: it is ignored too', async () => {
    await startFrom(PORTS_IMAGE, 'same-value', ['-p', '8083:8000', '-l', 'dockgate.ports=8000']);
    await imageWarning('same-value');
    expect(await body(8083)).toBe('(no answer)');
  });

  it('the daemon warned once per container, not once per sync', () => {
    const imageWarnings = daemon.lines.filter((l) => {
      const r = l as { event?: string; container?: string; reason?: string };
      return r.event === 'warning' && r.container === 'ported' && /image/.test(String(r.reason));
    });
    // Every container started since meant another sync with 'ported' in the plan.
    expect(daemon.lines.filter((l) => (l as { event?: string }).event === 'sync').length).toBeGreaterThan(3);
    expect(imageWarnings).toHaveLength(1);
  });

  it('a container whose image is gone gets nothing from its dockgate labels (fail closed)', async () => {
    await startFrom(GONE_IMAGE, 'orphan', ['-p', '8082:8000']);
    await imageWarning('orphan');
    await h.docker(['stop', '-t', '1', 'orphan'], { timeoutMs: 30_000 });
    // A stopped container does not keep its image from a forced removal; its layers stay.
    await h.docker(['rmi', '-f', GONE_IMAGE], { timeoutMs: 30_000 });
    await h.docker(['start', 'orphan'], { timeoutMs: 30_000 });
    // The running daemon still knows the image's labels by its id (an id names immutable content,
    // so they stay true); one started since (a reboot, an upgrade) never saw the image.
    await daemon.stop();
    daemon = await startReadyDaemon(h, configFile);
    const w = await daemon.waitForLog((l) => l.event === 'warning' && l.container === 'orphan' && /cannot be inspected/.test(String(l.reason)), 10_000);
    expect(String(w.reason)).toContain('dockgate.ports="8000"');
    expect(await body(8082)).toBe('(no answer)');
  });

  it('status shows the image labels of each container', async () => {
    const r = await runCli(h, ['status', '--json', '--config', configFile]);
    const status = JSON.parse(r.stdout) as { containers: Array<{ name: string; imageLabels: unknown[]; warnings: string[] }> };
    const ported = status.containers.find((c) => c.name === 'ported');
    expect(ported?.imageLabels).toEqual([{ label: 'dockgate.ports', value: '8000', image: PORTS_IMAGE, why: 'same-value', effect: 'ignored' }]);
    expect(status.containers.find((c) => c.name === 'explicit')?.imageLabels).toEqual([]);
    expect(status.containers.find((c) => c.name === 'orphan')?.imageLabels).toMatchObject([{ label: 'dockgate.ports', why: 'image-unknown', effect: 'ignored' }]);
    const text = await runCli(h, ['status', '--config', configFile]);
    expect(text.stdout).toMatch(/^ported .*\n(?:  .*\n)*  warn  .*dgimg-ports:1/m);
  });

  it('trust_image_labels: true takes the image\'s labels as the admin\'s (SIGHUP)', async () => {
    await writeFile(configFile, 'log_level: debug\ntrust_image_labels: true\nsync:\n  debounce_ms: 10\n');
    process.kill(daemon.pid, 'SIGHUP');
    await daemon.waitForLog((l) => l.event === 'reloaded', 10_000);
    await reachable(8080, 'ported');
    await reachable(31337, 'claimer');
    await reachable(8083, 'same-value');
    await reachable(8082, 'orphan');
  });
});
