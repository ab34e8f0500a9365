// `dockgate plan`: what `run` would write now. Reads Docker, never touches the firewall.
import { terminalJson } from '../labels/text.js';
import { containerPlanJson } from '../model/format.js';
import { renderPlan } from '../plan/restore.js';
import { familyRuleSet } from '../plan/ruleset.js';
import { renderBridgeTable } from '../plan/antispoof.js';
import { currentPlan, dockerFor, readConfig } from './context.js';

export async function printPlan(options: { config?: string; json?: boolean }): Promise<void> {
  const config = readConfig(options.config);
  const plan = await currentPlan(config, dockerFor(config));
  if (options.json) {
    const ipv6 = plan.ipv6 ? { ipv6: { chains: plan.ipv6.chains, jumps: plan.ipv6.jumps } } : {};
    process.stdout.write(`${terminalJson({ containers: plan.containers.map(containerPlanJson), chains: plan.chains, jumps: plan.jumps, ...ipv6, bridge: plan.bridge })}\n`);
  } else {
    process.stdout.write('# iptables (IPv4)\n');
    process.stdout.write(renderPlan(plan));
    const v6 = familyRuleSet(plan, 6);
    if (v6) process.stdout.write(`# ip6tables (IPv6)\n${renderPlan(v6)}`);
    if (plan.bridge) process.stdout.write(`# nft -f (anti-spoofing on the bridge ports)\n${renderBridgeTable(plan.bridge)}`);
  }
}
