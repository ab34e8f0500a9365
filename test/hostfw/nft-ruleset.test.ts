// nft's JSON is checked before it is read: a malformed answer is an NftJsonError naming the
// command and the place, never a TypeError from deep inside the parser.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NftJsonError, parseChainTables, parseNftJson } from '../../src/hostfw/nft-ruleset.js';

const CMD = 'nft -j list ruleset';
const doc = (...items: unknown[]): string => JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6', json_schema_version: 1 } }, ...items] });
const TABLE = { table: { family: 'inet', name: 'admin', handle: 1 } };
const CHAIN = { chain: { family: 'inet', table: 'admin', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'drop' } };

/** The NftJsonError's message for `text`, as `parse` (parseNftJson by default) refuses it. */
function refusal(text: string, parse: (t: string) => unknown = (t) => parseNftJson(t, CMD)): string {
  try {
    parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(NftJsonError);
    return (err as Error).message;
  }
  throw new Error('parsed');
}

describe('parseNftJson', () => {
  it('reads tables, base chains, rules in their chain, and sets; metainfo and other objects pass unread', () => {
    const rs = parseNftJson(
      doc(
        TABLE,
        CHAIN,
        { rule: { family: 'inet', table: 'admin', chain: 'input', handle: 4, comment: 'ssh', expr: [{ accept: null }] } },
        { set: { family: 'inet', table: 'admin', name: 'bans', type: 'ipv4_addr', handle: 5, flags: 'interval', elem: ['192.0.2.1'] } },
        { counter: { family: 'inet', table: 'admin', name: 'c', handle: 6, packets: 0, bytes: 0 } },
      ),
      CMD,
    );
    expect(rs.tables).toEqual([{ family: 'inet', name: 'admin' }]);
    expect(rs.chains[0]).toMatchObject({ name: 'input', handle: 1, base: { type: 'filter', hook: 'input', prio: 0, policy: 'drop' } });
    expect(rs.chains[0]!.rules).toEqual([{ family: 'inet', table: 'admin', chain: 'input', handle: 4, comment: 'ssh', expr: [{ accept: null }] }]);
    expect(rs.sets).toEqual([{ family: 'inet', table: 'admin', name: 'bans', flags: ['interval'], elem: ['192.0.2.1'], isMap: false }]);
  });

  it('nothing printed is an empty ruleset', () => {
    expect(parseNftJson('', CMD)).toEqual({ tables: [], chains: [], sets: [] });
  });

  it('text that is not JSON names the command', () => {
    expect(refusal('{"nftables": [')).toMatch(/^nft -j list ruleset printed something that is not JSON: /);
  });

  it.each([
    ['null', 'null', 'the top level'],
    ['no nftables array', '{"nft": []}', 'nftables'],
    ['nftables not a list', '{"nftables": {}}', 'nftables'],
    ['an item that is not an object', '{"nftables": [42]}', 'nftables[0]'],
  ])('%s: an NftJsonError at %s', (_what, text, where) => {
    expect(refusal(text)).toContain(`${CMD} printed unexpected JSON at ${where}: `);
  });

  it('a chain whose handle is not a number, a rule naming no chain, a rule whose expr is not a list: the place is named', () => {
    expect(refusal(doc(TABLE, { chain: { ...CHAIN.chain, handle: '1' } }))).toMatch(/at nftables\[2\]\.chain\.handle: .*expected number/);
    expect(refusal(doc(TABLE, CHAIN, { rule: { family: 'inet', table: 'admin', handle: 4, expr: [] } }))).toMatch(/at nftables\[3\]\.rule\.chain: /);
    expect(refusal(doc(TABLE, CHAIN, { rule: { family: 'inet', table: 'admin', chain: 'input', handle: 4, expr: 'accept' } }))).toMatch(/at nftables\[3\]\.rule\.expr: /);
  });

  it('every captured real ruleset (test/hostfw/fixtures) parses', () => {
    const dir = join(import.meta.dirname, 'fixtures');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(parseNftJson(readFileSync(join(dir, f), 'utf8'), f).chains.length, f).toBeGreaterThan(0);
  });
});

describe('parseChainTables', () => {
  const LIST = 'nft -j list chains';
  const tablesOf = (text: string): string[] => parseChainTables(text, LIST).map((t) => `${t.family} ${t.table}`);

  it('names each table that has a chain once, in the order listed, as the full parse does, for every captured ruleset', () => {
    const dir = join(import.meta.dirname, 'fixtures');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.json'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(tablesOf(text), f).toEqual([...new Set(parseNftJson(text, f).chains.map((c) => `${c.family} ${c.table}`))]);
    }
    expect(tablesOf(doc(TABLE, CHAIN, { chain: { ...CHAIN.chain, name: 'forward' } }))).toEqual(['inet admin']);
    expect(tablesOf('')).toEqual([]);
  });

  it('what is not nft\'s JSON is an NftJsonError naming the command and the place', () => {
    const refused = (text: string): string => refusal(text, (t) => parseChainTables(t, LIST));
    expect(refused('{"nftables": [')).toMatch(/^nft -j list chains printed something that is not JSON: /);
    expect(refused('{"nftables": [42]}')).toContain('nft -j list chains printed unexpected JSON at nftables[0]: ');
    expect(refused(doc({ chain: { family: 'inet', name: 'input', handle: 1 } }))).toMatch(/^nft -j list chains: a chain without a family or table/);
  });
});
