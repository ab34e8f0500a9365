// firewalld for tests: a private D-Bus system bus and firewalld, both started only through
// `nsenter --net=` of a namespace the test made, with a bus socket and a config directory of
// their own. Started in the machine's own namespace firewalld would replace the machine's
// firewall, and on the machine's bus it would take the machine's firewalld name: never either.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, open, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Netns, isAlive, killQuiet, run, sbinPath, waitGone } from '../support/netns.js';
import { until } from '../support/poll.js';

export const FIREWALLD = '/usr/sbin/firewalld';

/** Why firewalld cannot run here, or undefined when it can. */
export function firewalldMissing(): string | undefined {
  for (const f of [FIREWALLD, '/usr/bin/firewall-cmd', '/usr/bin/dbus-daemon', '/etc/firewalld/firewalld.conf']) {
    if (!existsSync(f)) return `${f} is missing: install Debian's firewalld package (and dbus)`;
  }
  return undefined;
}

export interface Firewalld {
  /** DBUS_SYSTEM_BUS_ADDRESS for firewall-cmd. */
  busAddress: string;
  env: Record<string, string>;
  logFile: string;
  /** firewall-cmd against this firewalld, inside its namespace. */
  cmd(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** A bus that lets anything through: it only ever carries firewalld and the test's firewall-cmd. */
const busConfig = (socket: string): string => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=${socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`;

function spawnIn(ns: Netns, argv: string[], env: Record<string, string>, logFd: number): ChildProcess {
  return spawn('nsenter', [`--net=${ns.path}`, ...argv], { stdio: ['ignore', logFd, logFd], env: { PATH: sbinPath(), ...env } });
}

/** Starts the bus and firewalld in `ns`; resolves once `firewall-cmd --state` says running (30 s at most). */
export async function startFirewalld(ns: Netns, dir: string): Promise<Firewalld> {
  if (!ns.path.startsWith('/var/run/netns/dgt-')) throw new Error(`refusing to start firewalld outside a test namespace: ${ns.path}`);
  const socket = `${dir}/bus`;
  const busAddress = `unix:path=${socket}`;
  const env = { DBUS_SYSTEM_BUS_ADDRESS: busAddress };
  await writeFile(`${dir}/bus.conf`, busConfig(socket));
  // firewalld's own config, copied: --system-config points it there, so nothing under /etc changes.
  await cp('/etc/firewalld', `${dir}/firewalld-etc`, { recursive: true });
  const logFile = `${dir}/firewalld.log`;
  const log = await open(logFile, 'a');
  const pids: number[] = [];
  const stop = async (): Promise<void> => {
    // firewalld first (it removes its table on exit), then the bus; by pid, never by name.
    for (const pid of [...pids].reverse()) {
      killQuiet(pid, 'SIGTERM');
      if ((await waitGone([pid], 5_000)).length > 0) killQuiet(pid, 'SIGKILL');
    }
    await log.close().catch(() => undefined);
  };
  try {
    const bus = spawnIn(ns, ['dbus-daemon', `--config-file=${dir}/bus.conf`, '--nofork', '--nopidfile'], {}, log.fd);
    pids.push(bus.pid!);
    await until(() => existsSync(socket), { what: 'the dbus-daemon socket', timeoutMs: 5000, intervalMs: 100 });
    const fw = spawnIn(ns, [FIREWALLD, '--nofork', '--nopid', '--system-config', `${dir}/firewalld-etc`, '--log-target', 'console'], env, log.fd);
    pids.push(fw.pid!);
    const cmd: Firewalld['cmd'] = (args) => run('nsenter', [`--net=${ns.path}`, 'env', `DBUS_SYSTEM_BUS_ADDRESS=${busAddress}`, 'firewall-cmd', ...args], { reject: false, timeoutMs: 30_000 });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!isAlive(fw.pid!)) throw new Error('firewalld exited at start');
      const r = await cmd(['--state']);
      if (r.stdout.trim() === 'running') break;
      if (Date.now() > deadline) throw new Error(`firewalld not running after 30 s: ${r.stdout}${r.stderr}`);
      await sleep(200);
    }
    return { busAddress, env, logFile, cmd, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
