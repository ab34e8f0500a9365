// doctor's checks of Docker: reachable, not in a swarm, its own firewall work switched off (flags
// and daemon.json), docker-proxy as the mode wants, no Docker chains left in iptables. Pure.
import { dockerChainsIn, familyTable } from '../install/docker-chains.js';
import type { DockerdFlags } from '../dataplane/host-facts.js';
import { type CheckResult, fail, ok, plural, warn } from './check-result.js';
import type { DoctorFacts } from './facts.js';

export function checkDocker(f: DoctorFacts): CheckResult {
  const d = f.docker;
  if (!d.reachable) return fail('docker', `cannot reach Docker at ${d.host}: ${d.error}`);
  return ok('docker', `Docker ${d.version} at ${d.host}`);
}

export function checkSwarm(f: DoctorFacts): CheckResult {
  const d = f.docker;
  if (!d.reachable) return warn('swarm', 'not checked: Docker not reachable');
  if (d.swarm === 'inactive' || d.swarm === '') return ok('swarm', 'inactive');
  return fail('swarm', `swarm is ${d.swarm}: swarm needs Docker's own iptables; dockgate refuses to run there (leave the swarm, or do not use dockgate on this host)`);
}

type Setting = { value: boolean | undefined; source: string };

/**
 * The value dockerd runs with: a command-line flag wins (dockerd refuses to start when the same
 * setting is also in daemon.json), then daemon.json, else undefined (Docker's default).
 */
function effective(f: DoctorFacts, key: string, flag: keyof Omit<DockerdFlags, 'pid' | 'configFile' | 'bridgeAcceptFwmark'>): Setting {
  const fromFlag = f.dockerd?.[flag];
  if (fromFlag !== undefined) return { value: fromFlag, source: `dockerd flag --${key}=${fromFlag}` };
  if (f.daemonJson.state === 'ok' && Object.hasOwn(f.daemonJson.settings, key)) {
    const v = f.daemonJson.settings[key];
    if (typeof v === 'boolean') return { value: v, source: `${f.daemonJson.path}` };
    return { value: undefined, source: `${f.daemonJson.path} has ${JSON.stringify(v)}, not true or false` };
  }
  return { value: undefined, source: f.dockerd ? 'set neither in daemon.json nor by dockerd flags' : "not set in daemon.json (dockerd's flags not visible from here)" };
}

const FIX = 'set it to false in daemon.json (`dockgate install` does) and restart Docker';

export function checkDockerIptables(f: DoctorFacts): CheckResult {
  const s = effective(f, 'iptables', 'iptables');
  if (s.value === false) return ok('docker-iptables', `off (${s.source})`);
  if (s.value === true) return fail('docker-iptables', `Docker manages iptables itself (${s.source}): ${FIX}`);
  return fail('docker-iptables', `${s.source}, and Docker's default is on: ${FIX}`);
}

function majorVersion(version: string): number | undefined {
  const m = /^(\d+)\./.exec(version);
  return m ? Number(m[1]) : undefined;
}

export function checkDockerIp6tables(f: DoctorFacts): CheckResult {
  const s = effective(f, 'ip6tables', 'ip6tables');
  if (s.value === false) return ok('docker-ip6tables', `off (${s.source})`);
  if (s.value === true) return fail('docker-ip6tables', `Docker manages ip6tables itself (${s.source}): ${FIX}`);
  const major = f.docker.reachable ? majorVersion(f.docker.version) : undefined;
  if (major === undefined) return warn('docker-ip6tables', `${s.source}; Docker 27 and later default to on: ${FIX}`);
  if (major >= 27) return fail('docker-ip6tables', `${s.source}, and Docker ${major} defaults to on: ${FIX}`);
  return ok('docker-ip6tables', `${s.source} (off by default before Docker 27)`);
}

