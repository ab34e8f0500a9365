// What `dockgate install` will do (uninstall-plan.ts: `uninstall`), computed from a snapshot of the files they
// touch. Pure: every file is read and every problem found before the first byte is written, so a
// malformed daemon.json (or config, or install record) means nothing changes at all.
import { ConfigError, parseConfig } from '../config/load.js';
import type { Mode } from '../model/types.js';
import { DAEMON_JSON, EMPTY_DAEMON_JSON, type KeyChange, mergeDaemonJson, wantedDockerSettings } from './daemon-json.js';
import { JsonSyntaxError } from './json-text.js';
import {
  CONFIG_PATH,
  type DaemonJsonRecord,
  ENABLED_LINK,
  type FileRecord,
  type InstallState,
  STATE_PATH,
  UNIT_PATH,
  parseState,
  renderState,
  sha256,
} from './install-state.js';
import { errorMessage } from '../util/errors.js';

/** The files install and uninstall look at, as they are now. Paths are root-relative ('/etc/...'). */
export interface HostSnapshot {
  files: ReadonlyMap<string, string>;
  dirs: ReadonlySet<string>;
  /** Paths that exist as something else than a regular file or directory (symlinks included). */
  others?: ReadonlySet<string>;
}

/** Every path a snapshot must cover: the files and each of their parent directories. */
export const SNAPSHOT_FILES: readonly string[] = [UNIT_PATH, CONFIG_PATH, DAEMON_JSON, STATE_PATH];
export const SNAPSHOT_LINKS: readonly string[] = [ENABLED_LINK];

export function parentDirs(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(`/${parts.slice(0, i).join('/')}`);
  return out;
}

export type FileAction =
  | { kind: 'mkdir'; path: string }
  /** mode: undefined keeps an existing file's mode (0644 for a new one). */
  | { kind: 'write'; path: string; text: string; mode?: number }
  | { kind: 'remove'; path: string }
  /** Removed only when empty: something else may have put files there since. */
  | { kind: 'rmdir'; path: string };

export interface HostPlan {
  actions: FileAction[];
  /** One line per thing changed or deliberately left, for the admin. */
  report: string[];
  /** The daemon.json keys changed by this run (install: set; uninstall: reverted). */
  dockerChanges: KeyChange[];
}

export class InstallError extends Error {
  override readonly name = 'InstallError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
  }
}

export interface InstallInputs {
  snapshot: HostSnapshot;
  /** The install root as given (only used in messages: '/' or '/tmp/x'). */
  root: string;
  /** The unit file to install (ExecStart already pointing at this installation). */
  unitText: string;
  /** The documented default config (the repo's config/config.yaml). */
  defaultConfigText: string;
  /**
   * Where the Debian package installed its own unit, when this dockgate is that package: then
   * install writes no unit (one in /etc would hide the package's, upgrades included).
   */
  packagedUnit?: string;
}

export function shown(root: string, path: string): string {
  return root === '/' || root === '' ? path : `${root.replace(/\/+$/, '')}${path}`;
}

export function describeJsonError(file: string, err: unknown): string {
  if (err instanceof JsonSyntaxError) return `${file}: ${err.message}`;
  return `${file}: ${errorMessage(err)}`;
}

export function readState(snapshot: HostSnapshot, root: string, problems: string[]): InstallState | undefined {
  const text = snapshot.files.get(STATE_PATH);
  if (text === undefined) return undefined;
  const r = parseState(text);
  if (r.ok) return r.value;
  problems.push(`${shown(root, STATE_PATH)}: install record is damaged, ${r.error}; fix or remove it`);
  return undefined;
}

function fileChange(path: string, before: string | undefined, after: string): { changed: boolean; line: string } {
  if (before === undefined) return { changed: true, line: `created ${path}` };
  if (before === after) return { changed: false, line: `unchanged ${path}` };
  return { changed: true, line: `updated ${path}` };
}

function describeKeyChange(c: KeyChange): string {
  return `"${c.key}": ${c.next} (was ${c.previous === null ? 'absent' : c.previous})`;
}

/**
 * The record of a daemon.json install writes: a first write keeps the file as it was; a later one
 * keeps each key's first value, and the original text only while nobody else changed the file.
 */
function daemonJsonRecord(oldRec: DaemonJsonRecord | null, oldDaemon: string | undefined, merged: ReturnType<typeof mergeDaemonJson>): DaemonJsonRecord {
  if (!oldRec || oldDaemon === undefined) {
    return { path: DAEMON_JSON, created: oldDaemon === undefined, originalText: oldDaemon ?? null, writtenSha256: sha256(merged.text), changes: merged.changes };
  }
  const untouchedSince = sha256(oldDaemon) === oldRec.writtenSha256;
  const changes = oldRec.changes.map((c) => {
    const now = merged.changes.find((n) => n.key === c.key);
    return now ? { ...c, next: now.next } : c;
  });
  for (const c of merged.changes) if (!changes.some((o) => o.key === c.key)) changes.push(c);
  return {
    ...oldRec,
    originalText: untouchedSince ? oldRec.originalText : null,
    writtenSha256: sha256(merged.text),
    changes,
  };
}

