// `dockgate flush`: every dockgate chain and jump removed, route_localnet back off on Docker's
// bridges, nothing else touched.
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig, loadConfig, resolveDockerHost } from '../config/load.js';
import type { FlushResult } from '../dataplane/dataplane.js';
import { Sysctl } from '../dataplane/sysctl.js';
import { DockerSource } from '../docker/source.js';
import { dockerBridgeInterfaces } from '../plan/host-settings.js';
import { type ForeignRule, IncompatibleTableError } from '../plan/kernel-state.js';
import { CliError, dataplanesFor, readConfig } from './context.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { footprintFor } from '../dataplane/footprint.js';
import { BridgeTable } from '../dataplane/bridge-table.js';
import { DAEMON_PRESENCE, findDaemon } from '../daemon/presence.js';
import { IpsetError, Ipsets } from '../dataplane/ipset.js';
import { errorMessage } from '../util/errors.js';

/** flush is what an admin reaches for when things are wrong: a wedged Docker must not hold it up. */
const DOCKER_WAIT_MS = 5_000;

export interface FlushOptions {
  config?: string;
  userChain?: boolean;
  /** Flush even while `dockgate run` works in this network namespace (it writes everything back). */
  force?: boolean;
}

export async function flush(options: FlushOptions, presence = DAEMON_PRESENCE): Promise<void> {
  // Asked first, before anything is read or removed: the daemon's drift check would write every
  // rule back within sync.drift_check_ms, so a flush under it only opens a short gap.
  const daemon = await findDaemon(presence);
  if (daemon !== undefined) {
    const who = `dockgate run${daemon.pid === undefined ? '' : ` (pid ${daemon.pid})`}`;
    if (!options.force) {
      throw new CliError(
        `dockgate flush: refused: ${who} is running in this network namespace and would put every rule back at its next check. ` +
          'Stop it first (systemctl stop dockgate; its rules stay in place when it stops), then run dockgate flush again; ' +
          'or flush anyway with dockgate flush --force.',
        1,
      );
    }
    process.stderr.write(`dockgate flush: --force while ${who} is running: the daemon will put its rules back at its next check\n`);
  }
  const config = readConfig(options.config);
  let report: FlushResult;
  try {
    const reports = await (await dataplanesFor(config)).flushReport({ userChain: options.userChain === true });
    // IPv6 tables are named like IPv4 ones: say which firewall a line is about.
    report = {
      tables: reports.flatMap((r) => r.result.tables.map((t) => (r.family === 6 ? (`${t} (ip6tables)` as typeof t) : t))),
      left: reports.flatMap((r) => r.result.left.map((f) => (r.family === 6 ? { ...f, table: `${f.table} (ip6tables)` as typeof f.table } : f))),
    };
  } catch (err) {
    // Nothing is written to a table that cannot be read back: say why, without a stack trace.
    if (err instanceof IncompatibleTableError) throw new CliError(`dockgate flush: nothing removed: ${err.message}`, 1);
    throw err;
  }
  const { tables, left } = report;
  process.stdout.write(tables.length === 0 ? 'nothing to flush\n' : `removed dockgate chains and jumps from: ${tables.join(', ')}\n`);
  // What stays is not a failure (dockgate removes only what it wrote), but the admin should know.
  for (const line of leftLines(left)) process.stdout.write(`${line}\n`);
  await removeFootprint(config);
  // The anti-spoofing table holds nothing of anyone else's: it goes whole.
  if (await new BridgeTable(new CommandQueue()).remove()) process.stdout.write('removed the anti-spoofing table (nft table bridge dockgate)\n');
  await removeEgressSets();
  let lines: string[];
  try {
    lines = await routeLocalnetOff(resolveDockerHost(config));
  } catch (err) {
    throw new CliError(`dockgate flush: chains removed, but route_localnet could not be turned off: ${errorMessage(err)}`, 1);
  }
  for (const line of lines) process.stdout.write(`${line}\n`);
}

/**
 * One line per rule or chain flush left in place, saying why: each rule it did not write, then
 * each dockgate chain kept (emptied) because such a rule jumps to it.
 */