export function checkDockerIpForward(f: DoctorFacts): CheckResult {
  const s = effective(f, 'ip-forward', 'ipForward');
  if (s.value === false) return ok('docker-ip-forward', `off (${s.source})`);
  const why = s.value === true ? s.source : `${s.source}, default on`;
  return warn('docker-ip-forward', `Docker turns on forwarding for every interface at start (${why}): set "ip-forward": false and restart Docker; dockgate enables it only on bridges and external_interfaces`);
}

export function checkUserlandProxy(f: DoctorFacts): CheckResult {
  const s = effective(f, 'userland-proxy', 'userlandProxy');
  const on = s.value !== false;
  const where = s.value === undefined ? `${s.source}, default on` : s.source;
  if (f.config.defaultMode === 'dnat') {
    if (on) return warn('userland-proxy', `defaults.mode is dnat but docker-proxy still runs (${where}): set "userland-proxy": false and restart Docker`);
    return ok('userland-proxy', `off (${where}), as dnat mode wants`);
  }
  if (!on) return fail('userland-proxy', `defaults.mode is proxy but Docker runs without docker-proxy (${where}): nothing listens on published ports. Use defaults.mode: dnat, or drop "userland-proxy": false`);
  return ok('userland-proxy', `on (${where}), as proxy mode needs`);
}

export function checkDaemonJson(f: DoctorFacts): CheckResult {
  const d = f.daemonJson;
  if (d.state === 'absent') return warn('daemon.json', `${d.path} does not exist: Docker uses its defaults unless dockerd flags say otherwise (\`dockgate install\` writes it)`);
  if (d.state === 'invalid') return fail('daemon.json', `${d.path}: ${d.error}; Docker will not start with it`);
  const keys = ['iptables', 'ip6tables', 'ip-forward', 'userland-proxy'].filter((k) => Object.hasOwn(d.settings, k));
  const shown = keys.map((k) => `${k}=${JSON.stringify(d.settings[k])}`).join(' ');
  const missing = ['iptables', 'ip6tables', 'ip-forward'].filter((k) => d.settings[k] !== false);
  if (missing.length === 0) return ok('daemon.json', `${d.path}: ${shown}`);
  return warn('daemon.json', `${d.path}: ${missing.map((k) => `"${k}": false`).join(', ')} not set${shown ? ` (has ${shown})` : ''}`);
}

/**
 * Docker's chains in both families: Docker 27 and later write ip6tables rules too, and an IPv6
 * DOCKER chain DNATs and accepts around dockgate exactly as an IPv4 one does.
 */
export function checkDockerChains(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('docker-chains', 'not checked: cannot read iptables');
  // Not found: the host runs without IPv6 (or without ip6tables), so there is nothing to check.
  const six = f.ip6tables?.found ? f.ip6tables : undefined;
  const found = [
    ...dockerChainsIn(state).map((c) => ({ ...c, where: `${familyTable(4, c.table)}/${c.chain}` })),
    ...(six?.state ? dockerChainsIn(six.state).map((c) => ({ ...c, where: `${familyTable(6, c.table)}/${c.chain}` })) : []),
  ];
  const rules = found.filter((c) => c.rules > 0);
  const unread = six && !six.state ? `; IPv6 not checked: ${six.command} failed: ${six.error ?? 'no output'}` : '';
  if (rules.length > 0) {
    return fail(
      'docker-chains',
      `Docker's rules are in the firewall: ${rules.map((c) => `${c.where} (${plural(c.rules, 'rule')})`).join(', ')}. ` +
        'Either Docker still runs with iptables on, or they are leftovers: restart Docker with "iptables": false and "ip6tables": false, then `dockgate install --flush-docker-chains`' +
        unread,
    );
  }
  if (found.length > 0) return warn('docker-chains', `empty leftover chains ${found.map((c) => c.where).join(', ')}: \`dockgate install --flush-docker-chains\` removes them${unread}`);
  if (unread !== '') return warn('docker-chains', `no Docker chains in iptables${unread}`);
  return ok('docker-chains', six?.state ? 'no Docker chains (iptables and ip6tables)' : 'no Docker chains');
}
