// `dockgate doctor`'s judgement: pure functions from collected facts to one ok/warn/fail line per
// check, one file per topic; this one runs them in order. Collecting the facts (processes, /proc,
// Docker) happens elsewhere, so every verdict can be tested from a table of hand-made facts.
import type { CheckResult } from './check-result.js';
import type { DoctorFacts } from './facts.js';
import { checkBackends, checkIptables, checkJumps } from './iptables-checks.js';
import { checkDaemonJson, checkDocker, checkDockerChains, checkDockerIp6tables, checkDockerIpForward, checkDockerIptables, checkSwarm, checkUserlandProxy } from './docker-checks.js';
import { checkDockerFirewall } from './docker-firewall-check.js';
import { checkExternalForwarding, checkForwardPolicy, checkForwardPolicy6, checkForwarding, checkInterfaces } from './forwarding-checks.js';
import { checkIpv6Exposure, checkPortOwnership, checkUnfirewalled } from './container-checks.js';
import { checkHostFirewall } from './host-firewall-checks.js';
import { checkMarkBit } from './mark-bit-check.js';

/** Every check, in the order doctor prints them. */
export function runChecks(f: DoctorFacts): CheckResult[] {
  return [
    checkIptables(f),
    checkBackends(f),
    checkDocker(f),
    checkSwarm(f),
    checkDaemonJson(f),
    checkDockerIptables(f),
    checkDockerIp6tables(f),
    checkDockerFirewall({
      driver: f.docker.reachable ? f.docker.firewallBackend : undefined,
      ruleset: f.hostFirewall?.nft.ok ? f.hostFirewall.nft.ruleset : undefined,
    }),
    checkIpv6Exposure(f),
    checkPortOwnership(f),
    ...checkUnfirewalled(f),
    checkDockerIpForward(f),
    checkUserlandProxy(f),
    checkDockerChains(f),
    checkForwarding(f),
    ...checkInterfaces(f),
    checkExternalForwarding(f),
    checkForwardPolicy(f),
    checkForwardPolicy6(f),
    checkJumps(f),
    ...checkHostFirewall(f),
    ...checkMarkBit(f),
  ];
}

export function formatChecks(results: readonly CheckResult[]): string {
  const width = Math.max(0, ...results.map((r) => r.name.length));
  return results.map((r) => `${r.status.padEnd(4)}  ${r.name.padEnd(width)}  ${r.detail}\n`).join('');
}
