// A write that spans tables, failing half-way, on a real kernel in a namespace made here:
// iptables-restore commits raw, nat and filter one after another, each atomically, so a failure
// in filter leaves raw and nat already changed. The next sync must leave the kernel exactly equal
// to the plan, whether the failed write was a full one or a diff.
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { Iptables, RestoreError } from '../../src/dataplane/iptables.js';
import type { RuleSet } from '../../src/model/types.js';
import { renderPlan } from '../../src/plan/restore.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns } from '../support/netns.js';
import { handPlan } from './hand-plan.js';

let dir: string;
let wrapper: string;

beforeAll(async () => {
  await cleanupLeftovers();
  dir = await mkdtemp(join(tmpdir(), 'dockgate-xtable-'));
  wrapper = join(dir, 'restore-failing-filter-once');
  // While the `armed` file exists, the next input that holds a filter table gets a rule naming a
  // chain that does not exist appended to that table: iptables-restore commits the tables before
  // it, then refuses filter. The wrapper disarms itself, so the failure happens exactly once.
  await writeFile(
    wrapper,
    `#!/bin/sh
input=$(cat; printf x)
input=\${input%x}
if [ -e '${dir}/armed' ] && printf '%s' "$input" | grep -q '^\\*filter$'; then
  rm -f '${dir}/armed'
  printf '%s' "$input" | sed '/^\\*filter$/,/^COMMIT$/ s/^COMMIT$/-A INPUT -j DGT-NO-SUCH-CHAIN\\nCOMMIT/' | iptables-restore "$@"
  exit $?
fi
printf '%s' "$input" | iptables-restore "$@"
`,
  );
  await chmod(wrapper, 0o755);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function withNs(fn: (ns: Netns, dp: Dataplane) => Promise<void>): Promise<void> {
  const ns = await createNetns('xt');
  try {
    const queue = new CommandQueue({ netns: ns.path });
    await ns.exec('iptables', ['-P', 'INPUT', 'DROP']);
    await ns.exec('iptables', ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT']);
    await ns.exec('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'lo', '-j', 'RETURN']);
    await fn(ns, new Dataplane(new Iptables(queue, { restoreCommand: wrapper, saveCommand: 'iptables-save', waitSeconds: 5 })));
  } finally {
    await rm(join(dir, 'armed'), { force: true });
    await destroyNetns(ns);
  }
}

const arm = (): Promise<void> => writeFile(join(dir, 'armed'), '');
const armed = async (): Promise<boolean> => stat(join(dir, 'armed')).then(() => true, () => false);

/** Table → its lines as iptables-save prints them, without comments, counters or the built-in chains' headers. */
async function kernel(ns: Netns): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const line of (await ns.exec('iptables-save', [])).stdout.split('\n')) {
    if (line.startsWith('*')) out.set((table = line.slice(1)), []);
    else if (line.startsWith('-') || (line.startsWith(':') && line.includes(' - ['))) out.get(table)!.push(line.replace(/\[\d+:\d+\]/, '[0:0]'));
  }
  return out;
}

/** What the kernel must hold: the admin's rules plus exactly the plan, jumps first in their chains. */
function expected(plan: RuleSet, admin: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let table = '';
  for (const line of renderPlan(plan).split('\n')) {
    if (line.startsWith('*')) out.set((table = line.slice(1)), []);
    else if (line.startsWith(':')) out.get(table)!.push(line);
    else if (line.startsWith('-A ')) out.get(table)!.push(line);
    else if (line.startsWith('-I ')) out.get(table)!.push(line.replace(/^-I (\S+) 1 /, '-A $1 '));
  }
  for (const [t, lines] of admin) out.set(t, [...(out.get(t) ?? []), ...lines]);
  return out;
}

/** Same lines per table: chain declarations as a set, rules grouped by chain in kernel order. */
function normalised(state: Map<string, string[]>): Record<string, string[]> {
  const o: Record<string, string[]> = {};
  for (const [t, lines] of state) {
    const decls = lines.filter((l) => l.startsWith(':')).sort();
    const rules = lines.filter((l) => !l.startsWith(':'));
    const chains = [...new Set(rules.map((l) => l.split(' ')[1]!))].sort();
    o[t] = [...decls, ...chains.flatMap((c) => rules.filter((l) => l.split(' ')[1] === c))];
  }
  return o;
}

describe('a write that fails in filter after raw and nat committed', () => {
  it('full write: the next sync writes exactly what is missing and iptables-save equals the plan', async () => {
    await withNs(async (ns, dp) => {
      const admin = await kernel(ns);
      const plan = handPlan([1, 2, 3]);
      await arm();
      const err = await dp.sync(plan).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RestoreError);
      expect(await armed()).toBe(false);
      const half = await kernel(ns);
      expect(half.get('raw')!.join('\n')).toContain('DOCKGATE-RAW');
      expect(half.get('nat')!.join('\n')).toContain('DOCKGATE-PREROUTING');
      expect(half.get('filter')!.join('\n')).not.toContain('DOCKGATE');
      expect(dp.applied).toBeUndefined();

      const r = await dp.sync(plan);
      expect(r.kind).toBe('full');
      expect(r.tables).toEqual(['filter']);
      // Finishing our own failed write is not reported as someone else's drift.
      expect(r.drift).toBeUndefined();
      expect(normalised(await kernel(ns))).toEqual(normalised(expected(plan, admin)));
      expect((await dp.repair(plan)).kind).toBe('none');
    });
  });

  it('diff write: the failed diff is forgotten, the next sync reads the kernel and converges to exactly the new plan', async () => {
    await withNs(async (ns, dp) => {
      const admin = await kernel(ns);
      const before = handPlan([1, 2]);
      await dp.sync(before);
      const after = handPlan([2, 3]);
      await arm();
      const err = await dp.sync(after).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RestoreError);
      const half = (await kernel(ns)).get('nat')!.join('\n');
      expect(half).toContain('DOCKGATE-CN-c0ffee000003');
      expect(half).not.toContain('DOCKGATE-CN-c0ffee000001');
      expect(dp.applied).toBeUndefined();

      // The same plan again (the daemon's retry): a full read and repair, not the same diff.
      const r = await dp.sync(after);
      expect(r.kind).toBe('full');
      expect(r.tables).toEqual(['filter']);
      expect(r.drift).toBeUndefined();
      expect(normalised(await kernel(ns))).toEqual(normalised(expected(after, admin)));
      expect((await dp.repair(after)).kind).toBe('none');

      // And a failed diff followed by yet another plan converges as well.
      await arm();
      await expect(dp.sync(before)).rejects.toBeInstanceOf(RestoreError);
      const next = handPlan([4]);
      await dp.sync(next);
      expect(normalised(await kernel(ns))).toEqual(normalised(expected(next, admin)));
    });
  });
});
