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
import type { ContainerFacts, ContainerPlan, Family, RuleSet } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';
import { parseNet } from '../net/address.js';
import { type ExplainContext, type ForeignInput, explainContainer, explainPacket, inferInInterface } from '../trace/explain.js';
import { explanationJson, renderContainer, renderExplanation } from '../trace/explain-text.js';
import { type HostView, isLocal } from '../trace/host.js';
import type { TracePacket } from '../trace/trace.js';
import { containerPacket } from '../trace/egress.js';
import type { SetMembers } from '../trace/sets.js';
import { Ipsets } from '../dataplane/ipset.js';
import { CliError, EXIT_CONFIG, currentInput, dataplanesFor, dockerFor, heldPlan, readConfig } from './context.js';
import { IFNAME } from '../net/ifname.js';
import { type Result, fail, ok } from '../model/result.js';
import { errorMessage } from '../util/errors.js';

export interface ExplainOptions {
  config?: string;
  json?: boolean;
  /** The interface the connection arrives on, when the route back to SRC does not say. */
  in?: string;
}

const usage = (message: string): CliError =>
  new CliError(`dockgate explain: ${message}\nusage: dockgate explain SRC HOST:PORT[/tcp|/udp]   (IPv6: [2001:db8::1]:8080/tcp)\n       dockgate explain CONTAINER DEST:PORT[/tcp|/udp]\n       dockgate explain CONTAINER`, EXIT_CONFIG);


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

/** A container name as Docker allows it (or the start of an id); digits and dots alone are a mistyped address. */
const CONTAINER_NAME = /^(?![\d.]+$)[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * The kernel's egress name sets, read only when the plan matches on some (ipset is then
 * installed): without them an accept through a name is uncertain, and explain says so.
 */
async function readSets(plan: RuleSet, queue: CommandQueue): Promise<SetMembers | undefined> {
  if ((plan.egressSets ?? []).length === 0) return new Map();
  try {
    return await new Ipsets(queue).read();
  } catch {
    return undefined;
  }
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
  const sets = await readSets(plan, queue);
  return { ctx: { labelPrefix: config.labelPrefix, states, host, foreign, ...(sets ? { sets } : {}) }, plan, facts };
}

type PacketArgs = { family: Family; src: string; dst: string; dport: number; protocol: 'tcp' | 'udp' };
type Request = { kind: 'packet'; args: PacketArgs } | { kind: 'egress'; container: string; to: Omit<PacketArgs, 'src'> } | { kind: 'container'; container: string };

/** What was asked, or a usage error before anything is read. */
function request(target: string, dest: string | undefined, options: ExplainOptions): Request {
  if (options.in !== undefined && !IFNAME.test(options.in)) throw usage(`--in "${options.in}" is not an interface name`);
  const s = parseSource(target);
  if (dest !== undefined) {
    const d = parseDestination(dest);
    if (!s.ok && CONTAINER_NAME.test(target)) {
      if (!d.ok) throw usage(d.error);
      if (options.in !== undefined) throw usage('--in is for SRC HOST:PORT: a container\'s connection leaves by its own bridge');
      return { kind: 'egress', container: target, to: d.value };
    }
    if (!s.ok) throw usage(s.error);
    if (!d.ok) throw usage(d.error);
    if (s.value.family !== d.value.family) throw usage(`SRC ${s.value.src} is IPv${s.value.family} but HOST ${d.value.dst} is IPv${d.value.family}`);
    return { kind: 'packet', args: { ...s.value, ...d.value } };
  }
  if (s.ok || /^\[|:\d+(\/\w+)?$/.test(target)) {
    throw usage(`"${target}" looks like an address: give both SRC and HOST:PORT, or a container name`);
  }
  if (options.in !== undefined) throw usage('--in is for SRC HOST:PORT, not for a container');
  return { kind: 'container', container: target };
}

function findContainer(plan: RuleSet, target: string): ContainerPlan {
  const byName = plan.containers.filter((c) => c.name === target);
  const byId = plan.containers.filter((c) => c.id.startsWith(target.toLowerCase()));
  const found = byName.length > 0 ? byName : byId;
  if (found.length === 0) throw usage(`no running container is named "${target}" or has an id starting with it`);
  if (found.length > 1) throw usage(`"${target}" is ambiguous: ${found.map((c) => `${c.name} (${c.id.slice(0, 12)})`).join(', ')}`);
  return found[0]!;
}

function printPacket(ctx: ExplainContext, packet: TracePacket, how: string, options: ExplainOptions, labelPrefix: string): number {
  const e = explainPacket(ctx, packet, how);
  process.stdout.write(options.json ? `${terminalJson(explanationJson(e))}\n` : renderExplanation(e, labelPrefix));
  return e.answer === 'allowed' ? 0 : 1;
}

export async function explain(target: string, dest: string | undefined, options: ExplainOptions): Promise<number> {
  // Every usage error before anything is read.
  const asked = request(target, dest, options);
  const config = readConfig(options.config);
  const { ctx: base, plan, facts } = await gather(config);
  const ctx: ExplainContext = { ...base, plan, facts };

  if (asked.kind === 'packet') {
    const a = asked.args;
    const src = parseNet(a.src)!;
    if (isLocal(ctx.host, src) === 'yes') {
      throw usage(`SRC ${a.src} is one of this host's own addresses: explain traces connections arriving from another machine or a container`);
    }
    const inferred = options.in !== undefined ? { iface: options.in, how: 'given with --in' } : inferInInterface(ctx.host, plan, src);
    const packet: TracePacket = { ...a, ...(inferred.iface !== undefined ? { inInterface: inferred.iface } : {}) };
    return printPacket(ctx, packet, inferred.how, options, config.labelPrefix);
  }
  const c = findContainer(plan, asked.container);
  if (asked.kind === 'egress') {
    const x = containerPacket(ctx, c, asked.to);
    if (typeof x === 'string') throw usage(x);
    return printPacket(ctx, x.packet, x.how, options, config.labelPrefix);
  }
  const x = explainContainer(ctx, c);
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
