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
import type { FakeDocker } from './fake-docker.js';
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

/** Polls `probe` every 5 ms until it gives something (not undefined/false), at most `timeoutMs`. */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`timed out waiting for ${what}`);
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
