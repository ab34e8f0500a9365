// A Daemon for tests without root: a scripted Docker, the in-memory iptables, sysctls in a temp
// dir, and nothing that would look at the machine's own namespace (no IPv6 probe, no route or
// ruleset watcher, no /proc/net listeners).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { defaultConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { Daemon, type DaemonOptions } from '../../src/daemon/daemon.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import type { ContainerFacts } from '../../src/model/types.js';
import { container } from '../plan/fixtures.js';
import { FakeClock } from './fake-clock.js';
import type { FakeDocker } from './fake-docker.js';
import { until } from './poll.js';
import { FakeIptables } from './fake-iptables.js';

/**
 * Defaults with short timers, external interfaces listed (never the machine's routes), and the
 * drops socket under the temp dir (nothing here starts the drop log; whatever does, stays out of
 * /run/dockgate).
 */
export function testConfig(over: Partial<Config['sync']> = {}): Config {
  const c = defaultConfig();
  c.externalInterfaces = { kind: 'list', names: [] };
  c.drops = { ...c.drops, socket: join(tmpdir(), `dgt-drops-${process.pid}`, 'drops.sock') };
  c.sync = { ...c.sync, debounceMs: 5, driftCheckMs: 60_000, fullCheckMs: 60_000, retryMinMs: 20, retryMaxMs: 50, ...over };
  return c;
}

/** A labelled web container publishing 0.0.0.0:port → 80. */
export const web = (name: string, ip: string, port: number, labels: Record<string, string> = {}): ContainerFacts =>
  container(name, { ip, labels: { 'dockgate.ports': '80', ...labels }, publish: [`0.0.0.0:${port}:80/tcp`] });

/** Waits (real time) until a sync in flight is done with its real I/O, or is reading Docker (which waits on the clock). */
const settled = (daemon: Daemon): Promise<true> =>
  until(() => !daemon.state.syncing || daemon.state.refreshing, { what: 'the sync in flight to finish its I/O', timeoutMs: 10_000, intervalMs: 1 });

/**
 * Fake time for a daemon on a FakeClock: moves the clock `ms` forward in steps of `stepMs` (0: fires
 * what is due now), and before each step lets a sync in flight finish its real I/O (sysctl files,
 * resolv.conf) while the clock stands still. What a test sees then depends on fake time alone.
 */
export async function advance(daemon: Daemon, clock: FakeClock, ms: number, stepMs = 5): Promise<void> {
  let done = 0;
  do {
    await settled(daemon);
    const step = Math.min(stepMs, ms - done);
    await clock.advance(step);
    done += step;
  } while (done < ms);
  await settled(daemon);
}

/** Advances fake time until `probe` holds; returns the fake milliseconds it took. Fails past `limitMs` of fake time. */
export async function advanceUntil(daemon: Daemon, clock: FakeClock, what: string, probe: () => boolean, limitMs: number, stepMs = 5): Promise<number> {
  const t0 = clock.now();
  await advance(daemon, clock, 0);
  while (!probe()) {
    if (clock.now() - t0 >= limitMs) throw new Error(`${what}: not within ${limitMs} ms of fake time`);
    await advance(daemon, clock, stepMs, stepMs);
  }
  return clock.now() - t0;
}

const running: Daemon[] = [];
const dirs: string[] = [];

/** Stops every daemon startTestDaemon made and removes their temp dirs (afterEach). */
export async function stopTestDaemons(): Promise<void> {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export function startTestDaemon(
  docker: FakeDocker,
  config: Config,
  options: { ipt?: FakeIptables; extra?: Partial<DaemonOptions> } = {},
): { daemon: Daemon; ipt: FakeIptables; lines: Array<Record<string, unknown>> } {
  const ipt = options.ipt ?? new FakeIptables();
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  const sysctlRoot = mkdtempSync(join(tmpdir(), 'dgt-sysctl-'));
  dirs.push(sysctlRoot);
  const daemon = new Daemon({
    config,
    docker,
    log,
    sysctlRoot,
    dataplane: () => new Dataplane(ipt.asIptables()),
    listeners: async () => [],
    ipv6: async () => ({ kind: 'absent' }),
    watchRuleset: false,
    ...options.extra,
  });
  running.push(daemon);
  daemon.start();
  return { daemon, ipt, lines };
}

/**
 * A daemon on fake time (a FakeClock it shares with the scripted Docker), its first rules written:
 * `run` moves the clock, `runUntil` until something holds (returning the fake ms it took).
 */
export async function startOnFakeTime(docker: FakeDocker, config: Config, options: { ipt?: FakeIptables; extra?: Partial<DaemonOptions>; clock?: FakeClock } = {}) {
  const clock = options.clock ?? new FakeClock();
  docker.clock = clock;
  const t = startTestDaemon(docker, config, { ipt: options.ipt, extra: { clock, ...options.extra } });
  await advance(t.daemon, clock, 0);
  await t.daemon.ready;
  return {
    ...t,
    clock,
    run: (ms: number) => advance(t.daemon, clock, ms),
    runUntil: (what: string, probe: () => boolean, limitMs: number) => advanceUntil(t.daemon, clock, what, probe, limitMs),
  };
}
