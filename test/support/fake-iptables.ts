// An in-memory iptables for fast tests of what sits above the dataplane (the daemon's sync and
// repair logic). It applies restore text the way `iptables-restore --noflush` does, table by table
// and atomically per table, and answers `save` with a copy. It adds speed; the real-kernel tests
// in test/dataplane and test/e2e stay the proof.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandResult } from '../../src/dataplane/command-queue.js';
import type { Iptables } from '../../src/dataplane/iptables.js';
import { RestoreError } from '../../src/dataplane/iptables.js';
import type { Table } from '../../src/model/types.js';
import type { KernelState, TableState } from '../../src/plan/kernel-state.js';

const exit1 = (stderr: string): CommandResult => ({ kind: 'exited', code: 1, stdout: '', stderr, durationMs: 0 });

const BUILTINS: Record<string, string[]> = {
  raw: ['PREROUTING', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
};

function emptyTable(table: string): TableState {
  const chains = new Map<string, string[]>();
  const policies = new Map<string, string>();
  for (const c of BUILTINS[table] ?? []) {
    chains.set(c, []);
    policies.set(c, 'ACCEPT');
  }
  return { chains, policies };
}

function copy(state: KernelState): KernelState {
  const out: KernelState = new Map();
  for (const [t, s] of state) {
    out.set(t, { chains: new Map([...s.chains].map(([k, v]) => [k, [...v]])), policies: new Map(s.policies) });
  }
  return out;
}

export class FakeIptables {
  state: KernelState = new Map((['raw', 'nat', 'filter'] as Table[]).map((t) => [t, emptyTable(t)]));
  restores = 0;
  /** Each restore waits this long first (to hold a sync in flight). */
  delayMs = 0;
  /** The next `failures` restores fail with exit 1, as a bad rule would. */
  failures = 0;
  /** Tables committed by every restore, in order. */
  readonly log: Array<Table[]> = [];
  /** The text of every restore that committed, in order: what was written, line by line. */
  readonly inputs: string[] = [];

  async save(): Promise<KernelState> {
    return copy(this.state);
  }

  async backend(): Promise<'nf_tables'> {
    return 'nf_tables';
  }

  async dropTable(table: Table): Promise<boolean> {
    return this.state.delete(table);
  }

  async restore(texts: ReadonlyMap<Table, string>): Promise<{ durationMs: number }> {
    this.restores++;
    if (this.delayMs > 0) await sleep(this.delayMs);
    if (this.failures > 0) {
      this.failures--;
      throw new RestoreError('iptables-restore failed (exit 1): injected failure', exit1('injected failure'), 'injected failure', []);
    }
    const committed: Table[] = [];
    for (const [table, text] of texts) {
      const next = copy(new Map([[table, this.state.get(table) ?? emptyTable(table)]])).get(table)!;
      apply(next, text, table);
      this.state.set(table, next);
      committed.push(table);
    }
    this.log.push(committed);
    this.inputs.push([...texts.values()].join(''));
    return { durationMs: 0 };
  }

  /** Lines of one chain, as iptables-save would print them after `-A CHAIN `. */
  rules(table: Table, chain: string): string[] {
    return [...(this.state.get(table)?.chains.get(chain) ?? [])];
  }

  /** Every `-A` line of the whole state, for comparisons. */
  text(): string {
    const out: string[] = [];
    for (const [t, s] of [...this.state].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out.push(`*${t}`);
      for (const [c, rules] of [...s.chains].sort(([a], [b]) => (a < b ? -1 : 1))) for (const r of rules) out.push(`-A ${c} ${r}`);
    }
    return out.join('\n');
  }

  asIptables(): Iptables {
    return this as unknown as Iptables;
  }
}

function fail(table: string, line: string, why: string): never {
  throw new RestoreError(`iptables-restore failed (exit 1): ${why}`, exit1(why), `${why} in table ${table}: ${line}`, [line]);
}

/** Applies one table's restore text (without the `*table` and `COMMIT` lines being required). */
function apply(t: TableState, text: string, table: string): void {
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('*') || line === 'COMMIT' || line.startsWith('#')) continue;
    if (line.startsWith(':')) {
      const [name = '', policy = '-'] = line.slice(1).split(' ');
      // --noflush: declaring a user chain empties it; a built-in keeps its rules.
      if (BUILTINS[table]?.includes(name)) t.policies.set(name, policy);
      else {
        t.chains.set(name, []);
        t.policies.set(name, '-');
      }
      continue;
    }
    const m = /^(-[AIDXF]) (\S+)(?: (.*))?$/.exec(line);
    if (!m) fail(table, line, 'unparsable line');
    const [, op, chain, rest = ''] = m;
    const rules = t.chains.get(chain!);
    if (!rules) fail(table, line, `no chain ${chain}`);
    const target = / -j (\S+)/.exec(` ${rest}`)?.[1];
    if (target?.startsWith('DOCKGATE-') && (op === '-A' || op === '-I') && !t.chains.has(target)) fail(table, line, `no chain ${target}`);
    switch (op) {
      case '-A':
        rules.push(rest);
        break;
      case '-I': {
        const im = /^(\d+) (.*)$/.exec(rest);
        if (!im) fail(table, line, 'bad insert');
        rules.splice(Number(im[1]) - 1, 0, im[2]!);
        break;
      }
      case '-D': {
        const i = rules.indexOf(rest);
        if (i < 0) fail(table, line, 'no such rule');
        rules.splice(i, 1);
        break;
      }
      case '-F':
        rules.length = 0;
        break;
      case '-X': {
        if (rules.length > 0) fail(table, line, `chain ${chain} not empty`);
        const referenced = [...t.chains.values()].some((rs) => rs.some((r) => r.endsWith(`-j ${chain}`)));
        if (referenced) fail(table, line, `chain ${chain} still referenced`);
        t.chains.delete(chain!);
        t.policies.delete(chain!);
        break;
      }
    }
  }
}
