// Config + Docker facts → the planner's input. One place, so that `run`, `plan` and `status`
// compute exactly the same plan.
import type { Config } from '../config/schema.js';
import type { ContainerFacts, Listener, NetworkFacts, OtherNetwork } from '../model/types.js';
import type { PlanInput } from './ruleset.js';

export interface HostFacts {
  containers: readonly ContainerFacts[];
  networks: readonly NetworkFacts[];
  otherNetworks: readonly OtherNetwork[];
  listeners: readonly Listener[] | undefined;
}

export function planInput(config: Config, facts: HostFacts): PlanInput {
  return {
    labelPrefix: config.labelPrefix,
    defaults: config.defaults,
    claimable: config.claimablePorts,
    containers: facts.containers,
    networks: facts.networks,
    otherNetworks: facts.otherNetworks,
    listeners: facts.listeners,
  };
}
