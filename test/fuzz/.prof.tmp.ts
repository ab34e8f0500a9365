import fc from 'fast-check';
import { scenario } from './arbitraries.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { renderPlan } from '../../src/plan/restore.js';
import { checkRestore } from './restore-grammar.js';
const t0 = process.cpuUsage();
const samples = fc.sample(scenario(), 4000);
const t1 = process.cpuUsage(t0);
console.log('gen', t1.user / 1000, 'ms');
let lines = 0, maxLines = 0;
const t2 = process.cpuUsage();
for (const s of samples) {
  const text = renderPlan(buildRuleSet({ labelPrefix: s.prefix, defaults: s.defaults, containers: s.containers, networks: s.networks }));
  const n = text.split('\n').length; lines += n; maxLines = Math.max(maxLines, n);
}
console.log('plan+render', process.cpuUsage(t2).user / 1000, 'ms', 'avg lines', lines / samples.length, 'max', maxLines);
const t3 = process.cpuUsage();
for (const s of samples) checkRestore(renderPlan(buildRuleSet({ labelPrefix: s.prefix, defaults: s.defaults, containers: s.containers, networks: s.networks })));
console.log('plan+render+grammar', process.cpuUsage(t3).user / 1000, 'ms');
