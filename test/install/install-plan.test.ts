// The install/uninstall planner on hand-made snapshots: what it writes, what it records, and that
// replaying install then uninstall gives back the snapshot it started from.
import { describe, expect, it } from 'vitest';
import { DAEMON_JSON } from '../../src/install/daemon-json.js';
import { type FileAction, type HostSnapshot, InstallError, parentDirs, planInstall } from '../../src/install/install-plan.js';
import { planUninstall } from '../../src/install/uninstall-plan.js';
import { CONFIG_PATH, ENABLED_LINK, STATE_PATH, UNIT_PATH, parseState } from '../../src/install/install-state.js';

const UNIT = '[Unit]\nDescription=dockgate\n[Service]\nExecStart=/usr/bin/node /x/main.js run\n';
const CONFIG = '# defaults\ndefaults:\n  mode: proxy\n';

/** A mutable fake filesystem that applies planned actions the way install-files.ts does. */
function fs(files: Record<string, string> = {}, extraDirs: string[] = []): { files: Map<string, string>; dirs: Set<string> } {
  const dirs = new Set<string>();
  for (const d of extraDirs) for (const p of [...parentDirs(d), d]) dirs.add(p);
  for (const p of Object.keys(files)) for (const d of parentDirs(p)) dirs.add(d);
  return { files: new Map(Object.entries(files)), dirs };
}

function apply(state: { files: Map<string, string>; dirs: Set<string> }, actions: readonly FileAction[]): void {
  for (const a of actions) {
    if (a.kind === 'mkdir') {
      expect(state.dirs.has(a.path)).toBe(false);
      state.dirs.add(a.path);
    } else if (a.kind === 'write') {
      expect(state.dirs.has(parentDirs(a.path).at(-1)!)).toBe(true);
      state.files.set(a.path, a.text);
    } else if (a.kind === 'remove') {
      state.files.delete(a.path);
    } else {
      const busy = [...state.files.keys(), ...state.dirs].some((p) => p.startsWith(`${a.path}/`));
      if (!busy) state.dirs.delete(a.path);
    }
  }
}

const snap = (s: { files: Map<string, string>; dirs: Set<string> }): HostSnapshot => ({ files: new Map(s.files), dirs: new Set(s.dirs) });
const install = (s: { files: Map<string, string>; dirs: Set<string> }, config = CONFIG) =>
  planInstall({ snapshot: snap(s), root: '/', unitText: UNIT, defaultConfigText: config });
const uninstall = (s: { files: Map<string, string>; dirs: Set<string> }) => planUninstall({ snapshot: snap(s), root: '/' });

function roundTrip(initial: { files: Map<string, string>; dirs: Set<string> }) {
  const before = { files: new Map(initial.files), dirs: new Set(initial.dirs) };
  const host = { files: new Map(initial.files), dirs: new Set(initial.dirs) };
  apply(host, install(host).actions);
  const installed = { files: new Map(host.files), dirs: new Set(host.dirs) };
  apply(host, uninstall(host).actions);
  expect(host.files).toEqual(before.files);
  expect(host.dirs).toEqual(before.dirs);
  return installed;
}

