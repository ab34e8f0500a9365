// The long churn (`npm run test:soak`, not part of `npm test`): thousands of random container
// operations against a real dockerd, with faults mixed in — dockgate SIGKILLed, Docker restarted,
// the firewall damaged by "other programs" — checking at every checkpoint that the kernel holds
// exactly `dockgate plan` and that reachability from outside matches the labels, and sampling
// dockgate's RSS to show that a long-lived daemon does not grow.
//
// Knobs (environment): DOCKGATE_SOAK_OPS (default 2000), DOCKGATE_SOAK_MINUTES (default 14: stop
// early, with what was done, rather than overrun), DOCKGATE_CHURN_SEED (replay a failure),
// DOCKGATE_SOAK_RESULTS (where to write the report; default test/soak/RESULTS.md).
// Skipped unless DOCKGATE_SOAK=1 (set by the npm script), so a default `vitest run` never runs it.
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupLeftovers } from '../support/netns.js';
import { NODE_FLAGS } from '../../src/install/install-files.js';
import {
  CLI_PATH,
  type DaemonProcess,
  type DockerHost,
  HOST_IP,
  REPO_ROOT,
  httpGet,
  startDockerHost,
  startInHost,
  startWebContainer,
  stopAll,
  waitFor,
} from '../e2e/harness.js';
import {
  Churn,
  type DriftRound,
  SABOTAGE_KINDS,
  type SabotageKind,
  crash,
  driftRound,
  kernelVsPlan,
  logTime,
  medianMax,
  openingsShard,
  rssKb,
  seedFrom,
  waitConverged,
} from './churn.js';

const enabled = process.env.DOCKGATE_SOAK === '1';
const OPS = Number(process.env.DOCKGATE_SOAK_OPS ?? 2000);
const MINUTES = Number(process.env.DOCKGATE_SOAK_MINUTES ?? 14);
const RESULTS = process.env.DOCKGATE_SOAK_RESULTS ?? `${REPO_ROOT}test/soak/RESULTS.md`;
const CHUNK = 25; // operations between RSS samples
const WARMUP_OPS = 250; // dockgate is SIGKILLed twice (after ops 100 and 200) before this; RSS is judged after it
const DOCKER_RESTART_EVERY = 500;
const CHECK_EVERY = 500; // full verification (kernel = plan, reachability) every this many ops, and at the end
const SABOTAGE_EVERY = 100;
const SLOTS = 30;
const CONCURRENCY = 6;
/** RSS may not grow more than this from the end of warm-up to the end. */
const RSS_GROWTH_LIMIT_KB = 16 * 1024;
/** ... nor keep growing by more than this per 100 operations once the heap has settled. */
const RSS_SLOPE_LIMIT_KB = 300;

let h: DockerHost;
let daemon: DaemonProcess;
let configFile: string;

/** As installed (ExecStart of the systemd unit): with the same V8 flags, so the RSS is the real one. */
async function startDockgate(): Promise<DaemonProcess> {
  const d = await startInHost(h, [process.execPath, ...NODE_FLAGS, CLI_PATH, 'run', '--config', configFile]);
  await d.waitForLog((l) => l.event === 'ready', 30_000);
  return d;
}

const sh = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', timeout: 10_000 }).trim();
  } catch {
    return '?';
  }
};

beforeAll(async () => {
  if (!enabled) return;
  await cleanupLeftovers();
  h = await startDockerHost();
  configFile = `${h.tmpDir}/config.yaml`;
  await writeFile(configFile, `log_level: info\nexternal_interfaces: [${h.hostIf}]\nsync:\n  retry_max_ms: 2000\n`);
  daemon = await startDockgate();
});

afterAll(async () => {
  if (enabled) await stopAll();
});

