// `dockgate status`: each container's openings and label errors, and whether the kernel
// holds exactly the plan.
import { describeOpening } from '../daemon/change-log.js';
import type { ContainerPlan, Opening } from '../model/types.js';
import { type DriftReport, IncompatibleTableError, compare, describeForeign } from '../plan/kernel-state.js';
import { mergeDrift } from '../dataplane/families.js';
import { CliError, currentPlan, dataplanesFor, dockerFor, readConfig } from './context.js';

/** An opening as `status --json` shows it: everyone is `"any"`, not the planner's `[""]`. */
export type OpeningJson = Omit<Opening, 'sources'> & { sources: 'any' | string[] };

export function containersJson(containers: readonly ContainerPlan[]): Array<Omit<ContainerPlan, 'openings'> & { openings: OpeningJson[] }> {
  return containers.map((c) => ({
    ...c,
    openings: c.openings.map((o) => ({ ...o, sources: o.sources.includes('') ? 'any' : o.sources })),
  }));
}

export async function status(options: { config?: string; json?: boolean }): Promise<number> {
  const config = readConfig(options.config);
  const plan = await currentPlan(config, dockerFor(config));
  let drift: DriftReport;
  try {
    drift = mergeDrift(await (await dataplanesFor(config)).check(plan));
  } catch (err) {
    // A table iptables-save cannot show is neither in sync nor drifted: it is unknown.
    if (err instanceof IncompatibleTableError) throw new CliError(`dockgate status: cannot compare the firewall with the plan: ${err.message}`, 1);
    throw err;
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ containers: containersJson(plan.containers), inSync: drift.clean, drift }, null, 2)}\n`);
    return drift.clean ? 0 : 3;
  }
  for (const c of plan.containers) {
    process.stdout.write(`${c.name} (${c.id.slice(0, 12)}) mode=${c.mode} egress=${c.egress}\n`);
    for (const o of c.openings) process.stdout.write(`  open  ${describeOpening(o)} from ${o.sources.map((s) => s || 'anywhere').join(', ')}\n`);
    for (const e of c.errors) process.stdout.write(`  ERROR ${e.label}=${JSON.stringify(e.value)}: ${e.reason}\n`);
    for (const w of c.warnings) process.stdout.write(`  warn  ${w}\n`);
    if (c.openings.length + c.errors.length + c.warnings.length === 0) process.stdout.write('  nothing opened\n');
  }
  // Not drift (dockgate never deletes what it did not write), but the admin should know.
  const foreign = drift.foreign.map((f) => `  left alone: ${describeForeign(f)}\n`).join('');
  if (drift.clean) {
    process.stdout.write(`firewall: in sync with the plan\n${foreign}`);
    return 0;
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