export function leftLines(left: readonly ForeignRule[]): string[] {
  const lines: string[] = [];
  const kept = new Set<string>();
  for (const f of left) {
    if (f.kind === 'chain') {
      lines.push(`left in place: ${f.table} chain ${f.chain}: dockgate does not manage the ${f.table} table`);
    } else if (f.why === 'admin-jump') {
      lines.push(`left in place: ${f.table} ${f.chain} rule "${f.line}": not written by dockgate`);
      kept.add(`${f.table} ${f.target}`);
    } else {
      lines.push(`left in place: ${f.table} ${f.chain} rule "${f.line}": dockgate does not manage the ${f.table} table`);
    }
  }
  for (const chain of kept) lines.push(`kept, emptied: ${chain}: a rule dockgate did not write jumps to it`);
  return lines;
}

/** The Docker address the installed config names, else the default one; for uninstall, which has no --config. */
export function installedDockerHost(): string {
  try {
    return resolveDockerHost(loadConfig(undefined));
  } catch {
    return resolveDockerHost(defaultConfig());
  }
}

/**
 * Turns net.ipv4.conf.BRIDGE.route_localnet back to 0 wherever it is 1 on a Docker bridge of this
 * network namespace, and says what it did. Once dockgate's chains are gone so is its raw-table
 * drop of 127.0.0.0/8 arriving from outside lo; a bridge left at 1 would then let containers
 * reach the host's loopback-only services (CVE-2020-8558).
 *
 * There is no plan here (the daemon may be gone), so "a bridge dockgate managed" is every bridge
 * Docker reports, plus anything carrying Docker's own names (docker0, br-<12 hex>) for when Docker
 * is not answering. A 1 on such a bridge was dockgate's or Docker's own (userland-proxy off), and
 * Docker sets it again by itself if it takes its firewall back; any other interface's value
 * belongs to someone else and stays.
 */
export async function routeLocalnetOff(dockerHost: string, sysctl = new Sysctl()): Promise<string[]> {
  const lines: string[] = [];
  let reported: string[] = [];
  try {
    const networks = await Promise.race([
      new DockerSource(dockerHost).listNetworks(),
      sleep(DOCKER_WAIT_MS, undefined, { ref: false }).then(() => Promise.reject(new Error(`no answer within ${DOCKER_WAIT_MS} ms`))),
    ]);
    reported = networks.map((n) => n.bridge);
  } catch (err) {
    lines.push(`Docker at ${dockerHost} did not list its networks (${errorMessage(err)}): route_localnet checked on docker0 and br-<id> bridges only`);
  }
  const candidates = dockerBridgeInterfaces(await sysctl.interfaces(), reported);
  const { changed } = await sysctl.disable('route_localnet', candidates);
  lines.push(
    changed.length > 0
      ? `net.ipv4.conf.<iface>.route_localnet=0 on ${changed.join(', ')}`
      : `route_localnet already 0 on Docker's bridges${candidates.length > 0 ? ` (${candidates.join(', ')})` : ' (none present)'}`,
  );
  return lines;
}

/** dockgate's mark accepts in other firewalls' chains and its mangle marks: flush removes them too. */
async function removeFootprint(config: Config): Promise<void> {
  const queue = new CommandQueue();
  let done: string[];
  try {
    done = await (await footprintFor(config, queue)).remove();
  } catch (err) {
    throw new CliError(`dockgate flush: chains removed, but dockgate's footprint in other firewalls could not be: ${errorMessage(err)}`, 1);
  }
  for (const what of done) {
    process.stdout.write(/^ip6? mangle$/.test(what) ? `removed dockgate's marks (DOCKGATE-M* chains) from ${what}\n` : `removed dockgate's mark accept from ${what}\n`);
  }
}

/** The ipsets of egress names: no rule matches on them once the chains are gone. */
async function removeEgressSets(): Promise<void> {
  try {
    const gone = await new Ipsets(new CommandQueue()).removeOthers(new Set());
    if (gone.length > 0) process.stdout.write(`removed ${gone.length} egress name set(s) (ipset ${gone.join(', ')})\n`);
  } catch (err) {
    // No ipset on this host means no set of dockgate's either.
    if (!(err instanceof IpsetError && err.missing)) throw new CliError(`dockgate flush: chains removed, but the egress name sets could not be: ${errorMessage(err)}`, 1);
  }
}
