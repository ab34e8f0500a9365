// What `dockgate uninstall` will do, computed from the same snapshot as install's plan: put back
// what install changed, as far as nobody changed it since. Pure, and every problem is found before
// the first byte is written.
import { type KeyChange, revertDaemonJson } from './daemon-json.js';
import { parseObjectText } from './json-text.js';
import { type DaemonJsonRecord, ENABLED_LINK, STATE_PATH, sha256 } from './install-state.js';
import { type FileAction, type HostPlan, type HostSnapshot, InstallError, describeJsonError, readState, shown } from './install-plan.js';

export interface UninstallInputs {
  snapshot: HostSnapshot;
  root: string;
}

export function planUninstall(inputs: UninstallInputs): HostPlan {
  const { snapshot, root } = inputs;
  const problems: string[] = [];
  if (!snapshot.files.has(STATE_PATH)) {
    throw new InstallError([`nothing to uninstall: no install record at ${shown(root, STATE_PATH)} (was it installed with a different --root?)`]);
  }
  const state = readState(snapshot, root, problems);
  if (snapshot.files.has(ENABLED_LINK) || snapshot.others?.has(ENABLED_LINK)) {
    problems.push(`dockgate.service is still enabled (${shown(root, ENABLED_LINK)}): run \`systemctl disable --now dockgate\` first`);
  }

  const report: string[] = [];
  const actions: FileAction[] = [];
  let dockerChanges: KeyChange[] = [];

  const rec = state?.daemonJson ?? null;
  if (rec) {
    const now = snapshot.files.get(rec.path);
    if (now === undefined) {
      report.push(`${rec.path} is gone; nothing to restore there`);
    } else if (sha256(now) === rec.writtenSha256) {
      // Nobody touched it since install: put back exactly what was there.
      dockerChanges = rec.changes;
      if (rec.created) {
        actions.push({ kind: 'remove', path: rec.path });
        report.push(`removed ${rec.path} (install created it)`);
      } else if (rec.originalText !== null) {
        actions.push({ kind: 'write', path: rec.path, text: rec.originalText });
        report.push(`restored ${rec.path} as it was before install`);
      } else {
        revertKeys(now, rec, root, report, actions, problems, (c) => (dockerChanges = c));
      }
    } else {
      revertKeys(now, rec, root, report, actions, problems, (c) => (dockerChanges = c));
    }
  }

  for (const f of state?.files ?? []) {
    const now = snapshot.files.get(f.path);
    if (f.previousText !== null) {
      if (now !== f.previousText) actions.push({ kind: 'write', path: f.path, text: f.previousText });
      report.push(`restored ${f.path} as it was before install`);
    } else if (now === undefined) {
      report.push(`${f.path} is already gone`);
    } else if (f.role === 'config' && sha256(now) !== f.writtenSha256) {
      report.push(`kept ${f.path}: edited since install (your settings; delete it by hand if unwanted)`);
    } else {
      actions.push({ kind: 'remove', path: f.path });
      report.push(`removed ${f.path}`);
    }
  }
  if (problems.length > 0 || !state) throw new InstallError([...problems, 'nothing was changed']);

  actions.push({ kind: 'remove', path: STATE_PATH });
  for (const d of [...state.dirs].reverse()) actions.push({ kind: 'rmdir', path: d });
  return { actions, report, dockerChanges };
}

function revertKeys(
  now: string,
  rec: DaemonJsonRecord,
  root: string,
  report: string[],
  actions: FileAction[],
  problems: string[],
  setChanges: (c: KeyChange[]) => void,
): void {
  let r: ReturnType<typeof revertDaemonJson>;
  try {
    r = revertDaemonJson(now, rec.changes);
  } catch (err) {
    problems.push(`${describeJsonError(shown(root, rec.path), err)}; fix the file first`);
    return;
  }
  setChanges(r.reverted);
  const emptied = rec.created && parseObjectText(r.text).members.length === 0;
  if (emptied) {
    actions.push({ kind: 'remove', path: rec.path });
    report.push(`removed ${rec.path} (install created it and only dockgate's settings were in it)`);
  } else if (r.text !== now) {
    actions.push({ kind: 'write', path: rec.path, text: r.text });
    report.push(`${rec.path}: reverted ${r.reverted.map((c) => `"${c.key}" to ${c.previous ?? 'absent'}`).join(', ')}`);
  }
  for (const c of r.leftAlone) {
    report.push(`${rec.path}: left "${c.key}" as it is now (${c.now ?? 'absent'}): changed by someone else since install`);
  }
}
