// The restore grammar's one-regex fast path never accepts what its full parser refuses, nor the
// other way round: lines dockgate writes (golden files, both families, the mangle marks, diffs)
// are mutated token by token and character by character, and each mutant gets the same verdict
// both ways. FUZZ_SCALE=10 for a longer soak.
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { markPlan, renderMarks } from '../../src/plan/marks.js';
import { type GrammarOptions, checkRestore } from '../../src/plan/restore-grammar.js';
import { renderPlan } from '../../src/plan/restore.js';
import { familyRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DUAL, container, plan } from '../plan/fixtures.js';
import { IPTABLES_FRAGMENTS, TRICKY_CHARS } from './arbitraries.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const GOLDEN = fileURLToPath(new URL('../plan/golden/', import.meta.url));

interface Sample {
  table: string;
  chain: string;
  rule: string;
  family: 4 | 6;
}

/** Every `-A` line of a restore text, with where it was. */
function samples(text: string, family: 4 | 6): Sample[] {
  const out: Sample[] = [];
  let table = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1);
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (m) out.push({ table, chain: m[1]!, rule: m[2]!, family });
  }
  return out;
}

const corpus: Sample[] = (() => {
  const out: Sample[] = [];
  for (const f of readdirSync(GOLDEN).filter((n) => n.endsWith('.rules'))) out.push(...samples(readFileSync(`${GOLDEN}${f}`, 'utf8'), f.startsWith('ipv6-') ? 6 : 4));
  const web = container('web', { ip: '172.23.0.2', ip6: 'fd00:db8:1::2', network: DUAL, labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8000:80/tcp', '[::]:8000:80/tcp'] });
  const api = container('api', { ip: '172.23.0.3', ip6: 'fd00:db8:1::3', network: DUAL, labels: { 'dockgate.ports': '8080:80, 53/udp', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8, 2001:db8:9::/48' } });
  const bare = container('bare', { ip: '172.17.0.8', publish: ['0.0.0.0:9000:80/tcp'] });
  // With the drop log on (its NFLOG lines and rate limits) as by default.
  const p = plan([web, api, bare], [BRIDGE, DUAL], { dropLog: { group: 2371, ratePerSecond: 10, burst: 20 } });
  for (const family of [4, 6] as const) {
    const rules = familyRuleSet(p, family)!;
    out.push(...samples(renderPlan(rules), family), ...samples(renderMarks(markPlan(rules), undefined), family));
  }
  return out;
})();

const TOKENS = [
  ...IPTABLES_FRAGMENTS,
  '!', '-s', '-d', '-i', '-o', '-p', '-m', '-j', 'tcp', 'udp', 'icmp', '--dport', '--ctstate', 'NEW', 'DNAT', 'RELATED,ESTABLISHED',
  'ESTABLISHED,RELATED', 'comment', '--comment', 'dockgate', '"x"', '"a b"', '"a"b"', 'addrtype', '--dst-type', 'LOCAL', 'BROADCAST',
  'ACCEPT', 'DROP', 'RETURN', 'MASQUERADE', 'LOG', 'MARK', '--set-xmark', '0x1000000/0x1000000', '0x3000000/0x3000000', '0x1/0x2',
  'NFLOG', '--nflog-prefix', '"dockgate:isolation:-"', 'dockgate:isolation:-', '"dockgate:spoofed:0123456789ab', '--nflog-group', '65536',
  'hashlimit', '--hashlimit-upto', '10/sec', '10/min', '--hashlimit-burst', '--hashlimit-name', 'dg-isolation', 'dg-other',
  'DOCKGATE-INPUT', 'DOCKGATE-USER', 'DOCKGATE-USER-BANS', 'DOCKGATE-MINPUT', 'DOCKGATE-DNAT-ab', 'eth0', 'abcdefghijklmnop', '..',
  '10.0.0.0/8', '10.0.0.1/8', '010.0.0.1/32', '0.0.0.0/0', '10.0.0.5/32', '::/0', 'fd00::/64', 'fd00:0::1/128', '::1/128',
  '172.17.0.2:80', '[fd00::3]:80', 'fd00::3:80', '1.2.3.4:0', '1.2.3.4:65536', '0', '080', '65535', '65536', '',
];

/** One mutation of a rule: a token dropped, doubled, swapped or replaced; a character put in or changed. */
const mutation = (rule: string): fc.Arbitrary<string> => {
  const tokens = rule.split(' ');
  const at = fc.nat(tokens.length - 1);
  const with_ = (f: (t: string[], i: number, x: string) => void) =>
    fc.tuple(at, fc.constantFrom(...TOKENS)).map(([i, x]) => {
      const t = [...tokens];
      f(t, i, x);
      return t.join(' ');
    });
  return fc.oneof(
    with_((t, i) => t.splice(i, 1)),
    with_((t, i) => t.splice(i, 0, t[i]!)),
    with_((t, i, x) => (t[i] = x)),
    with_((t, i, x) => t.splice(i, 0, x)),
    fc.tuple(at, at).map(([i, j]) => {
      const t = [...tokens];
      [t[i], t[j]] = [t[j]!, t[i]!];
      return t.join(' ');
    }),
    fc.tuple(fc.nat(rule.length), fc.constantFrom(...TRICKY_CHARS, 'a', 'Z', '1', '5', 'f')).map(([i, c]) => rule.slice(0, i) + c + rule.slice(i)),
    fc.tuple(fc.nat(Math.max(0, rule.length - 1)), fc.constantFrom(...TRICKY_CHARS, 'a', 'Z', '1', '5', 'f')).map(([i, c]) => rule.slice(0, i) + c + rule.slice(i + 1)),
  );
};

describe('restore grammar: the fast path and the full parser agree', () => {
  it('on every line dockgate writes (all accepted both ways)', () => {
    expect(corpus.length).toBeGreaterThan(50);
    expect(new Set(corpus.map((s) => `${s.table}/${s.family}`))).toEqual(new Set(['raw/4', 'nat/4', 'filter/4', 'mangle/4', 'raw/6', 'nat/6', 'filter/6', 'mangle/6']));
    for (const s of corpus) {
      const text = `*${s.table}\n-A ${s.chain} ${s.rule}\nCOMMIT\n`;
      expect(checkRestore(text, { family: s.family, diff: true }), text).toEqual([]);
      expect(checkRestore(text, { family: s.family, diff: true, fastPath: false }), text).toEqual([]);
    }
  });

  it('on mutants of those lines, in and out of a diff', () => {
    const arb = fc.constantFrom(...corpus).chain((s) => fc.tuple(fc.constant(s), mutation(s.rule), fc.boolean()));
    fc.assert(
      fc.property(arb, ([s, rule, diff]) => {
        const text = diff ? `*${s.table}\n-A ${s.chain} ${rule}\nCOMMIT\n` : `*${s.table}\n:${s.chain} - [0:0]\n-A ${s.chain} ${rule}\nCOMMIT\n`;
        const options: GrammarOptions = { family: s.family, diff };
        const fast = checkRestore(text, options).length === 0;
        const full = checkRestore(text, { ...options, fastPath: false }).length === 0;
        if (fast !== full) throw new Error(`fast path ${fast ? 'accepts' : 'refuses'}, full parser ${full ? 'accepts' : 'refuses'}:\n${text}`);
      }),
      { numRuns: Math.round(20_000 * SCALE) },
    );
  });
});
