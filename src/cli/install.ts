// `dockgate install` / `uninstall`: the systemd unit, the default config and Docker's daemon.json
// settings, all under --root (default /). Everything is read and checked before anything is
// written; the install record lets uninstall undo exactly what install did.
import { access, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ConfigError, parseConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { probedIptables } from '../dataplane/families.js';
import { type Iptables, RestoreError, SaveError } from '../dataplane/iptables.js';
import { type DockerFlush, familyTable, renderDockerFlush } from '../install/docker-chains.js';
import type { Family } from '../model/types.js';
import { CLI_SCRIPT, DEFAULT_CONFIG, UNIT_TEMPLATE, applyActions, execStartArgv, readSnapshot, renderUnit, unwritable } from '../install/install-files.js';
import type { FileAction } from '../install/install-plan.js';
import { InstallError, planInstall } from '../install/install-plan.js';
import { planUninstall } from '../install/uninstall-plan.js';
import { CONFIG_PATH, STATE_PATH } from '../install/install-state.js';
import { CliError } from './context.js';
import { installedDockerHost, routeLocalnetOff } from './flush.js';
import { errorMessage } from '../util/errors.js';

export interface InstallOptions {
  root?: string;
  flushDockerChains?: boolean;
  /** With flushDockerChains: also remove the admin's own rules in DOCKER-USER. */
  force?: boolean;
}

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

async function resolveRoot(command: string, root: string | undefined): Promise<string> {
  const dir = resolve(root ?? '/');
  try {
    if ((await stat(dir)).isDirectory()) return dir;
  } catch {
    // reported below
  }
  throw new CliError(`dockgate ${command}: --root ${dir} is not a directory`, 1);
}

async function readPackageFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new CliError(`dockgate install: cannot read ${path} from the dockgate package: ${errorMessage(err)}`, 1);
  }
}

/** Directories the unit's sandbox hides from the service: a dockgate installed there cannot start. */
const HIDDEN_FROM_UNIT = ['/home/', '/root/', '/run/user/', '/tmp/', '/var/tmp/'];

function planError(command: string, err: unknown): never {
  if (err instanceof InstallError) {
    throw new CliError(`dockgate ${command}: ${err.problems.join(`\ndockgate ${command}: `)}`, 1);
  }
  throw err;
}

async function ensureWritable(command: string, root: string, actions: readonly FileAction[]): Promise<void> {
  const denied = await unwritable(root, actions);
  if (denied.length > 0) {
    throw new CliError(`dockgate ${command}: cannot write in ${denied.join(', ')} (run it as root); nothing was changed`, 1);
  }
}

/** The config dockgate will run with: the one under the root, else the packaged default. */
async function configInForce(root: string, defaultText: string): Promise<Config> {
  const path = join(root, CONFIG_PATH);
  let text = defaultText;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    // not installed yet: the default will be
  }
  try {
    return parseConfig(text, path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`dockgate install: config error: ${err.message}`, 2);
    throw err;
  }
}

/** The Debian package's unit, when this dockgate runs from the package and that unit is there. */
const PACKAGE_UNIT = '/lib/systemd/system/dockgate.service';
const PACKAGE_DIR = '/usr/lib/dockgate/';

async function packagedUnit(root: string): Promise<{ packagedUnit?: string }> {
  if (!CLI_SCRIPT.startsWith(PACKAGE_DIR)) return {};
  try {
    await access(join(root, PACKAGE_UNIT));
    return { packagedUnit: PACKAGE_UNIT };
  } catch {
    return {};
  }
}

type DockerFlushes = Array<{ family: Family; iptables: Iptables; flush: DockerFlush }>;

/**
 * Docker's chains in the firewall, and what removing them means, per family: Docker 27 and later
 * write ip6tables rules as well (ip6tables on by default). Refuses, before anything changes, to
 * remove an admin's DOCKER-USER rules without --force.
 */
async function readDockerFlushes(root: string, defaultConfigText: string, force: boolean): Promise<DockerFlushes> {
  const flushes: DockerFlushes = [];
  const config = await configInForce(root, defaultConfigText);
  const queue = new CommandQueue();
  const { v4, v6 } = await probedIptables(queue, config.iptables);
  const families: Array<{ family: Family; iptables: Iptables }> = [{ family: 4, iptables: v4 }, ...(v6 ? [{ family: 6 as const, iptables: v6 }] : [])];
  for (const { family, iptables } of families) {
    try {
      flushes.push({ family, iptables, flush: renderDockerFlush(await iptables.save(), { force }) });
    } catch (err) {
      if (err instanceof SaveError) throw new CliError(`dockgate install: cannot read the firewall, nothing was changed: ${err.message}`, 1);
      throw err;
    }
  }
  if (flushes.some((f) => f.flush.refused)) {
    // DOCKER-USER is where admins put their own forward rules: losing them silently would open
    // what they closed, so nothing happens (no file either) until they move them or say --force.
    throw new CliError(
      [
        "dockgate install: DOCKER-USER holds rules that are not Docker's; --flush-docker-chains would remove them:",
        ...flushes.flatMap(({ family, flush }) => flush.adminRules.map((r) => `  ${familyTable(family, r.table)}/${r.chain}: ${r.line}`)),
        'Move them to DOCKGATE-USER (dockgate jumps to it before its own accepts) and run this again,',
        'or add --force to remove them with the rest; nothing was changed',
      ].join('\n'),
      1,
    );
  }
  return flushes;
}

