// Never lose the firewall (issue 5), on a real kernel with a real dockerd: drift made by other
// programs repaired within 2 s and proved by connections from outside; Docker restarted under
// dockgate; dockgate SIGKILLed at random moments (also in the middle of iptables-restore); an
// event storm of 100 containers; and a seeded random churn with all of those faults mixed in.
// The long churn with memory measurement lives in test/soak (npm run test:soak).
//
// Replay a churn failure with DOCKGATE_CHURN_SEED=<seed printed by the failing run>.
import { mkdir, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import {
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  httpGet,
  runCli,
  startDaemon,
  startDockerHost,
  startWebContainer,
  stopAll,
  waitFor,
} from './harness.js';
import {
  Churn,
  type LogLine,
  type SabotageKind,
  driftRound,
  Rng,
  crash,
  foreignRules,
  iptablesSave,
  kernelVsPlan,
  linesSince,
  logTime,
  medianMax,
  openingsShard,
  seedFrom,
  shardLineCount,
  statusInSync,
  waitConverged,
  waitForRestoreChild,
} from '../soak/churn.js';

/** What the issue promises: drift repaired within 2 s with the default config. */
const DRIFT_LIMIT_MS = 2_000;

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;
const figures: Record<string, unknown> = {};

const url = (port: number): string => `http://${HOST_IP}:${port}/`;
const ipt = (args: string[]) => h.host.exec('iptables', ['-w', '5', ...args], { timeoutMs: 10_000 });

/** Every dockgate started here; their logs go to $DOCKGATE_TEST_LOGS (a directory) when set. */
const started: DaemonProcess[] = [];

/** Starts dockgate; there is never more than one (two would fight over the same chains). */
async function spawnDockgate(): Promise<DaemonProcess> {
  for (const d of started) {
    const gone = await Promise.race([d.exited.then(() => true), sleep(1_000).then(() => false)]);
    if (!gone) throw new Error(`test bug: dockgate pid ${d.pid} is still running`);
  }
  const d = await startDaemon(h, ['run', '--config', configFile]);
  started.push(d);
  return d;
}

async function startDockgate(): Promise<DaemonProcess> {
  const d = await spawnDockgate();
  await d.waitForLog((l) => l.event === 'ready', 30_000);
  return d;
}

async function answers(port: number, body: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(
    `port ${port} answering "${body}"`,
    async () => {
      const g = await httpGet(h.outside, url(port), 1500);
      return g.ok && g.body.trim() === body ? true : undefined;
    },
    timeoutMs,
    100,
  );
}

/** `docker rm -f` of every container (bounded). */
async function removeAllContainers(): Promise<void> {
  const ids = (await h.docker(['ps', '-aq'], { timeoutMs: 60_000 })).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  for (let i = 0; i < ids.length; i += 20) await h.docker(['rm', '-f', ...ids.slice(i, i + 20)], { reject: false, timeoutMs: 120_000 });
}

/** Runs `fn` over `items` with at most `width` at a time. */
async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

const shortIdOf = async (name: string): Promise<string> => (await h.docker(['inspect', '-f', '{{.Id}}', name])).stdout.trim().slice(0, 12);
const ipOf = async (name: string): Promise<string> =>
  (await h.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name])).stdout.trim();

beforeAll(async () => {
  await cleanupLeftovers();
  h = await startDockerHost();
  configFile = `${h.tmpDir}/config.yaml`;
  // Default drift check (1000 ms); reconnects to Docker capped at 2 s so a restart is not
  // followed by a long backoff; debug for the restore/event counters.
  await writeFile(configFile, `log_level: debug\nexternal_interfaces: [${h.hostIf}]\nsync:\n  retry_max_ms: 2000\n`);
  // The admin's own rules, which dockgate must never touch.
  await ipt(['-A', 'INPUT', '-s', '192.0.2.1', '-j', 'DROP']);
  await ipt(['-N', 'ADMIN-X']);
  await ipt(['-A', 'ADMIN-X', '-s', '198.51.100.7', '-j', 'DROP']);
  await ipt(['-A', 'FORWARD', '-j', 'ADMIN-X']);
  daemon = await startDockgate();
}, 120_000);