/** The directories missing for the files written now (to make), and every one install made so far (to record). */
function plannedDirs(snapshot: HostSnapshot, earlier: readonly string[], writes: readonly FileAction[]): { dirs: string[]; mkdirs: FileAction[] } {
  const dirs = [...earlier];
  const mkdirs: FileAction[] = [];
  const needed = [...writes.map((w) => w.path), STATE_PATH].flatMap(parentDirs);
  for (const d of needed) {
    if (snapshot.dirs.has(d) || mkdirs.some((m) => m.path === d)) continue;
    mkdirs.push({ kind: 'mkdir', path: d });
    if (!dirs.includes(d)) dirs.push(d);
  }
  return { dirs, mkdirs };
}

export function planInstall(inputs: InstallInputs): HostPlan & { state: InstallState; mode: Mode } {
  const { snapshot, root } = inputs;
  const problems: string[] = [];
  const old = readState(snapshot, root, problems);
  for (const p of SNAPSHOT_FILES) {
    if (snapshot.dirs.has(p) || snapshot.others?.has(p)) problems.push(`${shown(root, p)} exists but is not a regular file`);
  }

  // The config that will be in force decides whether Docker also needs userland-proxy off.
  const existingConfig = snapshot.files.get(CONFIG_PATH);
  let mode: Mode = 'proxy';
  try {
    mode = parseConfig(existingConfig ?? inputs.defaultConfigText, shown(root, CONFIG_PATH)).defaults.mode;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(`${err.message} (fix the config first: install reads defaults.mode from it)`);
  }

  const oldDaemon = snapshot.files.get(DAEMON_JSON);
  let merged: ReturnType<typeof mergeDaemonJson> | undefined;
  try {
    merged = mergeDaemonJson(oldDaemon ?? EMPTY_DAEMON_JSON, wantedDockerSettings(mode));
  } catch (err) {
    problems.push(`${describeJsonError(shown(root, DAEMON_JSON), err)}; fix the file, dockgate will not rewrite a file it cannot read`);
  }
  if (problems.length > 0 || !merged) throw new InstallError([...problems, 'nothing was changed']);

  const report: string[] = [];
  const writes: FileAction[] = [];
  const files: FileRecord[] = [];
  const recordOf = (path: string): FileRecord | undefined => old?.files.find((f) => f.path === path);

  // Unit: always dockgate's own. One that was there before (and was not ours) is kept in the
  // record so uninstall can put it back.
  const oldUnit = snapshot.files.get(UNIT_PATH);
  const unitRec = recordOf(UNIT_PATH);
  if (inputs.packagedUnit !== undefined) {
    report.push(`kept the package's unit ${inputs.packagedUnit} (no copy in ${UNIT_PATH}, which would hide it)`);
    if (unitRec) files.push(unitRec);
  } else {
    const unit = fileChange(UNIT_PATH, oldUnit, inputs.unitText);
    if (unit.changed) writes.push({ kind: 'write', path: UNIT_PATH, text: inputs.unitText, mode: 0o644 });
    report.push(unit.line);
    files.push({ path: UNIT_PATH, role: 'unit', previousText: unitRec ? unitRec.previousText : (oldUnit ?? null), writtenSha256: sha256(inputs.unitText) });
  }

  // Config: the admin's once it exists; only ever created, never overwritten.
  const configRec = recordOf(CONFIG_PATH);
  if (existingConfig === undefined) {
    writes.push({ kind: 'write', path: CONFIG_PATH, text: inputs.defaultConfigText, mode: 0o644 });
    report.push(`created ${CONFIG_PATH} (the documented defaults)`);
    files.push({ path: CONFIG_PATH, role: 'config', previousText: null, writtenSha256: sha256(inputs.defaultConfigText) });
  } else {
    report.push(`kept ${CONFIG_PATH} (exists; defaults.mode is ${mode})`);
    if (configRec) files.push(configRec);
  }

  // daemon.json: only the keys that differ are touched; the first value each key had is kept.
  const oldRec = old?.daemonJson ?? null;
  let daemonJson: DaemonJsonRecord | null = oldRec;
  if (merged.changes.length > 0) {
    writes.push({ kind: 'write', path: DAEMON_JSON, text: merged.text });
    report.push(`${oldDaemon === undefined ? 'created' : 'updated'} ${DAEMON_JSON}: ${merged.changes.map(describeKeyChange).join(', ')}`);
    daemonJson = daemonJsonRecord(oldRec, oldDaemon, merged);
  } else {
    report.push(`unchanged ${DAEMON_JSON} (Docker settings already in place)`);
  }

  // Directories: those missing for the files written now, plus those an earlier run created.
  const { dirs, mkdirs } = plannedDirs(snapshot, old?.dirs ?? [], writes);

  const state: InstallState = { version: 1, dirs, files, daemonJson };
  const stateText = renderState(state);
  const actions: FileAction[] = [...mkdirs];
  // The record goes first: if a later write fails, uninstall still knows what may have changed.
  if (snapshot.files.get(STATE_PATH) !== stateText) actions.push({ kind: 'write', path: STATE_PATH, text: stateText, mode: 0o644 });
  actions.push(...writes);
  return { actions, report, dockerChanges: merged.changes, state, mode };
}
