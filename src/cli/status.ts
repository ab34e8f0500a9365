// `dockgate status`: each container's openings and label errors, and whether the kernel
// holds exactly the plan.
import { type ContainerPlanJson, containerPlanJson, describeOpening, describeSources } from '../model/format.js';
import type { ContainerPlan, Opening } from '../model/types.js';
import { escapeControls, labelText, terminalJson } from '../labels/text.js';
import { type DriftReport, IncompatibleTableError, compare } from '../plan/kernel-state.js';
import { describeForeign, foreignJson } from '../plan/foreign-rule.js';
import { mergeDrift, probeRawMissing } from '../dataplane/families.js';
import { rawMissingMessage } from '../dataplane/kernel-limits.js';
import { bridgeStatus, describeBridgeStatus } from './antispoof-status.js';
import { lastDropText, lastDropsOf } from '../drops/status.js';
import { CliError, currentInput, dataplanesFor, dockerFor, heldPlan, kernelStates, readConfig } from './context.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { type FootprintState, footprintFor } from '../dataplane/footprint.js';
import { type Effect, byEgress, byOpening, describeEffect } from '../hostfw/report.js';
import type { Family, RuleSet } from '../model/types.js';
import { formatEgressEntry } from '../labels/egress.js';
import { Ipsets } from '../dataplane/ipset.js';
import { type KernelSets, type NameAddresses, namesOf, namesText } from '../egress/status.js';
import { errorMessage } from '../util/errors.js';

/**
 * Other firewalls' verdict on every opening. When nft cannot be read, nothing is called
 * effective: the openings are "unknown", with the reason.
 */