afterAll(async () => {
  // eslint-disable-next-line no-console
  console.log(`reliability figures: ${JSON.stringify(figures, null, 2)}`);
  await stopAll();
  const dir = process.env.DOCKGATE_TEST_LOGS;
  if (dir) {
    await mkdir(dir, { recursive: true });
    for (const [i, d] of started.entries()) {
      const text = d.lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
      await writeFile(`${dir}/reliability-dockgate-${i}.jsonl`, `${text}\n${d.stderr ? `--- stderr ---\n${d.stderr}` : ''}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------

describe('drift made by other programs is repaired within 2 s', () => {
  let proxyChain = '';
  const times: Array<{ kind: string; logMs: number; connMs: number }> = [];

  beforeAll(async () => {
    await startWebContainer(h, { name: 'dr-proxy', ports: [`${HOST_IP}:8100:8000`], labels: { 'dockgate.ports': '8000' } });
    await startWebContainer(h, { name: 'dr-dnat', labels: { 'dockgate.ports': `${HOST_IP}:8101:8000`, 'dockgate.mode': 'dnat' } });
    await answers(8100, 'dr-proxy');
    await answers(8101, 'dr-dnat');
    // Its accept lives in its shard of the shared set chain (no chain per container any more).
    proxyChain = await openingsShard(h, 'dr-proxy');
  }, 120_000);

  afterAll(async () => {
    figures.drift = { ...medianMax(times.map((t) => t.connMs)), cases: times };
    await removeAllContainers();
  });

  const cases: Array<{ kind: SabotageKind; ports: Array<[number, string]>; extra?: () => string }> = [
    { kind: 'flush-input', ports: [[8100, 'dr-proxy']] },
    { kind: 'flush-container-chain', ports: [[8100, 'dr-proxy']], extra: () => proxyChain },
    { kind: 'delete-jump', ports: [[8100, 'dr-proxy']] },
    { kind: 'reload-filter', ports: [[8100, 'dr-proxy'], [8101, 'dr-dnat']] },
    { kind: 'flush-nat', ports: [[8101, 'dr-dnat']] },
  ];

  it.each(cases.map((c, i) => ({ ...c, n: i + 2 })))('$kind', async ({ kind, ports, extra, n }) => {
    await waitFor('in sync before the sabotage', async () => ((await statusInSync(h, configFile)) ? true : undefined), 10_000, 200);
    let foreignBefore: string[] = [];
    const round = await driftRound(h, daemon, kind, ports, {
      ...(extra ? { containerChain: extra() } : {}),
      // The admin adds a rule of their own meanwhile: it must survive the repair untouched.
      meanwhile: async () => {
        await ipt(['-A', 'INPUT', '-s', `192.0.2.${n}`, '-j', 'DROP']);
        foreignBefore = await foreignRules(h);
      },
    });
    // Two more drift checks: nothing more to repair (no fight with anyone), nothing reported twice.
    await sleep(2_200);
    const all = linesSince(daemon, round.t0, (l) => l.event === 'drift-repaired');
    const keys = all.map((l) => `${String(l.table)} ${String(l.chain)}`);
    expect(new Set(keys).size, `each repair logged once: ${keys.join(', ')}`).toBe(keys.length);
    for (const l of all) {
      const named = l.problem === 'jump missing' || l.problem === 'missing' || (Array.isArray(l.missing) && l.missing.length > 0);
      expect(named, `line names what was missing: ${JSON.stringify(l)}`).toBe(true);
    }
    expect(await foreignRules(h)).toEqual(foreignBefore);
    const rules = await iptablesSave(h);
    expect(rules).toContain(`-A INPUT -s 192.0.2.${n}/32 -j DROP`);
    expect(rules).toContain('-A INPUT -s 192.0.2.1/32 -j DROP');
    expect(rules).toContain('-A ADMIN-X -s 198.51.100.7/32 -j DROP');
    expect(rules).toContain('-A FORWARD -j ADMIN-X');
    expect((await kernelVsPlan(h, configFile)).diffs).toEqual([]);
    times.push({ kind, logMs: round.logMs, connMs: round.connMs });
    // eslint-disable-next-line no-console
    console.log(`drift ${kind}: repair logged after ${round.logMs} ms, connection back after ${round.connMs} ms; lines: ${keys.join(', ')}`);
    expect(round.connMs).toBeLessThanOrEqual(DRIFT_LIMIT_MS);
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------

describe('dockgate SIGKILLed at random moments while containers start', () => {
  const seed = seedFrom('DOCKGATE_KILL_SEED');
  const rng = new Rng(seed);
  const names = Array.from({ length: 10 }, (_, i) => `ks-${i}`);

  it('converges to exactly the plan: no duplicate jumps, no orphan chains', async () => {
    // eslint-disable-next-line no-console
    console.log(`kill test seed ${seed} (replay with DOCKGATE_KILL_SEED=${seed})`);
    const run = (i: number) => {
      const name = names[i]!;
      const port = 8300 + i;
      const labels = i % 2 ? ['-l', `dockgate.ports=${HOST_IP}:${port}:8000`, '-l', 'dockgate.mode=dnat'] : ['-p', `${HOST_IP}:${port}:8000`, '-l', 'dockgate.ports=8000'];
      return h.docker(['run', '-d', '--init', '--name', name, ...labels, h.image, 'sh', '-c', `mkdir -p /www && echo ${name} > /www/index.html && exec httpd -f -p 8000 -h /www`], { timeoutMs: 60_000 });
    };
    // Six rounds; each starts dockgate, starts the next containers at the same time, and kills
    // dockgate: in its first write, after a random delay, or while it handles the new events.
    await daemon.stop('SIGTERM');
    const batches = [[0, 1], [2, 3], [4, 5], [6, 7], [8], [9]];
    const kills: Array<{ round: number; moment: string; midWrite: boolean; childrenKilled: boolean }> = [];
    const modes = ['first write', 'event', 'random'] as const;
    for (const [round, batch] of batches.entries()) {
      daemon = await spawnDockgate();
      const roundStart = Date.now();
      const containers = Promise.all(batch.map(run));
      const moment = modes[round % modes.length]!;
      if (moment === 'first write') {
        await waitForRestoreChild(daemon.pid, 5_000);
      } else if (moment === 'event') {
        await daemon.waitForLog((l) => l.event === 'docker-event' && logTime(l) >= roundStart, 10_000).catch(() => undefined);
        await sleep(rng.int(0, 60));
      } else {
        await sleep(rng.int(200, 1500));
      }
      const r = await crash(daemon, rng.chance(0.5));
      kills.push({ round, moment, ...r });
      await containers;
    }
    // One more crash in the middle of a write, with everything running: the first write of a
    // fresh daemon after the kernel was damaged.
    await ipt(['-F', 'DOCKGATE-INPUT']);
    daemon = await spawnDockgate();
    await waitForRestoreChild(daemon.pid, 5_000);
    kills.push({ round: batches.length, moment: 'repair write', ...(await crash(daemon, false)) });

    daemon = await startDockgate();
    const { ms, atOnce } = await waitConverged(h, configFile, 20_000);
    const { diffs, kernel, plan } = await kernelVsPlan(h, configFile);
    expect(diffs).toEqual([]);
    // exactly one jump per built-in chain, each planned
    expect(kernel.jumps).toEqual(plan.jumps);
    expect(new Set(kernel.jumps).size).toBe(kernel.jumps.length);
    expect([...kernel.chains.keys()].sort()).toEqual([...plan.chains.keys()].sort());
    for (const [i, name] of names.entries()) await answers(8300 + i, name);
    figures.kills = { seed, kills: kills.length, midWrite: kills.filter((k) => k.midWrite).length, convergedMs: ms, inSyncWhenReady: atOnce, detail: kills };
    // eslint-disable-next-line no-console
    console.log(`kills: ${JSON.stringify(kills)}; converged ${ms} ms after the last start`);
    await removeAllContainers();
  }, 240_000);
});

// ---------------------------------------------------------------------------------------------

describe('event storm', () => {
  it('100 containers started and removed as fast as Docker allows: final state = plan, restores far below events', async () => {
    // A fresh daemon, so its counters start now.
    await daemon.stop('SIGTERM');
    daemon = await startDockgate();
    const syncs = (): LogLine[] => linesSince(daemon, 0, (l) => l.event === 'sync');
    const base = syncs()[0]!;
    const names = Array.from({ length: 100 }, (_, i) => `st-${i}`);
    const t0 = Date.now();
    await pool(names, 10, async (name) => {
      const i = Number(name.slice(3));
      const labels = i % 2 === 0 ? ['-l', `dockgate.ports=${HOST_IP}:${10_000 + i}:80`, '-l', 'dockgate.mode=dnat'] : [];
      await h.docker(['run', '-d', '--name', name, ...labels, h.image, 'sleep', '600'], { timeoutMs: 120_000 });
    });
    const startMs = Date.now() - t0;
    const peak = await waitConverged(h, configFile, 30_000);
    expect(shardLineCount(peak.plan, 'nat/DOCKGATE-DNAT')).toBe(50);
    const t1 = Date.now();
    await pool(names, 10, (name) => h.docker(['rm', '-f', name], { timeoutMs: 120_000 }));
    const rmMs = Date.now() - t1;
    await waitConverged(h, configFile, 30_000);
    const { kernel } = await kernelVsPlan(h, configFile);
    expect([...kernel.chains.keys()].filter((k) => /\/DOCKGATE-C[A-Z]*-/.test(k))).toEqual([]);
    await sleep(500);
    const last = syncs().at(-1)!;
    const restores = Number(last.restores) - Number(base.restores);
    const events = Number(last.events) - Number(base.events);
    figures.storm = { containers: 100, startMs, rmMs, events, restores, syncLines: syncs().length - 1 };
    // eslint-disable-next-line no-console
    console.log(`storm: 100 containers started in ${startMs} ms, removed in ${rmMs} ms; ${events} Docker events, ${restores} iptables-restore runs`);
    expect(events).toBeGreaterThanOrEqual(400);
    expect(restores).toBeLessThan(events / 2);
  }, 420_000);
});

// ---------------------------------------------------------------------------------------------

describe('Docker restarted under dockgate', () => {
  it('reconnects, drops the dead containers, follows the new addresses of the restarted ones', async () => {
    const web = (name: string, port: number, restart: boolean, mode: 'proxy' | 'dnat') =>
      startWebContainer(h, {
        name,
        ...(mode === 'proxy' ? { ports: [`${HOST_IP}:${port}:8000`], labels: { 'dockgate.ports': '8000' } } : { labels: { 'dockgate.ports': `${HOST_IP}:${port}:8000`, 'dockgate.mode': 'dnat' } }),
        extraArgs: ['--init', ...(restart ? ['--restart', 'always'] : [])],
      });
    // rs-gone first, so it holds the lowest address, which a restarted container then gets.
    await web('rs-gone', 8203, false, 'dnat');
    await web('rs-a', 8201, true, 'dnat');
    await web('rs-b', 8202, true, 'proxy');
    for (const [p, n] of [[8201, 'rs-a'], [8202, 'rs-b'], [8203, 'rs-gone']] as const) await answers(p, n);
    const before = { gone: await shortIdOf('rs-gone'), goneIp: await ipOf('rs-gone'), a: await ipOf('rs-a'), b: await ipOf('rs-b') };
    expect(await iptablesSave(h)).toContain(before.gone);

    // All along, an outside client keeps connecting to rs-gone's port: once rs-gone is dead, any
    // answer means a stale DNAT rule led to whoever holds its old address now. dockgate cannot
    // know before it reconnects, so this window is measured and reported, not asserted.
    const misrouted: Array<{ ms: number; body: string }> = [];
    let probing = true;
    const t0 = Date.now();
    const prober = (async () => {
      for (let i = 0; i < 2_000 && probing && Date.now() - t0 < 120_000; i++) {
        const g = await httpGet(h.outside, url(8203), 500);
        if (g.ok && g.body.trim() !== 'rs-gone') misrouted.push({ ms: Date.now() - t0, body: g.body.trim() });
        if (!g.ok) await sleep(50);
      }
    })();
    const restart = await h.restartDockerd({ startTimeoutMs: 90_000 });
    await daemon.waitForLog((l) => l.event === 'docker-disconnected' && logTime(l) >= t0, 10_000);
    const connected = await daemon.waitForLog((l) => l.event === 'docker-connected' && logTime(l) >= t0, 30_000);
    await waitFor(
      'restart-always containers running again',
      async () => {
        const r = await h.docker(['inspect', '-f', '{{.State.Running}}', 'rs-a', 'rs-b'], { reject: false });
        return r.stdout.trim() === 'true\ntrue' ? true : undefined;
      },
      30_000,
      250,
    );
    const after = { a: await ipOf('rs-a'), b: await ipOf('rs-b') };
    const { ms } = await waitConverged(h, configFile, 20_000);
    probing = false;
    await prober;
    const rules = await iptablesSave(h);
    expect(rules).not.toContain(before.gone);
    expect(rules).toMatch(new RegExp(`--dport 8201 .*-j DNAT --to-destination ${after.a.replaceAll('.', '\\.')}:8000`));
    await answers(8201, 'rs-a');
    await answers(8202, 'rs-b');
    // rs-gone's port must not lead anywhere, in particular not to whoever has its old address now.
    expect((await httpGet(h.outside, url(8203), 1500)).ok).toBe(false);
    const status = await runCli(h, ['status', '--json', '--config', configFile]);
    expect((JSON.parse(status.stdout) as { inSync: boolean }).inSync).toBe(true);
    const moved = [before.a !== after.a, before.b !== after.b].filter(Boolean).length;
    const wrong = misrouted.length === 0 ? undefined : { answers: misrouted.length, firstMs: misrouted[0]!.ms, lastMs: misrouted.at(-1)!.ms, reached: [...new Set(misrouted.map((m) => m.body))] };
    figures.dockerRestart = { ...restart, reconnectMs: logTime(connected) - t0, convergedMs: ms, before, after, addressesChanged: moved, staleRuleReachedOtherContainer: wrong ?? 'never' };
    // eslint-disable-next-line no-console
    console.log(`docker restart: ${JSON.stringify(figures.dockerRestart)}`);
    expect(moved, 'at least one restarted container got a new address (else this test proves less)').toBeGreaterThan(0);
    await removeAllContainers();
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------

describe('churn with faults', () => {
  const seed = seedFrom('DOCKGATE_CHURN_SEED');
  const total = Number(process.env.DOCKGATE_CHURN_OPS ?? 60);
  let churn: Churn;

  afterAll(async () => {
    await churn?.removeAll();
  });

  it(`20 containers, ${total} random operations, dockgate SIGKILLed twice, Docker restarted once → kernel = plan, reachability = labels`, async () => {
    // eslint-disable-next-line no-console
    console.log(`churn seed ${seed} (replay with DOCKGATE_CHURN_SEED=${seed})`);
    churn = new Churn({ h, seed, slots: 20, basePort: 9000, prefix: 'ch', concurrency: 3 });
    await churn.setup();
    const ops = churn.generate(total);
    const at = (f: number) => Math.round(total * f);
    const faults: string[] = [];
    const t0 = Date.now();
    let done = 0;
    const runTo = async (n: number) => {
      await churn.runOps(ops.slice(done, n));
      done = n;
    };
    await runTo(at(0.3));
    await crash(daemon, true);
    faults.push(`dockgate SIGKILL after op ${done}`);
    await runTo(at(0.35)); // changes while dockgate is down
    daemon = await startDockgate();
    await runTo(at(0.5));
    const tRestart = Date.now();
    const dr = await h.restartDockerd({ startTimeoutMs: 90_000 });
    faults.push(`Docker restart after op ${done} (down ${dr.downMs} ms)`);
    await daemon.waitForLog((l) => l.event === 'docker-connected' && logTime(l) >= tRestart, 30_000);
    await churn.refresh();
    await runTo(at(0.7));
    await crash(daemon, false);
    faults.push(`dockgate SIGKILL after op ${done}`);
    daemon = await startDockgate();
    await runTo(total);
    const opsMs = Date.now() - t0;

    const running = await churn.settle(30_000);
    const { ms } = await waitConverged(h, configFile, 20_000);
    expect((await kernelVsPlan(h, configFile)).diffs).toEqual([]);
    const reach = await churn.verifyReachability(running);
    figures.churn = { seed, ops: churn.stats.ops, byKind: churn.stats.byKind, refused: churn.stats.refused, faults, opsMs, convergedMs: ms, open: reach.open, closed: reach.closed };
    // eslint-disable-next-line no-console
    console.log(`churn: ${JSON.stringify(figures.churn)}`);
    expect(reach.failures, `seed ${seed}`).toEqual([]);
    expect(churn.stats.ops).toBe(total);
  }, 600_000);
});
