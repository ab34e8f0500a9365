// `dockgate run`: the daemon's process lifecycle (signals, readiness, exit codes).
import type { Logger } from 'pino';
import { ConfigError, type LoadedConfig, readConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { Daemon } from '../daemon/daemon.js';
import { commandObserver } from '../daemon/command-log.js';
import { announce } from '../daemon/presence.js';
import { SwarmNodeError } from '../docker/info.js';
import { notifyReady } from '../dataplane/notify.js';
import { createLogger } from './log.js';
import type { DockgateMetrics } from '../metrics/metrics.js';
import type { MetricsServer } from '../metrics/server.js';
import type { MetricsListen } from '../config/endpoints.js';
import { CliError, EXIT_CONFIG, dockerFor } from './context.js';
import type { DropLogService } from '../drops/service.js';
import { bracketed } from '../model/format.js';
import { errorMessage } from '../util/errors.js';

export async function runDaemon(options: { config?: string }): Promise<void> {
  const loaded = readStartConfig(options.config);
  const config = loaded.config;
  const log = createLogger(config.logLevel);
  // Not an error (the file is optional), but a deleted file should not go unnoticed.
  const sayIfBuiltIn = (l: LoadedConfig): void => {
    if (l.builtIn) log.warn({ event: 'config-missing', file: l.file }, `${l.file} does not exist: running with the built-in defaults`);
  };
  sayIfBuiltIn(loaded);
  const docker = dockerFor(config);
  const { queue, metrics } = await queueAndMetrics(config, log);
  const daemon = new Daemon({ config, docker, log, queue, metrics });
  const endpoint = new MetricsEndpoint(config.metrics, metrics, log);
  // drops.log applies at start only (like the rules' NFLOG group it reads): config.yaml says so.
  let dropLog: DropLogService | undefined;
  log.info({ event: 'starting', docker: docker.host, config: options.config ?? '(default)', node: process.version }, 'dockgate starting');
  const release = await announcePresence(log);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, `${signal}: stopping; rules stay in place`);
    // The socket file goes with the server: exit() alone would leave it behind.
    // The presence first: a flush right after a stop must not be refused.
    void Promise.allSettled([release(), daemon.stop(), endpoint.close(), dropLog?.stop()]).then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const reread = readConfigFile(options.config);
      const next = reread.config;
      sayIfBuiltIn(reread);
      log.level = next.logLevel;
      // A new address, or off: applied now. Turned on when it was off at start: the counters
      // were never kept (prom-client is not even loaded), so that one needs a restart.
      const changed = JSON.stringify(next.metrics) !== JSON.stringify(endpoint.listening);
      const needsRestart = changed && !metrics && next.metrics.kind !== 'off' ? ['metrics.listen'] : [];
      if (changed && needsRestart.length === 0) void endpoint.move(next.metrics);
      daemon.reload(next, needsRestart);
    } catch (err) {
      const message = errorMessage(err);
      log.error({ event: 'reload-rejected', err: message }, `new configuration rejected, the old one stays in force: ${message}`);
    }
  });

  // Before the first sync, so that start-up itself is measured.
  await endpoint.start(config.metrics);
  if (config.drops.log && !stopping) {
    const { DropLogService } = await import('../drops/service.js');
    dropLog = await DropLogService.start({ config: config.drops, queue, log, facts: () => daemon.facts });
    if (metrics) (await import('../drops/metrics.js')).registerDropMetrics(metrics.registry, dropLog.recorder);
  }
  if (stopping) {
    await Promise.allSettled([endpoint.close(), dropLog?.stop()]);
    return;
  }
  daemon.start();
  try {
    await daemon.ready;
  } catch (err) {
    if (!(err instanceof SwarmNodeError)) throw err;
    // Exit 2 as for a bad config: restarting cannot change it (the unit's RestartPreventExitStatus).
    // exit(), as on SIGTERM: nothing else is left to wait for.
    await Promise.allSettled([release(), daemon.stop(), endpoint.close(), dropLog?.stop()]);
    process.stderr.write(`dockgate: ${err.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  // systemd (Type=notify) counts the unit as started only once the first rule set is in place.
  // Its own process queue: readiness does not wait behind restores queued meanwhile.
  await notifyReady(log);
}

/**
 * The one command queue, every command logged at debug; the metrics, counting them too, only
 * when metrics.listen asks for them (off by default: prom-client is not even loaded).
 */
async function queueAndMetrics(config: Config, log: Logger): Promise<{ queue: CommandQueue; metrics: DockgateMetrics | undefined }> {
  // The queue's length is read at scrape time only, after the queue below exists.
  const length = {
    get pending(): number {
      return queue.pending;
    },
  };
  const metrics = config.metrics.kind === 'off' ? undefined : new (await import('../metrics/metrics.js')).DockgateMetrics({ queue: length });
  const queue: CommandQueue = new CommandQueue({ onDone: commandObserver(log, metrics) });
  return { queue, metrics };
}

/** The config to start with; a bad one stops start-up with exit 2 (the unit does not restart it). */
function readStartConfig(path: string | undefined): LoadedConfig {
  try {
    return readConfigFile(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`dockgate: config error: ${err.message}`, EXIT_CONFIG);
    throw err;
  }
}

/**
 * Lets `dockgate flush` see that this daemon runs here (a flush would be undone at the next
 * check). Never a reason to leave the firewall unkept: a failure is a warning. Returns the release.
 */
async function announcePresence(log: ReturnType<typeof createLogger>): Promise<() => Promise<void>> {
  try {
    const presence = await announce();
    if (presence.kind === 'held') return presence.close;
    const who = presence.by?.pid === undefined ? '' : ` (pid ${presence.by.pid})`;
    log.warn(
      { event: 'another-daemon', pid: presence.by?.pid },
      `another dockgate run${who} is running in this network namespace: both write the same chains; stop one of them`,
    );
  } catch (err) {
    log.warn({ event: 'another-daemon', err: errorMessage(err) }, `cannot tell dockgate flush that the daemon runs: ${errorMessage(err)}`);
  }
  return async () => undefined;
}

/** The metrics server where metrics.listen last said: started, moved or closed by a reload, closed on stop. */
class MetricsEndpoint {
  #server: MetricsServer | undefined;
  /** metrics.listen as last applied. */
  listening: MetricsListen;

  constructor(
    listen: MetricsListen,
    private readonly metrics: DockgateMetrics | undefined,
    private readonly log: ReturnType<typeof createLogger>,
  ) {
    this.listening = listen;
  }

  /**
   * At start-up. A socket that cannot be bound costs the metrics, never the firewall: logged, and
   * dockgate runs on without them.
   */
  async start(listen: MetricsListen): Promise<void> {
    const metrics = this.metrics;
    if (!metrics || listen.kind === 'off') return;
    const where = listen.kind === 'unix' ? listen.path : `${bracketed(listen.host)}:${listen.port}`;
    const { startMetricsServer } = await import('../metrics/server.js');
    try {
      this.#server = await startMetricsServer(listen, metrics.registry);
      this.log.info({ event: 'metrics-listening', listen: this.#server.address }, `metrics served on ${this.#server.address} (GET /metrics)`);
    } catch (err) {
      this.log.error({ event: 'metrics-failed', listen: where, err: errorMessage(err) }, `cannot serve metrics on ${where}: ${errorMessage(err)}; running without them`);
    }
  }

  /** A reload: the old server closes, a new one opens where `next` says (none when off). */
  async move(next: MetricsListen): Promise<void> {
    const old = this.#server;
    this.#server = undefined;
    await old?.close();
    this.listening = next;
    if (next.kind === 'off' || !this.metrics) return;
    const { startMetricsServer } = await import('../metrics/server.js');
    try {
      this.#server = await startMetricsServer(next, this.metrics.registry);
      this.log.info({ event: 'metrics-listening', listen: this.#server.address }, `metrics served on ${this.#server.address} (GET /metrics)`);
    } catch (err) {
      this.log.error({ event: 'metrics-failed', err: errorMessage(err) }, `cannot serve metrics there: ${errorMessage(err)}; running without them`);
    }
  }

  /** The socket file goes with the server: exit() alone would leave it behind. */
  close(): Promise<void> | undefined {
    return this.#server?.close();
  }
}
