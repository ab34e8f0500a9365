// `dockgate check-config`: the same loading and checks as `run` and its SIGHUP reload, without
// starting anything, so the unit's ExecReload can refuse a bad file before the daemon is sent
// HUP: a reload the daemon rejects shows only in its log, a failing ExecReload fails
// `systemctl reload` itself.
import { existsSync } from 'node:fs';
import { ConfigError, DEFAULT_CONFIG_PATH, loadConfig } from '../config/load.js';
import { createLogger } from './log.js';
import { EXIT_CONFIG, readConfig } from './context.js';

export interface CheckConfigOptions {
  config?: string;
  /**
   * Report as one pino JSON line, the way the daemon logs: the unit's ExecReload writes into the
   * daemon's journal, which is documented (and read by `dockgate logs`, jq) as JSON only.
   */
  logJson?: boolean;
}

export function checkConfig(options: CheckConfigOptions): number {
  const file = options.config ?? DEFAULT_CONFIG_PATH;
  if (!options.logJson) {
    readConfig(options.config);
  } else {
    try {
      loadConfig(options.config);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      createLogger('info').error(
        { event: 'reload-rejected', file: err.file, key: err.key, err: err.message },
        `new configuration rejected, the old one stays in force: ${err.message}`,
      );
      return EXIT_CONFIG;
    }
  }
  // Without --config a missing default file is not an error: run uses the built-in defaults.
  const what = options.config !== undefined || existsSync(file) ? file : `built-in defaults (${file} does not exist)`;
  if (options.logJson) createLogger('info').info({ event: 'config-checked', file }, `configuration ok: ${what}`);
  else process.stdout.write(`ok: ${what}\n`);
  return 0;
}
