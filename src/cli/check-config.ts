// `dockgate check-config`: the same loading and checks as `run` and its SIGHUP reload, without
// starting anything, so the unit's ExecReload can refuse a bad file before the daemon is sent
// HUP: a reload the daemon rejects shows only in its log, a failing ExecReload fails
// `systemctl reload` itself.
import { ConfigError, type LoadedConfig, readConfigFile } from '../config/load.js';
import { createLogger } from './log.js';
import { CliError, EXIT_CONFIG } from './errors.js';
import { probeTableSync, rawMissingMessage } from '../dataplane/kernel-limits.js';
import type { Family } from '../model/types.js';
import { existsSync } from 'node:fs';

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
  // The commands the config names, asked what the kernel lacks: said, never refused, since run
  // works without it (README, "Small and restricted kernels").
  const { iptables } = loaded.config;
  // A host booted without IPv6 has no ip6tables tables at all, which is no limit of this kind.
  const families: Array<[Family, string]> = [[4, iptables.saveCommand], ...(existsSync('/proc/sys/net/ipv6') ? [[6, iptables.ip6SaveCommand] as [Family, string]] : [])];
  for (const [family, save] of families) {
    const probe = probeTableSync(save, 'raw');
    if (probe.kind !== 'missing') continue;
    if (options.logJson) createLogger('info').warn({ event: 'kernel-limit', table: 'raw', family, missing: true }, rawMissingMessage(family));
    else process.stdout.write(`warn: ${rawMissingMessage(family)} (${probe.reason})\n`);
  }
  return 0;
}
