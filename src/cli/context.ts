// What every command needs: the config (exit 2 when it is wrong) and the parts built from it.
import { ConfigError, loadConfig, resolveDockerHost } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { FamilyDataplanes, ip6tablesOptions, probeIpv6 } from '../dataplane/families.js';
import { Iptables } from '../dataplane/iptables.js';
import { DockerSource } from '../docker/source.js';
import type { RuleSet } from '../model/types.js';
import { readListeners } from '../dataplane/listeners.js';
import { planInput } from '../plan/input.js';
import { mayClaim } from '../plan/ownership.js';
import { buildRuleSet } from '../plan/ruleset.js';
import { BridgePorts } from '../dataplane/bridge-ports.js';
import { CliError, EXIT_CONFIG } from './errors.js';

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
  const v6 = ip6tablesOptions(config.iptables);
  const ipv6 = await probeIpv6(queue, v6);
  return new FamilyDataplanes(new Dataplane(new Iptables(queue, config.iptables)), ipv6 ? new Dataplane(new Iptables(queue, v6, 6)) : undefined);
}

/** The plan for the containers running now: exactly what `run` would compute. */
export async function currentPlan(config: Config, docker: DockerSource): Promise<RuleSet> {
  try {
    const { bridges, others } = await docker.listAllNetworks();
    const containers = await docker.listRunning();
    const listeners = mayClaim(containers, config.labelPrefix) ? await readListeners() : undefined;
    const ipv6 = await probeIpv6(new CommandQueue(), ip6tablesOptions(config.iptables));
    const bridgePorts = (await new BridgePorts(new CommandQueue()).lookup(containers, bridges)).ports;
    return buildRuleSet(planInput(config, { containers, networks: bridges, otherNetworks: others, bridgePorts, listeners, ipv6 }));
  } catch (err) {
    throw new CliError(`dockgate: cannot read Docker state from ${docker.host}: ${(err as Error).message}`, 1);
  }
}