export async function hostFirewall(config: Config, plan: RuleSet): Promise<{ state?: FootprintState; error?: string }> {
  const queue = new CommandQueue();
  try {
    return { state: await (await footprintFor(config, queue)).inspect(plan, config.foreignChains, config.foreignChainsMark) };
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

const UNKNOWN: Effect = { state: 'unknown', blockers: [] };

/** The containers as `status --json` shows them: openings as src/model/format.ts writes them (everyone is `"any"`). */
export function containersJson(containers: readonly ContainerPlan[]): ContainerPlanJson[] {
  return containers.map(containerPlanJson);
}

export async function status(options: { config?: string; json?: boolean }): Promise<number> {
  const config = readConfig(options.config);
  const input = await currentInput(config, dockerFor(config));
  let plan: RuleSet;
  let drift: DriftReport;
  let rawMissing: Family[];
  try {
    const dataplanes = await dataplanesFor(config);
    // As the daemon plans on such a kernel: raw's drops in filter and nat, which is no drift.
    rawMissing = await probeRawMissing(dataplanes);
    // Claims a host process listens on since the running daemon granted them are the daemon's,
    // not drift: the plan that keeps them says so in its warnings.
    plan = await heldPlan({ ...input, rawMissing }, () => kernelStates(dataplanes));
    drift = mergeDrift(await dataplanes.check(plan));
  } catch (err) {
    // A table iptables-save cannot show is neither in sync nor drifted: it is unknown.
    if (err instanceof IncompatibleTableError) throw new CliError(`dockgate status: cannot compare the firewall with the plan: ${err.message}`, 1);
    throw err;
  }
  const antiSpoofing = await bridgeStatus(plan);
  const host = await hostFirewall(config, plan);
  const lastDrops = await lastDropsOf(config);
  const effects = byOpening(host.state?.verdicts ?? []);
  const egress = byEgress(host.state?.verdicts ?? []);
  const kernelSets = await egressSetsOf(plan);
  const effectOf = (o: (typeof plan.containers)[number]['openings'][number]): Effect => (host.state ? (effects.get(o) ?? UNKNOWN) : UNKNOWN);
  // An opening packets cannot pass is as wrong as a missing rule: status exits 3 for both.
  const allEffective = host.state !== undefined && host.state.verdicts.every((v) => v.state === 'effective');
  const ok = drift.clean && allEffective && antiSpoofing.state === 'in-sync';
  if (options.json) {
    const containers = containersJson(plan.containers).map((c, i) => ({
      ...c,
      openings: c.openings.map((o, j) => ({ ...o, effect: effectOf(plan.containers[i]!.openings[j]!) })),
      ...(c.egressTo ? { egressNames: namesOf(plan.containers[i]!, kernelSets) } : {}),
      ...(egress.has(c.id) ? { egressEffect: egress.get(c.id) } : {}),
      ...(lastDrops.has(c.id.slice(0, 12)) ? { lastDrop: lastDrops.get(c.id.slice(0, 12)) } : {}),
    }));
    const foreignChains = {
      mode: config.foreignChains,
      ...(host.error !== undefined ? { error: host.error } : {}),
      ...(host.state ? { needed: host.state.needed, footprints: host.state.footprints, marksInPlace: host.state.marksInPlace } : {}),
    };
    const kernelLimits = rawMissing.map((family) => ({ table: 'raw', family, missing: true, message: rawMissingMessage(family) }));
    const driftJson = { ...drift, foreign: drift.foreign.map(foreignJson) };
    process.stdout.write(`${terminalJson({ containers, inSync: drift.clean, allEffective, foreignChains, drift: driftJson, antiSpoofing, kernelLimits })}\n`);
    return ok ? 0 : 3;
  }
  for (const c of plan.containers) process.stdout.write(containerStatusText(c, effectOf, egress.get(c.id), namesOf(c, kernelSets)) + lastDropText(lastDrops.get(c.id.slice(0, 12))));
  // Not drift (dockgate never deletes what it did not write), but the admin should know.
  const foreign = drift.foreign.map((f) => `  left alone: ${describeForeign(f)}\n`).join('');
  process.stdout.write(otherFirewalls(config, host));
  process.stdout.write(describeBridgeStatus(antiSpoofing));
  process.stdout.write(kernelLimitsText(rawMissing));
  if (drift.clean) {
    process.stdout.write(`firewall: in sync with the plan\n${foreign}`);
    if (ok) return 0;
    // In sync, and still not all well: say why the exit is 3, so "in sync" is not read as "fine".
    const why = [
      ...(allEffective ? [] : [host.state ? `${host.state.verdicts.filter((v) => v.state !== 'effective').length} opening(s) blocked or maybe blocked by another firewall (above)` : "other firewalls' chains could not be judged (above)"]),
      ...(antiSpoofing.state === 'in-sync' ? [] : ['the anti-spoofing table is not in sync (above)']),
    ];
    process.stdout.write(`not all well (exit 3): ${why.join('; ')}\n`);
    return 3;
  }
  process.stdout.write('firewall: DRIFT\n');
  for (const c of drift.chains) {
    process.stdout.write(`  ${c.table} ${c.chain}: ${c.problem}\n`);
    for (const l of c.missing) process.stdout.write(`    - missing:    ${l}\n`);
    for (const l of c.unexpected) process.stdout.write(`    + unexpected: ${l}\n`);
  }
  for (const j of drift.jumps) process.stdout.write(`  ${j.table} ${j.builtin}: jump to ${j.target} found ${j.count} times\n`);
  for (const s of drift.strays) process.stdout.write(`  ${s.table} ${s.builtin}: stray jump ${s.line}\n`);
  process.stdout.write(foreign);
  return 3;
}

/**
 * One container as `status` prints it. Label keys, values and warnings are the container owner's
 * text: escaped, so none of it acts on the terminal.
 */
export function containerStatusText(c: ContainerPlan, effectOf: (o: Opening) => Effect, egress?: Effect & { from: string[] }, names: readonly NameAddresses[] = []): string {
  // On the host network there is no mode and no egress of its own to show: its traffic is the host's.
  const out = [`${c.name} (${c.id.slice(0, 12)}) ${c.hostNetwork ? 'network=host' : `mode=${c.mode} egress=${c.egress}`}`];
  for (const o of c.openings) out.push(`  open  ${describeOpening(o)} from ${describeSources(o.sources)}: ${describeEffect(effectOf(o))}`);
  // Re-rendered from the parsed list: nothing of the label's own text reaches the terminal.
  if (c.egressTo) out.push(`  egress to ${c.egressTo.map(formatEgressEntry).join(',')} (and its resolvers on port 53)`);
  out.push(...namesText(names));
  if (egress && egress.state !== 'effective') out.push(`  egress from ${egress.from.join(', ')}: ${describeEffect(egress)}`);
  for (const e of c.errors) out.push(`  ERROR ${labelText(e.label, e.value)}: ${escapeControls(e.reason)}${e.closes === 'entry' ? ' (nothing opened for this entry)' : ''}`);
  for (const w of c.warnings) out.push(`  warn  ${escapeControls(w)}`);
  if (c.openings.length + c.errors.length + c.warnings.length === 0) out.push('  nothing opened');
  return `${out.join('\n')}\n`;
}

/**
 * What this kernel lacks and dockgate does without, loudly: a protection that is not where the
 * README says is worth a line of its own even when everything is in sync.
 */
export function kernelLimitsText(rawMissing: readonly Family[]): string {
  return rawMissing.map((family) => `WARNING ${rawMissingMessage(family)}\n`).join('');
}

/** What status says about other firewalls: the footprint kept, or the chains left alone. */
function otherFirewalls(config: Config, host: { state?: FootprintState; error?: string }): string {
  if (!host.state) return `other firewalls: not checked (${host.error ?? 'nft unreadable'}); openings are not known to be effective\n`;
  const { needed, footprints, marksInPlace } = host.state;
  if (needed.length === 0 && footprints.length === 0) return '';
  if (config.foreignChains === 'leave') {
    return `other firewalls: foreign_chains is leave; dockgate adds nothing to ${needed.join(', ') || 'them'}\n`;
  }
  const missing = needed.filter((n) => !footprints.includes(n));
  const lines = [`other firewalls: dockgate's mark accept is in ${footprints.join(', ') || 'no chain'}${marksInPlace ? '' : ' (marks not in place)'}`];
  if (missing.length > 0) lines.push(`  missing in ${missing.join(', ')}: the daemon puts it back within sync.drift_check_ms`);
  return `${lines.join('\n')}\n`;
}

/** The kernel's egress name sets, read only when the plan has names (ipset is then installed). */
async function egressSetsOf(plan: RuleSet): Promise<KernelSets> {
  if ((plan.egressSets ?? []).length === 0) return new Map();
  try {
    return await new Ipsets(new CommandQueue()).read();
  } catch {
    // Unreadable (ipset missing, not root): names are shown without addresses rather than failing status.
    return new Map();
  }
}
