// `dockgate run`: the daemon's process lifecycle (signals, readiness, exit codes).
import { ConfigError, loadConfig } from '../config/load.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { Daemon } from '../daemon/daemon.js';
import { notifyReady } from '../daemon/notify.js';
import { createLogger } from '../log.js';
import { dockerFor, readConfig } from './context.js';

export async function runDaemon(options: { config?: string }): Promise<void> {
  const config = readConfig(options.config);
  const log = createLogger(config.logLevel);
  const docker = dockerFor(config);
  const queue = new CommandQueue();
  const daemon = new Daemon({ config, docker, log, queue });
  log.info({ event: 'starting', docker: docker.host, config: options.config ?? '(default)', node: process.version }, 'dockgate starting');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'stopping', signal }, `${signal}: stopping; rules stay in place`);
    void daemon.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig(options.config);
      log.level = next.logLevel;
      daemon.reload(next);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : (err as Error).message;
      log.error({ event: 'reload-rejected', err: message }, `new configuration rejected, the old one stays in force: ${message}`);
    }
  });

  daemon.start();
  await daemon.ready;
  // systemd (Type=notify) counts the unit as started only once the first rule set is in place.
  await notifyReady(queue, log);
}
