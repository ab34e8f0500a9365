// doctor's checks of forwarding: the all.forwarding sysctl, the external interfaces and whether
// they forward what egress and dnat need, and the FORWARD policy of both families. Pure.
import type { Family } from '../model/types.js';
import { type KernelState, incompatibleTables } from '../plan/kernel-state.js';
import { type CheckResult, fail, ok, plural, warn } from './check-result.js';
import type { DoctorFacts } from './facts.js';
import { unreadable } from './iptables-checks.js';

export function checkForwarding(f: DoctorFacts): CheckResult {
  const v = f.sysctl.allForwarding;
  if (v === undefined) return warn('forwarding', 'cannot read net.ipv4.conf.all.forwarding');
  if (v.trim() === '1') {
    return warn(
      'forwarding',
      'net.ipv4.conf.all.forwarding=1: every interface forwards, not only the Docker bridges and external_interfaces (Docker\'s "ip-forward" does this), and dockgate takes the host for a router: what is routed between its own interfaces is left to your FORWARD rules',
    );
  }
  return ok('forwarding', 'net.ipv4.conf.all.forwarding=0');
}

export function checkInterfaces(f: DoctorFacts): CheckResult[] {
  if (f.config.externalInterfaces.kind === 'auto') {
    const r = f.routes;
    if (!r.ok) return [warn('external-interfaces', `auto, but the routes cannot be read: ${r.error}`)];
    if (r.interfaces.length === 0) {
      return [warn('external-interfaces', 'auto, but the host has no route to any network: only the Docker bridges forward until one appears')];
    }
    const names = r.interfaces.map((i) => (i.uplink ? `${i.name} (default route)` : i.name)).join(', ');
    return [ok('external-interfaces', `auto: ${names} (every interface the host's routes lead through, Docker's bridges left out, followed as they change)`)];
  }
  const list = f.sysctl.interfaces;
  if (list.length === 0) {
    if (f.sysctl.allForwarding?.trim() === '1') return [ok('external-interfaces', 'none configured (all.forwarding=1 forwards everywhere)')];
    return [
      warn(
        'external-interfaces',
        "none configured: packets arriving from outside (replies to containers' connections, dnat-mode clients) are not forwarded; list the uplinks in external_interfaces",
      ),
    ];
  }
  return list.map(({ name, forwarding }) => {
    const check = `forwarding:${name}`;
    if (forwarding === undefined) return fail(check, `interface ${name} (in external_interfaces) does not exist`);
    if (forwarding.trim() === '1') return ok(check, `net.ipv4.conf.${name}.forwarding=1`);
    return warn(check, `net.ipv4.conf.${name}.forwarding=0: dockgate turns it on when it runs; if it is running, something turned it off`);
  });
}

/**
 * Linux forwards a packet only if the interface it arrives on forwards (IPv4:
 * net.ipv4.conf.IFACE.forwarding; IPv6: all.forwarding, or force_forwarding on Linux 6.17+).
 * Replies to containers' outbound connections and dnat clients arrive on the interfaces the
 * host's routes lead through: the uplinks, and a LAN or a VPN besides. Where one of them does not
 * forward, egress and dnat break for that network. With a list of external_interfaces only the
 * uplinks are judged: leaving a LAN out of the list is the admin's choice.
 */