describe.skipIf(!enabled)('soak', () => {
  it(`churn of up to ${OPS} operations in ${MINUTES} min with faults; no drift, no growth`, async () => {
    const seed = seedFrom('DOCKGATE_CHURN_SEED');
    // eslint-disable-next-line no-console
    console.log(`soak seed ${seed} (replay with DOCKGATE_CHURN_SEED=${seed})`);
    const started = Date.now();
    const deadline = started + MINUTES * 60_000;

    // Two sentinels that the churn never touches: the drift rounds prove repairs on them.
    await startWebContainer(h, { name: 'sn-proxy', ports: [`${HOST_IP}:8100:8000`], labels: { 'dockgate.ports': '8000' }, extraArgs: ['--init', '--restart', 'always'] });
    await startWebContainer(h, { name: 'sn-dnat', labels: { 'dockgate.ports': `${HOST_IP}:8101:8000`, 'dockgate.mode': 'dnat' }, extraArgs: ['--init', '--restart', 'always'] });
    const sentinelPorts: Record<SabotageKind, Array<[number, string]>> = {
      'flush-input': [[8100, 'sn-proxy']],
      'flush-container-chain': [[8100, 'sn-proxy']],
      'delete-jump': [[8100, 'sn-proxy']],
      'reload-filter': [[8100, 'sn-proxy'], [8101, 'sn-dnat']],
      'flush-nat': [[8101, 'sn-dnat']],
    };
    const sentinelsAnswer = () =>
      Promise.all(
        [[8100, 'sn-proxy'], [8101, 'sn-dnat']].map(([port, body]) =>
          waitFor(`${String(body)} answering`, async () => ((await httpGet(h.outside, `http://${HOST_IP}:${port}/`, 1500)).body.trim() === body ? true : undefined), 60_000, 200),
        ),
      );
    const proxyChain = (): Promise<string> => openingsShard(h, 'sn-proxy');

    const churn = new Churn({ h, seed, slots: SLOTS, basePort: 9000, prefix: 'sk', concurrency: CONCURRENCY });
    await churn.setup();
    const faults = { dockgateKills: 0, dockerRestarts: 0, driftSabotages: 0 };
    const drift: DriftRound[] = [];
    const rss: Array<{ op: number; kb: number; pid: number }> = [];
    const checkpoints: Array<{ op: number; convergedMs: number; open: number; closed: number }> = [];
    const failures: string[] = [];
    let done = 0;
    let stopReason = `the planned ${OPS} reached`;

    const checkpoint = async (): Promise<void> => {
      const running = await churn.settle(60_000);
      const { ms } = await waitConverged(h, configFile, 30_000);
      const reach = await churn.verifyReachability(running);
      checkpoints.push({ op: done, convergedMs: ms, open: reach.open, closed: reach.closed });
      failures.push(...reach.failures.map((f) => `after op ${done}: ${f}`));
      // eslint-disable-next-line no-console
      console.log(`checkpoint after op ${done}: converged in ${ms} ms, ${reach.open} open / ${reach.closed} closed, ${reach.failures.length} failures`);
    };

    let sabotageIndex = 0;
    const crossed = (before: number, every: number): boolean => Math.floor(done / every) > Math.floor(before / every);
    // Anything thrown below still gets the report written (with the error), then fails the test.
    let fatal: Error | undefined;
    try {
      while (done < OPS) {
        if (Date.now() > deadline) {
          stopReason = `time limit of ${MINUTES} min reached after ${done} operations`;
          break;
        }
        const before = done;
        await churn.runOps(churn.generate(CHUNK));
        done += CHUNK;

        // Faults, between chunks (so each is measured on its own).
        if (crossed(before, 100) && done < 300) {
          await crash(daemon, done < 200);
          faults.dockgateKills++;
          await churn.runOps(churn.generate(5)); // changes while dockgate is down
          done += 5;
          daemon = await startDockgate();
        }
        if (crossed(before, DOCKER_RESTART_EVERY)) {
          const t = Date.now();
          // Generous: dockerd answers only after it has restarted every --restart always container.
          await h.restartDockerd({ startTimeoutMs: 180_000 });
          faults.dockerRestarts++;
          await daemon.waitForLog((l) => l.event === 'docker-connected' && logTime(l) >= t, 60_000);
          await churn.refresh();
          await waitFor('sentinels back', async () => {
            const r = await h.docker(['inspect', '-f', '{{.State.Running}}', 'sn-proxy', 'sn-dnat'], { reject: false });
            return r.stdout.trim() === 'true\ntrue' ? true : undefined;
          }, 60_000, 500);
        }
        if (crossed(before, SABOTAGE_EVERY)) {
          const kind = SABOTAGE_KINDS[sabotageIndex++ % SABOTAGE_KINDS.length]!;
          // The sentinels answer before the damage, so "back" means repaired, not "first up".
          await sentinelsAnswer();
          const round = await driftRound(h, daemon, kind, sentinelPorts[kind], kind === 'flush-container-chain' ? { containerChain: await proxyChain() } : {}).catch(
            (err: Error) => {
              failures.push(`after op ${done}: drift ${kind}: ${err.message}`);
              return undefined;
            },
          );
          if (round) drift.push(round);
          faults.driftSabotages++;
        }
        if (crossed(before, CHECK_EVERY)) await checkpoint();
        rss.push({ op: done, kb: await rssKb(daemon.pid), pid: daemon.pid });
      }
      if (checkpoints.at(-1)?.op !== done) await checkpoint();
      const diffs = (await kernelVsPlan(h, configFile)).diffs;
      failures.push(...diffs.map((d) => `final: ${d}`));
    } catch (err) {
      fatal = err as Error;
      stopReason = `stopped by an error after ${done} operations`;
      failures.push(`after op ${done}: ${fatal.message.split('\n')[0]}`);
    }

    // Memory: the samples of the daemon that lived through everything after warm-up.
    const lastPid = rss.at(-1)?.pid;
    const judged = rss.filter((s) => s.op >= WARMUP_OPS && s.pid === lastPid);
    const head = medianMax(judged.slice(0, 3).map((s) => s.kb)).median;
    const tail = medianMax(judged.slice(-3).map((s) => s.kb)).median;
    const growthKb = tail - head;
    // The trend: least-squares slope over the second half of the judged samples (the heap has
    // settled by then), in KiB per 100 operations.
    const late = judged.slice(Math.floor(judged.length / 2));
    const slopeKbPer100 = (() => {
      if (late.length < 3) return 0;
      const mx = late.reduce((n, s) => n + s.op, 0) / late.length;
      const my = late.reduce((n, s) => n + s.kb, 0) / late.length;
      const num = late.reduce((n, s) => n + (s.op - mx) * (s.kb - my), 0);
      const den = late.reduce((n, s) => n + (s.op - mx) ** 2, 0);
      return den === 0 ? 0 : (100 * num) / den;
    })();
    const driftConn = medianMax(drift.map((d) => d.connMs));
    const driftLog = medianMax(drift.map((d) => d.logMs));
    const minutes = (Date.now() - started) / 60_000;

    const report = [
      '# Soak results',
      '',
      `Written by \`npm run test:soak\` (test/soak/soak.test.ts) on ${new Date().toISOString()}.`,
      '',
      `Machine: ${cpus().length} cores, load average at the end ${sh('cat', ['/proc/loadavg']).split(' ').slice(0, 3).join(' ')}; ` +
        `kernel ${sh('uname', ['-r'])}; ${sh('dockerd', ['--version'])}; ${sh('iptables', ['--version'])}; node ${process.version}.`,
      '',
      '| figure | value |',
      '|---|---|',
      `| seed | ${seed} |`,
      `| operations survived | ${done} (${stopReason}), in ${minutes.toFixed(1)} min, ${SLOTS} container slots, ${CONCURRENCY} operations at a time |`,
      `| operations by kind | ${Object.entries(churn.stats.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}; ${churn.stats.refused} refused by Docker (stale model, harmless) |`,
      `| faults injected | ${faults.dockgateKills + faults.dockerRestarts + faults.driftSabotages}: ${faults.dockgateKills} dockgate SIGKILLs, ${faults.dockerRestarts} Docker restarts, ${faults.driftSabotages} firewall sabotages (in turn: ${SABOTAGE_KINDS.join(', ')}) |`,
      `| drift repair, connection back from outside | median ${driftConn.median} ms, worst ${driftConn.max} ms (n=${driftConn.n}) |`,
      `| drift repair, logged by dockgate | median ${driftLog.median} ms, worst ${driftLog.max} ms |`,
      `| checkpoints (kernel = plan, reachability = labels) | ${checkpoints.length}, ${failures.length} failures |`,
      `| dockgate RSS after warm-up (op ${judged[0]?.op ?? '-'}) → end (op ${judged.at(-1)?.op ?? '-'}) | ${(head / 1024).toFixed(1)} MiB → ${(tail / 1024).toFixed(1)} MiB (${growthKb >= 0 ? '+' : ''}${(growthKb / 1024).toFixed(1)} MiB; limit +${RSS_GROWTH_LIMIT_KB / 1024} MiB) |`,
      `| dockgate RSS trend over the second half (ops ${late[0]?.op ?? '-'}–${late.at(-1)?.op ?? '-'}) | ${slopeKbPer100.toFixed(0)} KiB per 100 operations (limit ${RSS_SLOPE_LIMIT_KB} KiB) |`,
      '',
      `## RSS samples (KiB, every ${CHUNK} operations, op:KiB)`,
      '',
      rss.map((s) => `${s.op}:${s.kb}`).join(' '),
      '',
      '## Drift rounds',
      '',
      '| kind | logged (ms) | connection back (ms) |',
      '|---|---|---|',
      ...drift.map((d) => `| ${d.kind} | ${d.logMs} | ${d.connMs} |`),
      '',
      '## Checkpoints',
      '',
      '| after op | converged (ms) | open ports checked | closed ports checked |',
      '|---|---|---|---|',
      ...checkpoints.map((c) => `| ${c.op} | ${c.convergedMs} | ${c.open} | ${c.closed} |`),
      '',
      ...(failures.length > 0 ? ['## Failures', '', ...failures.map((f) => `- ${f}`), ''] : []),
    ].join('\n');
    await writeFile(RESULTS, report);
    // eslint-disable-next-line no-console
    console.log(report);

    if (fatal) throw fatal;
    expect(failures, `seed ${seed}`).toEqual([]);
    expect(judged.length, 'enough RSS samples after warm-up').toBeGreaterThanOrEqual(6);
    expect(growthKb, `RSS growth after warm-up (KiB), samples ${JSON.stringify(judged)}`).toBeLessThan(RSS_GROWTH_LIMIT_KB);
    expect(slopeKbPer100, `RSS trend (KiB per 100 ops), samples ${JSON.stringify(late)}`).toBeLessThan(RSS_SLOPE_LIMIT_KB);
    await churn.removeAll();
    await sleep(100);
  });
});
