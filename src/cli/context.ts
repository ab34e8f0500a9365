// What every command needs: the config (exit 2 when it is wrong) and the parts built from it.
import { ConfigError, loadConfig, resolveDockerHost } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { type FamilyDataplanes, ip6tablesOptions, makeDataplanes, probeIpv6 } from '../dataplane/families.js';
import { DockerSource } from '../docker/source.js';
import type { Family, RuleSet } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';
import { contestedClaims, heldInKernel } from '../plan/held-claims.js';
import { readListeners } from '../dataplane/listeners.js';
import { readHostSockets } from '../dataplane/host-sockets.js';
import { isHostNetwork, wantsHostSockets } from '../plan/host-network.js';
import { Sysctl } from '../dataplane/sysctl.js';
import { planInput } from '../plan/input.js';
import { mayClaim } from '../plan/ownership.js';
import { type PlanInput, buildRuleSet } from '../plan/ruleset.js';
import { BridgePorts } from '../dataplane/bridge-ports.js';
import { CliError, EXIT_CONFIG } from './errors.js';
import { readResolvConf } from '../egress/resolv-conf.js';
import { errorMessage } from '../util/errors.js';

export { CliError, EXIT_CONFIG } from './errors.js';

export function readConfig(path: string | undefined): Config {
  try {
    return loadConfig(path);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(`dockgate: config error: ${err.message}`, EXIT_CONFIG);
    throw err;
  }
}

export function dockerFor(config: Config): DockerSource {
  return new DockerSource(resolveDockerHost(config, process.env));
}

/** Both families' dataplanes; IPv6 only where the host has it. */
export async function dataplanesFor(config: Config): Promise<FamilyDataplanes> {
  const queue = new CommandQueue();
  return makeDataplanes(queue, config.iptables, await probeIpv6(queue, ip6tablesOptions(config.iptables)));
}

/** The plan for the containers running now: exactly what `run` would compute if it started now. */
export async function currentPlan(config: Config, docker: DockerSource): Promise<RuleSet> {
  return buildRuleSet(await currentInput(config, docker));
}

/** The planner's input for the containers running now, without the running daemon's memory of granted claims. */
export async function currentInput(config: Config, docker: DockerSource): Promise<PlanInput> {
  try {
    const { bridges, others } = await docker.listAllNetworks();
    const containers = await docker.listRunning();
    const listeners = mayClaim(containers, config.labelPrefix) ? await readListeners() : undefined;
    const hostSockets = wantsHostSockets(containers, config.labelPrefix) ? await readHostSockets(containers.filter(isHostNetwork)) : undefined;
    const ipv6 = await probeIpv6(new CommandQueue(), ip6tablesOptions(config.iptables));
    const bridgePorts = (await new BridgePorts(new CommandQueue()).lookup(containers, bridges)).ports;
    // As the daemon reads it: whether it writes the routing guard depends on it.
    const adminRouting = await new Sysctl().adminRouting();
    const resolvConf = await readResolvConf(config.egress.resolvConf);
    const resolvers = resolvConf.ok ? resolvConf.value : [];
    return planInput(config, { containers, networks: bridges, otherNetworks: others, bridgePorts, listeners, ipv6, adminRouting, resolvers, hostSockets });
  } catch (err) {
    throw new CliError(`dockgate: cannot read Docker state from ${docker.host}: ${errorMessage(err)}`, 1);
  }
}

/**
 * The plan as the running daemon holds it. A one-shot command has none of the daemon's memory of
 * granted claims, so a claim a host process listens on now counts as kept when the kernel holds
 * its rules (the daemon granted it before that process bound the port), as refused otherwise.
 * The kernel is read only when some claim is contested so.
 */
export async function heldPlan(input: PlanInput, kernel: () => Promise<ReadonlyMap<Family, KernelState>>): Promise<RuleSet> {
  const contested = contestedClaims(input);
  if (contested.length === 0) return buildRuleSet(input);
  return buildRuleSet({ ...input, granted: heldInKernel(input, contested, await kernel()) });
}

/** What iptables-save and ip6tables-save show now, by family. */
export async function kernelStates(dataplanes: FamilyDataplanes): Promise<Map<Family, KernelState>> {
  const states = new Map<Family, KernelState>([[4, await dataplanes.v4.iptables.save()]]);
  if (dataplanes.v6) states.set(6, await dataplanes.v6.iptables.save());
  return states;
}
