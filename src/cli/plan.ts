// `dockgate plan`: what `run` would write now. Reads Docker, never touches the firewall.
import { renderPlan } from '../plan/restore.js';
import { currentPlan, dockerFor, readConfig } from './context.js';

export async function printPlan(options: { config?: string; json?: boolean }): Promise<void> {
  const config = readConfig(options.config);
  const plan = await currentPlan(config, dockerFor(config));
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ containers: plan.containers, chains: plan.chains, jumps: plan.jumps }, null, 2)}\n`);
  } else {
    process.stdout.write(renderPlan(plan));
  }
}
