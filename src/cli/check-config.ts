// `dockgate check-config`: the same loading and checks as `run` and its SIGHUP reload, without
// starting anything, so the unit's ExecReload can refuse a bad file before the daemon is sent
// HUP: a reload the daemon rejects shows only in its log, a failing ExecReload fails
// `systemctl reload` itself.
import { ConfigError, type LoadedConfig, readConfigFile } from '../config/load.js';
import { createLogger } from './log.js';
import { CliError, EXIT_CONFIG } from './errors.js';

export interface CheckConfigOptions {
  config?: string;
  /**
   * Report as one pino JSON line, the way the daemon logs: the unit's ExecReload writes into the
   * daemon's journal, which is documented (and read by `dockgate logs`, jq) as JSON only.
   */
  logJson?: boolean;
}

export function checkConfig(options: CheckConfigOptions): number {
  let loaded: LoadedConfig;
  try {
    loaded = readConfigFile(options.config);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    if (!options.logJson) throw new CliError(`dockgate: config error: ${err.message}`, EXIT_CONFIG);
    createLogger('info').error(
      { event: 'reload-rejected', file: err.file, key: err.key, err: err.message },
      `new configuration rejected, the old one stays in force: ${err.message}`,
    );
    return EXIT_CONFIG;
  }
  const { file } = loaded;
  // A missing file at the default path is not an error: run uses the built-in defaults.
  const what = loaded.builtIn ? `built-in defaults (${file} does not exist)` : file;
  if (options.logJson) createLogger('info').info({ event: 'config-checked', file }, `configuration ok: ${what}`);
  else process.stdout.write(`ok: ${what}\n`);
  return 0;
}