/** Removes Docker's chains, one iptables-restore per family, and says what went. */
async function applyDockerFlushes(flushes: DockerFlushes): Promise<void> {
  if (flushes.every((f) => f.flush.text === '')) {
    out("  no Docker chains in the firewall (Docker's DOCKER* chains and raw rules are already gone)");
  }
  for (const { family, iptables, flush } of flushes) {
    if (flush.text === '') continue;
    const where = (table: string, chain: string): string => `${familyTable(family, table)}/${chain}`;
    try {
      // One iptables-restore for every table of Docker's chains.
      await iptables.restoreDockerFlush(flush.text);
    } catch (err) {
      if (err instanceof RestoreError) {
        throw new CliError(`dockgate install: files are installed, but removing Docker's chains failed: ${err.message}\n${err.failingLines.join('\n')}`, 1);
      }
      throw err;
    }
    if (flush.chains.length > 0) out(`  removed Docker's chains ${flush.chains.map((c) => where(c.table, c.chain)).join(', ')}`);
    const forced = new Set(flush.adminRules.map((r) => `${r.table}/${r.chain} ${r.line}`));
    for (const r of flush.adminRules) out(`  removed ${where(r.table, r.chain)} rule (--force): ${r.line}`);
    for (const j of [...flush.jumps, ...flush.rules]) {
      if (!forced.has(`${j.table}/${j.chain} ${j.line}`)) out(`  removed ${where(j.table, j.chain)} rule: ${j.line}`);
    }
  }
}

export async function install(options: InstallOptions): Promise<void> {
  if (options.force && !options.flushDockerChains) {
    throw new CliError('dockgate install: --force only applies with --flush-docker-chains', 2);
  }
  const root = await resolveRoot('install', options.root);
  const [template, defaultConfigText] = await Promise.all([readPackageFile(UNIT_TEMPLATE), readPackageFile(DEFAULT_CONFIG)]);
  const argv = execStartArgv(CONFIG_PATH);
  const unitText = renderUnit(template, argv);
  const snapshot = await readSnapshot(root);
  let plan: ReturnType<typeof planInstall>;
  try {
    plan = planInstall({ snapshot, root, unitText, defaultConfigText, ...(await packagedUnit(root)) });
  } catch (err) {
    planError('install', err);
  }

  // Read the firewall before writing any file, so a broken iptables also means no change at all.
  const flushes = options.flushDockerChains ? await readDockerFlushes(root, defaultConfigText, options.force ?? false) : [];

  await ensureWritable('install', root, plan.actions);
  await applyActions(root, plan.actions);
  out(`dockgate install${root === '/' ? '' : ` (root ${root})`}:`);
  for (const line of plan.report) out(`  ${line}`);
  if (plan.actions.length === 0) out('  nothing to change: already installed');
  out(`  unit starts: ${argv.join(' ')}`);
  const hidden = [process.execPath, CLI_SCRIPT].filter((p) => HIDDEN_FROM_UNIT.some((h) => p.startsWith(h)));
  if (hidden.length > 0) {
    out(`  WARNING: ${hidden.join(' and ')} lie where the unit's sandbox (ProtectHome/PrivateTmp) hides them;`);
    out('           install node and dockgate system-wide (e.g. npm install -g as root) and run install again');
  }

  if (options.flushDockerChains) await applyDockerFlushes(flushes);

  out('');
  out('Still to do:');
  out('  systemctl daemon-reload');
  if (plan.dockerChanges.length > 0) {
    // Chains flushed while the old dockerd still has iptables on: its next `-p` would fail.
    const why = options.flushDockerChains ? 'now: until then Docker runs with iptables on, without its chains' : 'once: Docker reads daemon.json only at start';
    out(`  systemctl restart docker        # ${why}`);
  }
  if (!options.flushDockerChains) {
    out("  dockgate install --flush-docker-chains   # after Docker's restart: removes its old DOCKER* chains");
  }
  out('  systemctl enable --now dockgate');
  out('  dockgate doctor');
}

export async function uninstall(options: { root?: string }): Promise<void> {
  const root = await resolveRoot('uninstall', options.root);
  const snapshot = await readSnapshot(root);
  let plan: ReturnType<typeof planUninstall>;
  try {
    plan = planUninstall({ snapshot, root });
  } catch (err) {
    planError('uninstall', err);
  }
  await ensureWritable('uninstall', root, plan.actions);
  // Only on this very host (--root DIR is another system's files), and read before the config goes.
  const dockerHost = root === '/' ? installedDockerHost() : undefined;
  const { keptDirs } = await applyActions(root, plan.actions);
  out(`dockgate uninstall${root === '/' ? '' : ` (root ${root})`}:`);
  for (const line of plan.report) out(`  ${line}`);
  out(`  removed ${STATE_PATH}`);
  for (const d of keptDirs) out(`  kept ${d}: not empty`);
  if (dockerHost !== undefined) {
    try {
      for (const line of await routeLocalnetOff(dockerHost)) out(`  ${line}`);
    } catch (err) {
      out(`  WARNING: route_localnet could not be turned off on Docker's bridges: ${errorMessage(err)}`);
    }
  }
  out('');
  out('Still to do:');
  out('  systemctl daemon-reload');
  if (plan.dockerChanges.length > 0) out('  systemctl restart docker        # Docker takes its own iptables handling back');
  out("  dockgate flush                  # if dockgate's chains are still in the firewall");
}
