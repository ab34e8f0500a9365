// `dockgate doctor`: one line per check, `ok|warn|fail  name  detail`; exit 1 when any check fails.
import { resolve } from 'node:path';
import { resolveDockerHost } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { collectHostFacts } from '../dataplane/host-probe.js';
import { collectHostFirewall } from '../dataplane/host-firewall-probe.js';
import type { HostFirewallFacts, RouteFacts } from '../dataplane/host-facts.js';
import type { Family, RuleSet } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';
import { DockerSource } from '../docker/source.js';
import { readDockerFacts } from '../docker/info.js';
import type { CheckResult } from '../doctor/check-result.js';
import { formatChecks, runChecks } from '../doctor/doctor-checks.js';
import { type ForwardingUse, forwardingUse, ipv6Published, ownershipConflicts } from '../doctor/facts.js';
import { readListeners } from '../dataplane/listeners.js';
import { mayClaim } from '../plan/ownership.js';
import { planInput } from '../plan/input.js';
import { buildRuleSet } from '../plan/ruleset.js';
import { type UnfirewalledContainer, unfirewalledContainers } from '../plan/unfirewalled.js';
import { access } from 'node:fs/promises';
import { BridgeTable } from '../dataplane/bridge-table.js';
import { ip6tablesOptions, probeIpv6 } from '../dataplane/families.js';
import { type TableProbe, probeTable } from '../dataplane/kernel-limits.js';
import { kernelLimitChecks } from '../doctor/kernel-limit-checks.js';
import { dataplanesFor, heldPlan, kernelStates, readConfig } from './context.js';
import { errorMessage } from '../util/errors.js';

export interface DoctorRun {
  config: Config;
  /** Runs the probes; bind it to a network namespace to examine that namespace. */
  queue: CommandQueue;
  /** Prefix for daemon.json ('/' on a real host). */
  root?: string;
  /** '/proc/sys' on a real host. */
  sysctlDir?: string;
  /** Where dockerd is looked for: '/proc' on a real host. */
  procDir?: string;
  dockerHost?: string;
  dockerTimeoutMs?: number;
}

/**
 * Whether egress or dnat is in use: the plan `run` would make for the containers running now.
 * Host listeners are not read (they only refuse dnat claims), so a dnat claim counts as in use
 * even if run would refuse it: doctor errs on the side of checking. Undefined when Docker cannot
 * be asked.
 */
async function readForwardingUse(
  config: Config,
  dockerHost: string,
  timeoutMs: number,
): Promise<{ use: ForwardingUse; ipv6Published: string[]; ownership: string[]; bridges: string[]; unfirewalled: UnfirewalledContainer[] } | undefined> {
  try {
    const docker = new DockerSource(dockerHost);
    docker.apiTimeoutMs = timeoutMs;
    const { bridges, others } = await docker.listAllNetworks();
    const containers = await docker.listRunning();
    const ipv6 = bridges.some((b) => b.subnets6.length > 0);
    const plan = buildRuleSet(planInput(config, { containers, networks: bridges, otherNetworks: others, listeners: undefined, ipv6 }));
    // Ownership is judged as `run` would, host listeners included: a claim a host process now
    // listens on is named here, not only in status.
    const listeners = mayClaim(containers, config.labelPrefix) ? await readListeners() : undefined;
    // A claim the running daemon keeps against a later listener is not refused: the kernel says
    // which. Unreadable, it shows none kept, and every such claim is named as refused.
    const kernel = (): Promise<Map<Family, KernelState>> => dataplanesFor(config).then(kernelStates).catch(() => new Map());
    const owned = listeners ? await heldPlan(planInput(config, { containers, networks: bridges, otherNetworks: others, listeners, ipv6 }), kernel) : plan;
    return { use: forwardingUse(plan, bridges), ipv6Published: ipv6Published(containers), ownership: ownershipConflicts(owned), bridges: bridges.map((b) => b.bridge), unfirewalled: unfirewalledContainers(containers, others, config.labelPrefix) };
  } catch {
    return undefined; // the docker check says why
  }
}