export function checkExternalForwarding(f: DoctorFacts): CheckResult {
  const name = 'external-forwarding';
  const r = f.routes;
  if (!r.ok) return warn(name, `not checked: cannot read the routes: ${r.error}`);
  const judged = f.config.externalInterfaces.kind === 'auto' ? r.interfaces : r.interfaces.filter((i) => i.uplink);
  if (judged.length === 0) return ok(name, f.config.externalInterfaces.kind === 'auto' ? 'no route to any network: no interface to forward from' : 'no default route: no uplink to forward from');
  const countV6 = f.use === undefined || f.use.ipv6;
  const problems: string[] = [];
  for (const i of judged) {
    if (i.families.includes(4) && i.ipv4Forwarding?.trim() !== '1') {
      problems.push(`net.ipv4.conf.${i.name}.forwarding=${i.ipv4Forwarding?.trim() ?? '(unreadable)'}`);
    }
    if (i.families.includes(6) && countV6 && r.ipv6 && r.ipv6.allForwarding?.trim() !== '1') {
      if (!r.ipv6.forceForwardingKnown) {
        problems.push(`net.ipv6.conf.all.forwarding=${r.ipv6.allForwarding?.trim() ?? '(unreadable)'} (IPv6 routes via ${i.name}; before Linux 6.17 IPv6 cannot be forwarded per interface)`);
      } else if (i.ipv6ForceForwarding?.trim() !== '1') {
        problems.push(`net.ipv6.conf.${i.name}.force_forwarding=${i.ipv6ForceForwarding?.trim() ?? '(unreadable)'}`);
      }
    }
  }
  const uplinks = judged.map((i) => `${i.name} (IPv${i.families.join('/IPv')}${i.uplink ? ', default route' : ''})`).join(', ');
  if (problems.length === 0) return ok(name, `${uplinks} forward${judged.length === 1 ? 's' : ''}`);
  // Before Linux 6.17 only all.forwarding forwards IPv6, and dockgate never sets it (that would
  // make the host an IPv6 router between all its interfaces): the admin must, knowingly.
  const oldKernelV6 = problems.some((p) => p.startsWith('net.ipv6.conf.all.forwarding='));
  const dockgateFixes = problems.some((p) => !p.startsWith('net.ipv6.conf.all.forwarding='));
  const fix = [
    ...(dockgateFixes
      ? [f.config.externalInterfaces.kind === 'auto'
          ? 'dockgate turns it on while it runs with external_interfaces: auto; if it is running, something turned it off'
          : 'add the interface to external_interfaces (or use external_interfaces: auto) and dockgate turns it on']
      : []),
    ...(oldKernelV6
      ? ['dockgate does not set net.ipv6.conf.all.forwarding (on this kernel it makes the host an IPv6 router between all its interfaces): if containers need IPv6 egress or dnat, set it to 1 yourself (sysctl.d) with the ip6tables FORWARD policy DROP, and dockgate\'s chains accept their flows']
      : []),
  ].join('; ');
  const use = f.use;
  if (use === undefined) return warn(name, `${problems.join(', ')}; whether egress or dnat is in use is unknown (Docker not reachable): if so, ${fix}`);
  if (use.egress.length === 0 && use.dnat.length === 0) {
    return ok(name, `no running container uses egress or dnat; ${problems.join(', ')} would drop their replies and clients`);
  }
  const inUse = [
    ...(use.egress.length > 0 ? [`egress (${plural(use.egress.length, 'container')}, e.g. ${use.egress[0]})`] : []),
    ...(use.dnat.length > 0 ? [`dnat (${plural(use.dnat.length, 'opening')}, e.g. ${use.dnat[0]})`] : []),
  ];
  return fail(
    name,
    `${inUse.join(' and ')} in use, but ${problems.join(', ')}: replies to containers' connections and dnat clients arriving there are dropped; ${fix}`,
  );
}

/**
 * FORWARD's policy decides what dockgate's chains leave alone: traffic that touches no Docker
 * bridge. Where all.forwarding is 0, only the interfaces dockgate turns on forward, and its chains
 * drop every new flow that touches no Docker network (the routing guard), so ACCEPT is harmless
 * there. Where all.forwarding is 1 the host is a router of its own accord: dockgate leaves its
 * routing alone, and policy ACCEPT routes everything between the interfaces.
 */
function judgeForwardPolicy(name: string, family: Family, state: KernelState, allForwarding: string | undefined): CheckResult {
  const tool = family === 4 ? 'iptables' : 'ip6tables';
  const sysctl = `net.ipv${family}.conf.all.forwarding`;
  // No filter table at all (nf_tables before anyone wrote to it) forwards like policy ACCEPT.
  const policy = state.get('filter')?.policies.get('FORWARD') ?? 'ACCEPT';
  if (policy !== 'ACCEPT') return ok(name, `${tool} FORWARD policy is ${policy}`);
  const all = allForwarding?.trim();
  if (all === '1') {
    return warn(
      name,
      `${tool} FORWARD policy is ACCEPT and ${sysctl}=1: this host routes ${family === 6 ? 'IPv6 ' : ''}between all its interfaces, and dockgate leaves that routing to your rules (it fails closed only for the Docker bridges); set the FORWARD policy to DROP unless routing everything is meant`,
    );
  }
  const where = family === 4 ? 'only the Docker bridges and external interfaces forward' : 'IPv6 forwards only where dockgate sets force_forwarding (Linux 6.17+; not at all before)';
  return ok(name, `${tool} FORWARD policy is ACCEPT, ${sysctl}=${all ?? '(unreadable)'}: ${where}, and dockgate's chains drop what that would route between the host's own interfaces`);
}

export function checkForwardPolicy(f: DoctorFacts): CheckResult {
  const state = f.iptables.state;
  if (!state) return warn('forward-policy', 'not checked: cannot read iptables');
  const why = unreadable(state, ['filter']);
  if (why) return warn('forward-policy', why);
  return judgeForwardPolicy('forward-policy', 4, state, f.sysctl.allForwarding);
}

/** The same for ip6tables: many admins keep an IPv4 firewall only, and IPv6 routes as freely. */
export function checkForwardPolicy6(f: DoctorFacts): CheckResult {
  const name = 'forward-policy-ipv6';
  const six = f.ip6tables;
  if (six === undefined) return ok(name, 'not checked');
  if (!six.found || six.state === undefined) return ok(name, `no IPv6 firewall to check (${six.error ?? `${six.command} not installed`})`);
  const bad = incompatibleTables(six.state, ['filter']);
  if (bad.length > 0) return warn(name, `not checked: ${six.command} cannot show the filter table`);
  const all = f.sysctl.ipv6AllForwarding ?? (f.routes.ok ? f.routes.ipv6?.allForwarding : undefined);
  return judgeForwardPolicy(name, 6, six.state, all);
}
