// `dockgate explain SRC HOST:PORT[/PROTO]` and `dockgate explain CONTAINER`: reads the plan, the
// kernel (iptables-save / ip6tables-save), the host's addresses and the nft ruleset, and prints
// what src/trace/explain.ts concludes. Exit 0 when allowed, 1 when not (or not known), 2 on
// usage errors.
import { terminalJson } from '../labels/text.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { readAddresses } from '../dataplane/addresses.js';
import { footprintFor } from '../dataplane/footprint.js';
import { readHostRoutes } from '../dataplane/routes.js';
import type { Config } from '../config/schema.js';
import type { ContainerFacts, Family, RuleSet } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';
import { parseNet } from '../net/address.js';
import { type ExplainContext, type ForeignInput, explainContainer, explainPacket, inferInInterface } from '../trace/explain.js';
import { explanationJson, renderContainer, renderExplanation } from '../trace/explain-text.js';
import { type HostView, isLocal } from '../trace/host.js';
import type { TracePacket } from '../trace/trace.js';
import { CliError, EXIT_CONFIG, currentInput, dataplanesFor, dockerFor, heldPlan, readConfig } from './context.js';
import { IFNAME } from '../net/ifname.js';
import { errorMessage } from '../util/errors.js';
import { type Result, fail, ok } from '../model/result.js';

export interface ExplainOptions {
  config?: string;
  json?: boolean;
  /** The interface the connection arrives on, when the route back to SRC does not say. */
  in?: string;
}

const usage = (message: string): CliError =>
  new CliError(`dockgate explain: ${message}\nusage: dockgate explain SRC HOST:PORT[/tcp|/udp]   (IPv6: [2001:db8::1]:8080/tcp)\n       dockgate explain CONTAINER`, EXIT_CONFIG);


/** SRC: an address or a CIDR (a range of clients), either family. */
export function parseSource(text: string): Result<{ family: Family; src: string }> {
  const n = parseNet(text);
  if (!n || (text.includes('/') && !/\/\d{1,3}$/.test(text))) return fail(`SRC "${text}" is not an IPv4 or IPv6 address (or CIDR)`);
  return ok({ family: n.family, src: n.text });
}

/** HOST:PORT[/PROTO], IPv6 hosts in brackets. */
export function parseDestination(text: string): Result<{ family: Family; dst: string; dport: number; protocol: 'tcp' | 'udp' }> {
  if (!text.startsWith('[') && (text.match(/:/g) ?? []).length > 1) return fail(`"${text}": write an IPv6 host in brackets, e.g. [2001:db8::1]:8080/tcp`);
  const m = /^(?:\[([^\]]*)\]|([^:[\]/]*)):([^/]*)(?:\/(.*))?$/.exec(text);
  if (!m) return fail(`"${text}" is not HOST:PORT[/PROTO] (e.g. 10.0.0.5:8000/tcp)`);
  const hostText = m[1] ?? m[2] ?? '';
  const host = parseNet(hostText);
  if (!host || host.lo !== host.hi || hostText.includes('/')) return fail(`HOST "${hostText}" in "${text}" is not one IPv4 or IPv6 address`);
  if (m[1] !== undefined && host.family !== 6) return fail(`"${text}": brackets are for IPv6 hosts only`);
  if (!/^\d{1,5}$/.test(m[3]!) || Number(m[3]) < 1 || Number(m[3]) > 65535) return fail(`PORT "${m[3]}" in "${text}" is not a port (1-65535)`);
  const proto = (m[4] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') return fail(`PROTO "${m[4]}" in "${text}" is not tcp or udp`);
  return ok({ family: host.family, dst: host.text, dport: Number(m[3]), protocol: proto });
}