export async function runDoctor(o: DoctorRun): Promise<CheckResult[]> {
  const dockerHost = o.dockerHost ?? resolveDockerHost(o.config, process.env);
  const [host, docker, read] = await Promise.all([
    collectHostFacts({
      queue: o.queue,
      config: o.config,
      root: o.root ?? '/',
      sysctlDir: o.sysctlDir ?? '/proc/sys',
      procDir: o.procDir ?? '/proc',
      dockerHost,
    }),
    readDockerFacts(dockerHost, o.dockerTimeoutMs),
    readForwardingUse(o.config, dockerHost, o.dockerTimeoutMs ?? 5000),
  ]);
  const hostFirewall = await readHostFirewall(o, dockerHost);
  const limits = await readKernelLimits(o);
  // A managed bridge with a custom name is known by Docker's answer only, as in `run`.
  const routes: RouteFacts = read && host.routes.ok ? { ...host.routes, interfaces: host.routes.interfaces.filter((i) => !read.bridges.includes(i.name)) } : host.routes;
  return [
    ...runChecks(
      read === undefined
        ? { ...host, routes, docker, hostFirewall }
        : { ...host, routes, docker, use: read.use, ipv6Published: read.ipv6Published, ownership: read.ownership, unfirewalled: read.unfirewalled, hostFirewall },
    ),
    ...limits,
  ];
}

/**
 * Small and restricted kernels (LXC/Proxmox): the raw table per family, br_netfilter, the nft
 * bridge family. Asked the way run finds out, without writing anything to the host.
 */
async function readKernelLimits(o: DoctorRun): Promise<CheckResult[]> {
  const sysctlDir = o.sysctlDir ?? '/proc/sys';
  const v6 = ip6tablesOptions(o.config.iptables);
  const raw: Array<{ family: Family; probe: TableProbe }> = [{ family: 4, probe: await probeTable(o.queue, o.config.iptables.saveCommand, 'raw') }];
  if (await probeIpv6(o.queue, v6, sysctlDir)) raw.push({ family: 6, probe: await probeTable(o.queue, v6.saveCommand, 'raw') });
  const brNetfilter = await access(`${sysctlDir}/net/bridge`).then(
    () => true,
    () => false,
  );
  return kernelLimitChecks({ raw, brNetfilter, bridgeFamily: await new BridgeTable(o.queue).supported() });
}

/**
 * Other firewalls on the same hooks, and every opening of the plan `run` would make judged
 * against them (listeners not read, as above: doctor checks more, never less).
 */
async function readHostFirewall(o: DoctorRun, dockerHost: string): Promise<HostFirewallFacts> {
  let plan: RuleSet | undefined;
  let planError: string | undefined;
  try {
    const docker = new DockerSource(dockerHost);
    docker.apiTimeoutMs = o.dockerTimeoutMs ?? 5000;
    const { bridges, others } = await docker.listAllNetworks();
    const containers = await docker.listRunning();
    const ipv6 = bridges.some((b) => b.subnets6.length > 0);
    plan = buildRuleSet(planInput(o.config, { containers, networks: bridges, otherNetworks: others, listeners: undefined, ipv6 }));
  } catch (err) {
    planError = `Docker could not be asked for the running containers (${errorMessage(err)})`;
  }
  return collectHostFirewall({ queue: o.queue, config: o.config, root: o.root ?? '/', procDir: o.procDir ?? '/proc', plan, ...(planError ? { planError } : {}) });
}

export async function doctor(options: { config?: string; json?: boolean; root?: string }): Promise<number> {
  const config = readConfig(options.config);
  const results = await runDoctor({ config, queue: new CommandQueue(), root: resolve(options.root ?? '/') });
  const failed = results.some((r) => r.status === 'fail');
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ok: !failed, checks: results }, null, 2)}\n`);
  } else {
    process.stdout.write(formatChecks(results));
  }
  return failed ? 1 : 0;
}