describe('planInstall', () => {
  it('from the Debian package writes no unit of its own (one in /etc would hide the package\'s), and uninstall undoes exactly the rest', () => {
    const before = fs({}, ['/etc']);
    const host = { files: new Map(before.files), dirs: new Set(before.dirs) };
    const plan = planInstall({ snapshot: snap(host), root: '/', unitText: UNIT, defaultConfigText: CONFIG, packagedUnit: '/lib/systemd/system/dockgate.service' });
    expect(plan.actions.filter((a) => a.kind === 'write').map((a) => a.path)).toEqual([STATE_PATH, CONFIG_PATH, DAEMON_JSON]);
    expect(plan.report.join('\n')).toContain("kept the package's unit /lib/systemd/system/dockgate.service");
    apply(host, plan.actions);
    expect(host.files.has(UNIT_PATH)).toBe(false);
    apply(host, uninstall(host).actions);
    expect(host.files).toEqual(before.files);
  });

  it('on a bare host creates the unit, the config, daemon.json and the record, and their directories', () => {
    const host = fs({}, ['/etc']);
    const plan = install(host);
    expect(plan.actions.filter((a) => a.kind === 'mkdir').map((a) => a.path)).toEqual([
      '/etc/systemd', '/etc/systemd/system', '/etc/dockgate', '/etc/docker', '/var', '/var/lib', '/var/lib/dockgate',
    ]);
    expect(plan.actions.filter((a) => a.kind === 'write').map((a) => a.path)).toEqual([STATE_PATH, UNIT_PATH, CONFIG_PATH, DAEMON_JSON]);
    apply(host, plan.actions);
    expect(JSON.parse(host.files.get(DAEMON_JSON)!)).toEqual({ iptables: false, ip6tables: false, 'ip-forward': false });
    expect(host.files.get(DAEMON_JSON)).toBe('{\n  "iptables": false,\n  "ip6tables": false,\n  "ip-forward": false\n}\n');
    const state = parseState(host.files.get(STATE_PATH)!);
    expect(state.ok && state.value.daemonJson?.created).toBe(true);
  });

  it('keeps an existing config and reads defaults.mode from it (dnat → userland-proxy false)', () => {
    const host = fs({ [CONFIG_PATH]: 'defaults:\n  mode: dnat\n', [DAEMON_JSON]: '{"debug": true}' });
    const plan = install(host);
    expect(plan.mode).toBe('dnat');
    expect(plan.actions.some((a) => a.kind === 'write' && a.path === CONFIG_PATH)).toBe(false);
    apply(host, plan.actions);
    expect(host.files.get(CONFIG_PATH)).toBe('defaults:\n  mode: dnat\n');
    expect(JSON.parse(host.files.get(DAEMON_JSON)!)).toEqual({ debug: true, iptables: false, ip6tables: false, 'ip-forward': false, 'userland-proxy': false });
  });

  it('refuses a malformed daemon.json, naming file and position, and plans nothing', () => {
    const host = fs({ [DAEMON_JSON]: '{\n  "debug": true,\n}\n' });
    expect(() => install(host)).toThrow(InstallError);
    expect(() => install(host)).toThrow(/\/etc\/docker\/daemon\.json: invalid JSON at line 3, column 1: trailing comma/);
    expect(() => install(host)).toThrow(/nothing was changed/);
  });

  it('refuses a config it cannot read, and a damaged install record', () => {
    expect(() => install(fs({ [CONFIG_PATH]: 'defaults:\n  mode: fast\n' }))).toThrow(/defaults\.mode/);
    expect(() => install(fs({ [STATE_PATH]: '{"version": 2}' }))).toThrow(/install record is damaged/);
  });

  it('a second install changes nothing', () => {
    const host = fs({ [DAEMON_JSON]: '{ "debug": true }\n' });
    apply(host, install(host).actions);
    const again = install(host);
    expect(again.actions).toEqual([]);
    expect(again.dockerChanges).toEqual([]);
  });

  it('keeps the first previous values across installs, so uninstall still restores them', () => {
    const host = fs({ [DAEMON_JSON]: '{"iptables": true}' });
    apply(host, install(host).actions);
    // the admin switches Docker's iptables back on; install switches it off again
    host.files.set(DAEMON_JSON, host.files.get(DAEMON_JSON)!.replace('"iptables": false', '"iptables": true'));
    const again = install(host);
    expect(again.dockerChanges).toEqual([{ key: 'iptables', previous: 'true', next: 'false' }]);
    apply(host, again.actions);
    const state = parseState(host.files.get(STATE_PATH)!);
    expect(state.ok && state.value.daemonJson?.changes.find((c) => c.key === 'iptables')?.previous).toBe('true');
    // the file was edited between the installs: its old bytes are no longer a safe restore
    expect(state.ok && state.value.daemonJson?.originalText).toBeNull();
    apply(host, uninstall(host).actions);
    expect(JSON.parse(host.files.get(DAEMON_JSON)!)).toEqual({ iptables: true });
  });

  it('backs up a unit that was there before and puts it back on uninstall', () => {
    const theirs = '[Service]\nExecStart=/opt/dockgate\n';
    const host = fs({ [UNIT_PATH]: theirs });
    apply(host, install(host).actions);
    expect(host.files.get(UNIT_PATH)).toBe(UNIT);
    apply(host, uninstall(host).actions);
    expect(host.files.get(UNIT_PATH)).toBe(theirs);
  });
});

