// Every write is held to the restore grammar before iptables-restore runs (issue 18 item 17), on
// a real kernel in a namespace this test makes: a plan with a line outside the grammar writes
// nothing at all, in either family and in the mangle marks, and the error names the line and the
// container; what dockgate legitimately writes (both families, the marks) still goes in.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandQueue } from '../../src/dataplane/command-queue.js';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { FamilyDataplanes } from '../../src/dataplane/families.js';
import { Iptables } from '../../src/dataplane/iptables.js';
import type { ContainerFacts, RuleSet } from '../../src/model/types.js';
import { compare, parseSave } from '../../src/plan/kernel-state.js';
import { markPlan, renderMarks } from '../../src/plan/marks.js';
import { RestoreGrammarError } from '../../src/plan/restore-grammar.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, container, plan as planOn } from '../plan/fixtures.js';
import { type Netns, cleanupLeftovers, createNetns, destroyNetns, saveClean } from '../support/netns.js';
import { renderAction } from '../../src/plan/render.js';
import type { Rule } from '../../src/model/rule.js';

let ns: Netns;
let v4: Iptables;
let v6: Iptables;
let both: FamilyDataplanes;

const plan = (containers: ContainerFacts[]): RuleSet => planOn(containers, [BRIDGE, DUAL]);
const web = container('web', { network: DUAL, ip: '172.23.0.2', ip6: 'fd00:db8:1::2', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] });
const api = container('api', { network: DUAL, ip: '172.23.0.3', ip6: 'fd00:db8:1::3', labels: { 'dockgate.ports': '8080:80, 5353:53/udp', 'dockgate.mode': 'dnat' } });
/** Every table of one family (iptables-save leaves mangle out until it has been used). */
const tablesOf = (family: 4 | 6): Promise<string[]> => {
  const cmd = family === 6 ? 'ip6tables-save' : 'iptables-save';
  return Promise.all([saveClean(ns, cmd), saveClean(ns, cmd, 'mangle')]);
};

/**
 * `p` with one more rule in the first chain of `family` that holds a rule of `c`: what a planner
 * bug or an unchecked name would put in a field (a value the renderer writes as it is).
 */
function smuggle(p: RuleSet, family: 4 | 6, c: ContainerFacts, rule: (own: Rule) => Rule): RuleSet {
  const rules = familyRuleSet(p, family)!;
  const mark = `/${c.id.slice(0, 12)}`;
  const chains = rules.chains.map((ch) => {
    const own = ch.rules.find((r) => r.comment.includes(mark));
    return own === undefined ? ch : { ...ch, rules: [...ch.rules, rule(own)] };
  });
  return family === 4 ? { ...p, chains } : { ...p, ipv6: { chains, jumps: rules.jumps } };
}

beforeAll(async () => {
  await cleanupLeftovers();
  ns = await createNetns('gr');
  const queue = new CommandQueue({ netns: ns.path });
  v4 = new Iptables(queue, { restoreCommand: 'iptables-restore', saveCommand: 'iptables-save', waitSeconds: 5 });
  v6 = new Iptables(queue, { restoreCommand: 'ip6tables-restore', saveCommand: 'ip6tables-save', waitSeconds: 5 }, 6);
  both = new FamilyDataplanes(new Dataplane(v4), new Dataplane(v6));
});

afterAll(async () => {
  if (ns) await destroyNetns(ns);
});

describe('the restore grammar on every write', () => {
  it('a line outside it, in either family, writes nothing at all of that family and names the line and the container', async () => {
    for (const [family, iptables] of [[4, v4], [6, v6]] as const) {
      const before = await tablesOf(family);
      // The kind of line a planner bug or an unchecked name could produce: a second target.
      const bad = smuggle(plan([web, api]), family, api, (own) => ({ ...own, action: { kind: 'jump', chain: `${renderAction(own.action)} -j LOG` } }));
      const err = await new Dataplane(iptables).sync(familyRuleSet(bad, family)!).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RestoreGrammarError);
      expect((err as Error).message).toMatch(new RegExp(`^refused to run ip${family === 6 ? '6' : ''}tables-restore: line \\d+ of container api/${api.id.slice(0, 12)} is outside`));
      expect((err as RestoreGrammarError).violations[0]!.text).toContain('-j LOG');
      // Refused before iptables-restore ran: not even the tables without the line.
      expect(await tablesOf(family)).toEqual(before);
    }
  });

  it('an IPv4 address in ip6tables text, and a mark of two bits, are refused the same way', async () => {
    const before = await Promise.all([tablesOf(4), tablesOf(6)]);
    const v4inV6 = smuggle(plan([web]), 6, web, (own) => ({ ...own, match: { ...own.match, src: '10.0.0.0/8' } }));
    await expect(new Dataplane(v6).sync(familyRuleSet(v4inV6, 6)!)).rejects.toThrow(/ip6tables-restore: .*not a canonical IPv6 CIDR/);
    const marks = renderMarks(markPlan(familyRuleSet(plan([web]), 4)!), undefined).replace(/0x1000000\/0x1000000/g, '0x3000000/0x3000000');
    await expect(v4.restore(new Map([['mangle', marks]]))).rejects.toThrow(/not BIT\/BIT for one bit/);
    expect(await Promise.all([tablesOf(4), tablesOf(6)])).toEqual(before);
  });

  it('what dockgate writes goes in: both families, and the marks of both', async () => {
    const p = plan([web, api]);
    await both.sync(p);
    for (const [family, iptables] of [[4, v4], [6, v6]] as const) {
      const rules = familyRuleSet(p, family)!;
      expect(compare(rules, await iptables.save()).clean).toBe(true);
      await iptables.restore(new Map([['mangle', renderMarks(markPlan(rules), undefined)]]));
      const mangle = parseSave(await saveClean(ns, family === 6 ? 'ip6tables-save' : 'iptables-save', 'mangle')).get('mangle' as never)!;
      expect(renderMarks(markPlan(rules), mangle)).toBe('');
    }
    await both.flushReport({ userChain: true });
  });
});
