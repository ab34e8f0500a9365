// The file side of install/uninstall: reads the snapshot the planner needs and carries out its
// actions under the install root. Every write goes to a temporary file first and is renamed into
// place, so a crash never leaves half a daemon.json behind.
import { constants } from 'node:fs';
import { access, lstat, mkdir, readFile, realpath, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FileAction, type HostSnapshot, SNAPSHOT_FILES, SNAPSHOT_LINKS, parentDirs } from './install-plan.js';

/** The package's own files (systemd/, config/), found from this module's place in dist/ or src/. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const UNIT_TEMPLATE = join(PACKAGE_ROOT, 'systemd', 'dockgate.service');
export const DEFAULT_CONFIG = join(PACKAGE_ROOT, 'config', 'config.yaml');
/** The CLI entry point the unit should start. */
export const CLI_SCRIPT = join(PACKAGE_ROOT, 'dist', 'cli', 'main.js');

export function under(root: string, path: string): string {
  return join(root, path);
}

export async function readSnapshot(root: string): Promise<HostSnapshot> {
  const files = new Map<string, string>();
  const dirs = new Set<string>();
  const others = new Set<string>();
  const paths = new Set<string>([...SNAPSHOT_FILES, ...SNAPSHOT_LINKS, ...[...SNAPSHOT_FILES, ...SNAPSHOT_LINKS].flatMap(parentDirs)]);
  for (const p of paths) {
    let s;
    try {
      s = await lstat(under(root, p));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') continue;
      throw err;
    }
    // The enable link is a symlink, and /etc/docker may be one: follow it for the type.
    const real = s.isSymbolicLink() ? await stat(under(root, p)).catch(() => s) : s;
    if (real.isDirectory()) dirs.add(p);
    else if (real.isFile() && SNAPSHOT_FILES.includes(p)) files.set(p, await readFile(under(root, p), 'utf8'));
    else others.add(p);
  }
  return { files, dirs, others };
}

export interface ApplyResult {
  /** Directories left in place because something else now lives in them. */
  keptDirs: string[];
}

async function writeAtomic(target: string, text: string, mode: number | undefined): Promise<void> {
  let fileMode = mode;
  if (fileMode === undefined) {
    try {
      fileMode = (await stat(target)).mode & 0o7777;
    } catch {
      fileMode = 0o644;
    }
  }
  const tmp = join(dirname(target), `.${process.pid}.dockgate-tmp`);
  await writeFile(tmp, text, { mode: fileMode });
  try {
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A symlinked file (daemon.json kept elsewhere, say) is written where it points, keeping the link. */
async function writeTarget(path: string): Promise<string> {
  try {
    if ((await lstat(path)).isSymbolicLink()) return await realpath(path);
  } catch {
    // does not exist yet
  }
  return path;
}

/**
 * Paths the actions cannot write (their nearest existing directory is not writable): checked
 * before the first write, so that a run without root privileges changes nothing.
 */
export async function unwritable(root: string, actions: readonly FileAction[]): Promise<string[]> {
  const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
  const out: string[] = [];
  for (const a of actions) {
    // the directory that must accept the change: the nearest existing one above the path
    let dir = dirname(under(root, a.path));
    while (dir !== dirname(dir) && !(await exists(dir))) dir = dirname(dir);
    const writable = await access(dir, constants.W_OK).then(() => true, () => false);
    if (!writable && !out.includes(dir)) out.push(dir);
  }
  return out;
}

export async function applyActions(root: string, actions: readonly FileAction[]): Promise<ApplyResult> {
  const keptDirs: string[] = [];
  for (const a of actions) {
    const target = a.kind === 'write' ? await writeTarget(under(root, a.path)) : under(root, a.path);
    switch (a.kind) {
      case 'mkdir':
        await mkdir(target, { mode: 0o755 });
        break;
      case 'write':
        await writeAtomic(target, a.text, a.mode);
        break;
      case 'remove':
        await rm(target, { force: true });
        break;
      case 'rmdir':
        try {
          await rmdir(target);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOTEMPTY' || code === 'EEXIST') keptDirs.push(a.path);
          else if (code !== 'ENOENT') throw err;
        }
        break;
    }
  }
  return { keptDirs };
}

/** systemd's quoting for one ExecStart word: plain when safe, else double-quoted with escapes. */
function systemdWord(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '$$$$').replace(/%/g, '%%')}"`;
}

/**
 * The unit template with ExecStart pointing at `argv` (node, this package's CLI script, args),
 * and every ExecReload= that runs the template's dockgate (the check-config before the HUP)
 * pointing at the same program: a reload must check the config with the code that will load it.
 */
export function renderUnit(template: string, argv: readonly string[]): string {
  const start = /^ExecStart=(.*)$/m.exec(template);
  if (!start) throw new Error('unit template has no ExecStart= line');
  const line = `ExecStart=${argv.map(systemdWord).join(' ')}`;
  const templateProgram = start[1]!.trim().split(/\s+/)[0]!;
  // What runs the subcommand here: everything before `run` (node, its flags, the script).
  const runAt = argv.indexOf('run');
  const program = (runAt > 0 ? argv.slice(0, runAt) : argv.slice(0, 1)).map(systemdWord).join(' ');
  const escaped = templateProgram.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return template
    .replace(/^ExecStart=.*$/m, () => line)
    .replace(new RegExp(`^ExecReload=${escaped}(?= )`, 'gm'), () => `ExecReload=${program}`);
}

/**
 * V8 flags for the daemon (the bin script's shebang passes the same ones):
 * - a 1 MiB young generation keeps the resident size lower at the cost of more, shorter
 *   scavenges, which a daemon that mostly sleeps does not notice;
 * - optimizing compiles on the main thread instead of V8's worker threads: each worker's malloc
 *   arena kept the compiler's memory resident for good. The price is paid once, while the hot
 *   code warms up (the first few dozen plans are slower); the steady-state plan time and the
 *   garbage collector's own threads are unchanged.
 * What each saves and costs, measured: docs/performance.md.
 */
export const NODE_FLAGS = ['--max-semi-space-size=1', '--no-concurrent-recompilation'];

/** ExecStart for this installation: the node running now and the CLI script next to this module. */
export function execStartArgv(configPath: string): string[] {
  return [process.execPath, ...NODE_FLAGS, CLI_SCRIPT, 'run', '--config', configPath];
}