describe('planUninstall', () => {
  it.each([
    ['a bare host', fs({}, ['/etc'])],
    ['a host with an indented daemon.json', fs({ [DAEMON_JSON]: '{\n\t"iptables": true,\n\t"bip": "10.9.0.1/24"\n}' }, ['/var/lib'])],
    ['a host with a compact daemon.json that already has some settings', fs({ [DAEMON_JSON]: '{"ip-forward":false,"iptables":false}' })],
    ['a host with everything in place already', fs({ [DAEMON_JSON]: '{"ip-forward":false,"iptables":false,"ip6tables":false}', [CONFIG_PATH]: CONFIG })],
  ])('gives back exactly what was there on %s', (_name, host) => {
    roundTrip(host);
  });

  it('takes out only its own keys when the admin edited daemon.json since', () => {
    const host = fs({ [DAEMON_JSON]: '{\n  "debug": false\n}\n' });
    apply(host, install(host).actions);
    host.files.set(DAEMON_JSON, host.files.get(DAEMON_JSON)!.replace('"debug": false', '"debug": true'));
    const plan = uninstall(host);
    apply(host, plan.actions);
    expect(host.files.get(DAEMON_JSON)).toBe('{\n  "debug": true\n}\n');
  });

  it('keeps a config the admin edited, removes one left as installed', () => {
    const host = fs({}, ['/etc']);
    apply(host, install(host).actions);
    host.files.set(CONFIG_PATH, `${CONFIG}external_interfaces: [eth0]\n`);
    const plan = uninstall(host);
    expect(plan.report.join('\n')).toMatch(/kept \/etc\/dockgate\/config\.yaml: edited since install/);
    apply(host, plan.actions);
    expect(host.files.has(CONFIG_PATH)).toBe(true);
    expect(host.dirs.has('/etc/dockgate')).toBe(true);
    expect(host.files.has(UNIT_PATH)).toBe(false);
    expect(host.files.has(STATE_PATH)).toBe(false);
  });

  it('deletes a daemon.json it created, unless someone added settings of their own', () => {
    const host = fs({}, ['/etc']);
    apply(host, install(host).actions);
    host.files.set(DAEMON_JSON, host.files.get(DAEMON_JSON)!.replace('{', '{\n  "debug": true,'));
    apply(host, uninstall(host).actions);
    expect(JSON.parse(host.files.get(DAEMON_JSON)!)).toEqual({ debug: true });
  });

  it('refuses while the unit is enabled, and without an install record', () => {
    const host = fs({}, ['/etc']);
    apply(host, install(host).actions);
    host.files.set(ENABLED_LINK, UNIT);
    expect(() => uninstall(host)).toThrow(/still enabled.*systemctl disable --now dockgate/);
    expect(() => uninstall(fs())).toThrow(/nothing to uninstall: no install record/);
  });

  it('refuses a daemon.json broken since install, and changes nothing', () => {
    const host = fs({ [DAEMON_JSON]: '{"debug": true}' });
    apply(host, install(host).actions);
    host.files.set(DAEMON_JSON, '{"debug": true,');
    expect(() => uninstall(host)).toThrow(/daemon\.json: invalid JSON at line 1, column 16/);
  });
});
