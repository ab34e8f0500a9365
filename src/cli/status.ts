// `dockgate status`: each container's openings and label errors, and whether the kernel
// holds exactly the plan.
import { describeOpening } from '../daemon/change-log.js';
import { compare, describeForeign } from '../plan/kernel-state.js';
import { currentPlan, dataplaneFor, dockerFor, readConfig } from './context.js';

export async function status(options: { config?: string; json?: boolean }): Promise<number> {
  const config = readConfig(options.config);
  const plan = await currentPlan(config, dockerFor(config));
  const drift = compare(plan, await dataplaneFor(config).iptables.save());
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ containers: plan.containers, inSync: drift.clean, drift }, null, 2)}\n`);
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
