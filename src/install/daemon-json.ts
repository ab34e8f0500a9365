// The Docker settings dockgate needs in /etc/docker/daemon.json, merged into (and taken back out
// of) the admin's file key by key, each change remembered with the exact text it replaced.
import type { Mode } from '../model/types.js';
import { type JsonValue, findMember, jsonEqual, parseObjectText, removeMember, setMember } from './json-text.js';

export const DAEMON_JSON = '/etc/docker/daemon.json';

/** One key dockgate set: what it was before (raw JSON text, null when absent) and what it wrote. */
export interface KeyChange {
  key: string;
  previous: string | null;
  next: string;
}

/**
 * What Docker must run with. `iptables`/`ip6tables` false hand the firewall to dockgate;
 * `ip-forward` false stops Docker from turning on forwarding for every interface (dockgate turns
 * it on only where needed); dnat mode reaches containers without docker-proxy.
 */
export function wantedDockerSettings(defaultMode: Mode): Array<{ key: string; value: JsonValue }> {
  const out: Array<{ key: string; value: JsonValue }> = [
    { key: 'iptables', value: false },
    { key: 'ip6tables', value: false },
    { key: 'ip-forward', value: false },
  ];
  if (defaultMode === 'dnat') out.push({ key: 'userland-proxy', value: false });
  return out;
}

/** The text a new daemon.json starts from when the file does not exist. */
export const EMPTY_DAEMON_JSON = '{}\n';

export interface MergeResult {
  text: string;
  /** Only the keys whose value really changed. */
  changes: KeyChange[];
}

/** Sets each wanted key; keys already at the wanted value are left alone and not reported. */
export function mergeDaemonJson(text: string, wanted: ReadonlyArray<{ key: string; value: JsonValue }>): MergeResult {
  let out = text;
  const changes: KeyChange[] = [];
  for (const { key, value } of wanted) {
    const obj = parseObjectText(out);
    const member = findMember(obj, key);
    if (member && jsonEqual(member.value, value)) continue;
    const next = JSON.stringify(value);
    changes.push({ key, previous: member ? out.slice(member.valueStart, member.valueEnd) : null, next });
    out = setMember(out, key, next);
  }
  return { text: out, changes };
}

export interface RevertResult {
  text: string;
  reverted: KeyChange[];
  /** Keys someone changed after dockgate set them: left as they are now. */
  leftAlone: Array<KeyChange & { now: string | null }>;
}

/**
 * Undoes `changes` (in reverse order): a key dockgate added is removed, a key it changed gets its
 * old text back; but only while the key still holds what dockgate wrote, so an admin's later
 * edit is never undone.
 */
export function revertDaemonJson(text: string, changes: readonly KeyChange[]): RevertResult {
  let out = text;
  const reverted: KeyChange[] = [];
  const leftAlone: RevertResult['leftAlone'] = [];
  for (const change of [...changes].reverse()) {
    const obj = parseObjectText(out);
    const member = findMember(obj, change.key);
    const nextValue = JSON.parse(change.next) as JsonValue;
    if (!member || !jsonEqual(member.value, nextValue)) {
      leftAlone.push({ ...change, now: member ? out.slice(member.valueStart, member.valueEnd) : null });
      continue;
    }
    out = change.previous === null ? removeMember(out, change.key) : setMember(out, change.key, change.previous);
    reverted.push(change);
  }
  return { text: out, reverted: reverted.reverse(), leftAlone: leftAlone.reverse() };
}

/** The settings as Docker would read them (top-level keys only), for doctor. */
export function readDaemonSettings(text: string): Record<string, JsonValue> {
  const obj = parseObjectText(text);
  const out: Record<string, JsonValue> = {};
  for (const m of obj.members) Object.defineProperty(out, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
  return out;
}
