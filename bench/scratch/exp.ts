import { writeFileSync } from 'node:fs';
import { renderFull } from '../../src/plan/restore.js';
import { fleet, planFor } from '../lib/facts.js';
for (const n of [1000, 5000]) {
  const plan = planFor(fleet(n));
  const text = [...renderFull(plan, new Map()).values()].join('');
  writeFileSync(`/tmp/dgexp-${n}.rules`, text);
  // flat: every container rule straight in the parent chain (no per-container chains, no jumps)
  const flat = text.split('\n').filter((l) => !/^:DOCKGATE-C[IFN]-/.test(l) && !/-j DOCKGATE-C[IFN]-/.test(l)).map((l) => {
    const m = /^-A DOCKGATE-C([IFN])-[0-9a-f]{12} (.*)$/.exec(l);
    if (!m) return l;
    const parent = m[1] === 'I' ? 'DOCKGATE-INPUT' : m[1] === 'F' ? 'DOCKGATE-CONTAINERS' : 'DOCKGATE-PREROUTING';
    return `-A ${parent} ${m[2]}`;
  }).join('\n');
  writeFileSync(`/tmp/dgexp-${n}-flat.rules`, flat);
}