/** Everything explain reads from the host, in one place. */
async function gather(config: Config): Promise<{ ctx: Omit<ExplainContext, 'plan' | 'facts'>; plan: RuleSet; facts: ContainerFacts[] }> {
  const docker = dockerFor(config);
  const input = await currentInput(config, docker);
  let facts: ContainerFacts[];
  try {
    facts = await docker.listRunning();
  } catch (err) {
    throw new CliError(`dockgate explain: cannot read the containers' labels from ${docker.host}: ${errorMessage(err)}`, 1);
  }
  const dps = await dataplanesFor(config);
  const queue: CommandQueue = dps.v4.iptables.queue;
  const states = new Map<Family, KernelState>();
  try {
    states.set(4, await dps.v4.iptables.save());
    if (dps.v6) states.set(6, await dps.v6.iptables.save());
  } catch (err) {
    throw new CliError(`dockgate explain: cannot read the firewall: ${errorMessage(err)}`, 1);
  }
  // A claim the running daemon keeps against a later host listener is explained as kept.
  const plan = await heldPlan(input, async () => states);
  let host: HostView;
  try {
    host = { interfaces: await readAddresses(queue) };
  } catch (err) {
    throw new CliError(`dockgate explain: cannot read the host's addresses: ${errorMessage(err)}`, 1);
  }
  try {
    host = { ...host, defaultRoutes: (await readHostRoutes(queue, dps.v6 !== undefined)).routes };
  } catch {
    // Without default routes only connected subnets say where a packet comes from: fewer answers, no wrong ones.
  }
  let foreign: ForeignInput;
  try {
    // The daemon's footprint, IPv6 marks included (status judges by the same one).
    const fp = await footprintFor(config, queue);
    const s = await fp.inspect(plan, config.foreignChains, config.foreignChainsMark);
    foreign = { ruleset: s.ruleset, marksInPlace: s.marksInPlace, mark: config.foreignChainsMark, ...(fp.iptables6 ? { marksInPlace6: s.marksInPlace6 } : {}) };
  } catch (err) {
    foreign = { error: errorMessage(err) };
  }
  return { ctx: { labelPrefix: config.labelPrefix, states, host, foreign }, plan, facts };
}

export async function explain(target: string, dest: string | undefined, options: ExplainOptions): Promise<number> {
  // Every usage error before anything is read.
  if (options.in !== undefined && !IFNAME.test(options.in)) throw usage(`--in "${options.in}" is not an interface name`);
  let packetArgs: { family: Family; src: string; dst: string; dport: number; protocol: 'tcp' | 'udp' } | undefined;
  if (dest !== undefined) {
    const source = parseSource(target);
    if (!source.ok) throw usage(source.error);
    const destination = parseDestination(dest);
    if (!destination.ok) throw usage(destination.error);
    const [s, d] = [source.value, destination.value];
    if (s.family !== d.family) throw usage(`SRC ${s.src} is IPv${s.family} but HOST ${d.dst} is IPv${d.family}`);
    packetArgs = { ...s, ...d };
  } else {
    if (parseSource(target).ok || /^\[|:\d+(\/\w+)?$/.test(target)) {
      throw usage(`"${target}" looks like an address: give both SRC and HOST:PORT, or a container name`);
    }
    if (options.in !== undefined) throw usage('--in is for SRC HOST:PORT, not for a container');
  }

  const config = readConfig(options.config);
  const { ctx: base, plan, facts } = await gather(config);
  const ctx: ExplainContext = { ...base, plan, facts };

  if (packetArgs) {
    const src = parseNet(packetArgs.src)!;
    if (isLocal(ctx.host, src) === 'yes') {
      throw usage(`SRC ${packetArgs.src} is one of this host's own addresses: explain traces connections arriving from another machine or a container`);
    }
    const inferred = options.in !== undefined ? { iface: options.in, how: 'given with --in' } : inferInInterface(ctx.host, plan, src);
    const packet: TracePacket = {
      family: packetArgs.family,
      src: packetArgs.src,
      dst: packetArgs.dst,
      protocol: packetArgs.protocol,
      dport: packetArgs.dport,
      ...(inferred.iface !== undefined ? { inInterface: inferred.iface } : {}),
    };
    const e = explainPacket(ctx, packet, inferred.how);
    process.stdout.write(options.json ? `${terminalJson(explanationJson(e))}\n` : renderExplanation(e, config.labelPrefix));
    return e.answer === 'allowed' ? 0 : 1;
  }

  const byName = plan.containers.filter((c) => c.name === target);
  const byId = plan.containers.filter((c) => c.id.startsWith(target.toLowerCase()));
  const found = byName.length > 0 ? byName : byId;
  if (found.length === 0) throw usage(`no running container is named "${target}" or has an id starting with it`);
  if (found.length > 1) throw usage(`"${target}" is ambiguous: ${found.map((c) => `${c.name} (${c.id.slice(0, 12)})`).join(', ')}`);
  const x = explainContainer(ctx, found[0]!);
  if (options.json) {
    const json = {
      container: { id: x.container.id, name: x.container.name, mode: x.container.mode, egress: x.container.egress, errors: x.container.errors, warnings: x.container.warnings },
      labels: x.labels,
      answer: x.answer,
      allowed: x.answer === 'allowed',
      openings: x.openings.map((o) => ({ source: o.source, ...(o.skipped ? { skipped: o.skipped } : {}), ...(o.explanation ? { explanation: explanationJson(o.explanation) } : {}) })),
    };
    process.stdout.write(`${terminalJson(json)}\n`);
  } else {
    process.stdout.write(renderContainer(x, config.labelPrefix));
  }
  return x.answer === 'allowed' ? 0 : 1;
}
