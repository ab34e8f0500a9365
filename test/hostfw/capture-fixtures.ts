// Makes the JSON fixtures of test/hostfw/: for each NAME.nft here, a fresh network namespace gets
// dockgate's iptables rules for the fixture plan and that ruleset (`nft -f`), and
// `nft -j list ruleset` is saved as NAME.json. `+footprint` variants also get dockgate's mangle
// marks and its footprint rule, as `foreign_chains: allow` would leave them.
// firewalld-public.json is not made here: it is `nft -j list ruleset` of firewalld 1.3.3 (Debian
// 12) running with its default config in a namespace (test/e2e/firewalld.ts), beside these rules.
// Run as root: npx tsx test/hostfw/capture-fixtures.ts
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chainsNeedingFootprint } from '../../src/hostfw/footprint-spots.js';
import { parseNftJson } from '../../src/hostfw/nft-ruleset.js';
import { footprintArgs } from '../../src/dataplane/nft.js';
import { DEFAULT_MARK_BIT } from '../../src/model/mark-bit.js';
import { markPlan, renderMarks } from '../../src/plan/marks.js';
import { renderPlan } from '../../src/plan/restore.js';
import { createNetns, destroyNetns } from '../support/netns.js';
import { fixturePlan } from './plan-fixture.js';

const dir = join(import.meta.dirname, 'fixtures');

async function capture(source: string, footprint: boolean): Promise<string> {
  const ns = await createNetns('hfw');
  try {
    const plan = fixturePlan();
    await ns.exec('iptables-restore', ['--noflush'], { input: renderPlan(plan) });
    await ns.exec('nft', ['-f', join(dir, source)]);
    if (footprint) {
      const rs = parseNftJson((await ns.exec('nft', ['-j', 'list', 'ruleset'])).stdout);
      const text = renderMarks(markPlan(plan), undefined);
      await ns.exec('iptables-restore', ['--noflush'], { input: text });
      for (const c of chainsNeedingFootprint(plan, rs)) await ns.exec('nft', ['insert', 'rule', c.family, c.table, c.name, ...footprintArgs(DEFAULT_MARK_BIT)]);
    }
    const json = (await ns.exec('nft', ['-j', 'list', 'ruleset'])).stdout;
    return `${JSON.stringify(JSON.parse(json), null, 1)}\n`;
  } finally {
    await destroyNetns(ns);
  }
}

for (const f of (await readdir(dir)).filter((n) => n.endsWith('.nft')).sort()) {
  const name = f.slice(0, -4);
  await writeFile(join(dir, `${name}.json`), await capture(f, false));
  await writeFile(join(dir, `${name}+footprint.json`), await capture(f, true));
  process.stdout.write(`captured ${name}\n`);
}
