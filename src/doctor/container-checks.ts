// doctor's checks of what the running containers publish: ports open to everyone over IPv6, host
// ports a label claims but cannot have, containers on networks the host's firewall never sees. Pure.
import { describeUnfirewalled } from '../plan/unfirewalled.js';
import { type CheckResult, ok, warn } from './check-result.js';
import type { DoctorFacts } from './facts.js';

/**
 * A host whose ip6tables INPUT policy is ACCEPT exposes every port docker-proxy publishes on `::`
 * to the world over IPv6, labelled or not, `from` or not: many admins firewall IPv4 only.
 */
export function checkIpv6Exposure(f: DoctorFacts): CheckResult {
  const name = 'ipv6-exposure';
  const six = f.ip6tables;
  if (six === undefined) return { status: 'ok', name, detail: 'not checked' };
  if (!six.found || six.state === undefined) {
    return { status: 'ok', name, detail: `no IPv6 firewall to check (${six.error ?? `${six.command} not installed`}); dockgate runs IPv4-only` };
  }
  const policy = six.state.get('filter')?.policies.get('INPUT') ?? 'ACCEPT';
  const published = f.ipv6Published;
  if (published === undefined) return { status: 'warn', name, detail: `ip6tables INPUT policy ${policy}; Docker could not be asked which ports it publishes on IPv6` };
  const list = published.length > 6 ? `${published.slice(0, 6).join(', ')} and ${published.length - 6} more` : published.join(', ');
  if (policy === 'ACCEPT' && published.length > 0) {
    return {
      status: 'fail',
      name,
      detail: `ip6tables INPUT policy is ACCEPT, so these ports are open to everyone over IPv6 whatever their labels say: ${list}; set the IPv6 INPUT policy to DROP (accepting ICMPv6 and established flows) and let dockgate open what labels allow`,
    };
  }
  return {
    status: 'ok',
    name,
    detail: published.length === 0 ? `ip6tables INPUT policy ${policy}; nothing published on IPv6` : `ip6tables INPUT policy ${policy}; ${published.length} port(s) published on IPv6, opened by labels only`,
  };
}

/** A label that claims a host port it cannot have opens nothing: the admin should hear it here too, not only in status. */
export function checkPortOwnership(f: DoctorFacts): CheckResult {
  const name = 'port-ownership';
  if (f.ownership === undefined) return { status: 'ok', name, detail: 'not checked (Docker could not be asked)' };
  if (f.ownership.length === 0) return { status: 'ok', name, detail: 'every host port a label asks for belongs to its container' };
  return { status: 'warn', name, detail: `claims refused, nothing opened for them: ${f.ownership.join('; ')}` };
}

/**
 * One line per container on a macvlan or ipvlan network: its traffic there never passes the
 * host's firewall. A warning when it carries dockgate labels, which then do nothing there.
 */
export function checkUnfirewalled(f: DoctorFacts): CheckResult[] {
  return (f.unfirewalled ?? []).map((u) => (u.labels.length > 0 ? warn : ok)(`unfirewalled:${u.container}`, describeUnfirewalled(u)));
}
