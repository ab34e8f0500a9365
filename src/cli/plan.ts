// `dockgate plan`: everything `run` would write now, by table: iptables, ip6tables, the bridge
// table, and the marks and the rule it would add to other firewalls' chains. Reads Docker and the
// firewall, never changes it.
import { terminalJson } from '../labels/text.js';
import { containerPlanJson } from '../model/format.js';
import { renderPlan } from '../plan/restore.js';
import { buildRuleSet, familyRuleSet } from '../plan/ruleset.js';
import { renderBridgeTable } from '../plan/antispoof.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { type FootprintPreview, footprintFor } from '../dataplane/footprint.js';
import { footprintArgs } from '../dataplane/nft.js';
import type { Config } from '../config/schema.js';
import type { RuleSet } from '../model/types.js';
import { currentInput, dataplanesFor, dockerFor, readConfig } from './context.js';
import { probeRawMissing } from '../dataplane/families.js';
import { rawMissingMessage } from '../dataplane/kernel-limits.js';
import { renderSetsText } from '../egress/sets.js';
import { errorMessage } from '../util/errors.js';

/** What run would write into mangle and other firewalls' chains; an error text when nft or iptables cannot be read. */
async function foreignPreview(config: Config, plan: RuleSet): Promise<FootprintPreview | { error: string }> {
  try {
    return await (await footprintFor(config, new CommandQueue())).preview(plan, config.foreignChains, config.foreignChainsMark);
  } catch (err) {
    return { error: errorMessage(err) };
  }
}

function renderForeign(config: Config, p: FootprintPreview | { error: string }): string {
  const mode = config.foreignChains;
  if ('error' in p) return `# other firewalls: not read (${p.error}); run as root to see the marks and the rule dockgate would add to their chains\n`;
  if (p.needed.length === 0) return '# other firewalls: none on the path drops what dockgate opens; no marks, nothing written into their tables\n';
  if (mode === 'leave') return `# other firewalls: foreign_chains is leave: nothing written there; these chains drop what dockgate opens: ${p.needed.join(', ')}\n`;
  const out: string[] = [];
  for (const m of p.marks) out.push(`# ${m.family === 6 ? 'ip6tables' : 'iptables'} mangle (marks what dockgate accepts, for the rule below)\n${m.text}`);
  out.push(`# nft: one rule in each chain of another firewall that would drop what dockgate opens\n`);
  for (const f of p.footprints) out.push(`${f.where}: ${footprintArgs(config.foreignChainsMark).join(' ')}\n`);
  return out.join('');
}

export async function printPlan(options: { config?: string; json?: boolean }): Promise<void> {
  const config = readConfig(options.config);
  const input = await currentInput(config, dockerFor(config));
  // As run plans on a kernel without the raw table: its drops in filter and nat instead. Unreadable
  // (not root), raw counts as there, as run first tries it.
  const rawMissing = await dataplanesFor(config)
    .then(probeRawMissing)
    .catch(() => []);
  const plan = buildRuleSet({ ...input, rawMissing });
  const foreign = await foreignPreview(config, plan);
  if (options.json) {
    const ipv6 = plan.ipv6 ? { ipv6: { chains: plan.ipv6.chains, jumps: plan.ipv6.jumps } } : {};
    const other = { foreignChains: { mode: config.foreignChains, ...foreign } };
    const limits = rawMissing.length > 0 ? { kernelLimits: rawMissing.map((family) => ({ table: 'raw', family, missing: true, message: rawMissingMessage(family) })) } : {};
    process.stdout.write(`${terminalJson({ containers: plan.containers.map(containerPlanJson), chains: plan.chains, jumps: plan.jumps, ...ipv6, bridge: plan.bridge, egressSets: plan.egressSets ?? [], ...other, ...limits })}\n`);
  } else {
    for (const family of rawMissing) process.stdout.write(`# WARNING ${rawMissingMessage(family)}\n`);
    process.stdout.write('# iptables (IPv4)\n');
    process.stdout.write(renderPlan(plan));
    const v6 = familyRuleSet(plan, 6);
    if (v6) process.stdout.write(`# ip6tables (IPv6)\n${renderPlan(v6)}`);
    if (plan.bridge) process.stdout.write(`# nft -f (anti-spoofing on the bridge ports)\n${renderBridgeTable(plan.bridge)}`);
    process.stdout.write(renderSetsText(plan.egressSets ?? []));
    process.stdout.write(renderForeign(config, foreign));
  }
}
