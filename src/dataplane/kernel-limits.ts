// Small and restricted kernels: Docker in an LXC or Proxmox container, a kernel built without
// iptable_raw. Which of the tables dockgate writes the kernel refuses, told apart from any other
// failure by the words iptables itself prints, so that one missing piece costs that piece (with a
// warning) instead of failing every write.
import { spawnSync } from 'node:child_process';
import type { Family, Table } from '../model/types.js';
import { type CommandQueue, type CommandResult, errorOutput, firstErrorLine, howEnded, succeeded } from './command-queue.js';
import { errorMessage } from '../util/errors.js';

/**
 * The tables dockgate can do without. nat and filter carry the openings themselves: without them
 * there is nothing to degrade to. raw holds only the direct-access and loopback drops, which the
 * planner can place in filter and nat instead (PlanInput.rawMissing).
 */
export type OptionalTable = Extract<Table, 'raw'>;

/**
 * The words of iptables 1.8 for a table the kernel does not have:
 * - legacy iptables-restore: `iptables-restore: unable to initialize table 'raw'` then
 *   `Error occurred at line: 1` (exit 2), before anything of that input is committed;
 * - legacy iptables-save -t raw, and iptables -t raw: `Table does not exist (do you need to insmod?)`.
 */
const UNABLE = /unable to initialize table '([a-z]+)'/;
const NO_TABLE = /Table does not exist|do you need to insmod/i;

/** The table of an iptables-restore input that holds line `n` (1-based), if any. */
function tableAtLine(input: string, n: number): string | undefined {
  const lines = input.split('\n');
  for (let i = Math.min(n, lines.length) - 1; i >= 0; i--) {
    const m = /^\*([a-z]+)$/.exec(lines[i] ?? '');
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The optional table an iptables-restore failure says the kernel lacks; undefined for every other
 * failure (a bad rule, the lock, a missing chain), which must stay an error.
 */
export function refusedTable(input: string, stderr: string): OptionalTable | undefined {
  const named = UNABLE.exec(stderr)?.[1];
  const line = /line:? (\d+)/i.exec(stderr)?.[1];
  const table = named ?? (NO_TABLE.test(stderr) && line !== undefined ? tableAtLine(input, Number(line)) : undefined);
  return table === 'raw' && input.split('\n').includes('*raw') ? 'raw' : undefined;
}

/** `missing`: the kernel said so; `unknown`: the probe failed some other way, and proves nothing. */
export type TableProbe = { kind: 'available' } | { kind: 'missing'; reason: string } | { kind: 'unknown'; reason: string };

/**
 * Asks the save command for one table. Legacy iptables-save without `-t` lists only the tables
 * already loaded, so a table's absence from a full save means nothing; with `-t` it loads the
 * module where it can, and says when the kernel has none. Writes nothing.
 */
export async function probeTable(queue: CommandQueue, saveCommand: string, table: OptionalTable): Promise<TableProbe> {
  try {
    const r = await queue.run(saveCommand, ['-t', table], { timeoutMs: 30_000 });
    return probeAnswer(r);
  } catch (err) {
    return { kind: 'unknown', reason: errorMessage(err) };
  }
}

/** probeTable for `check-config`, which runs before the unit's reload and is synchronous. */
export function probeTableSync(saveCommand: string, table: OptionalTable): TableProbe {
  const r = spawnSync(saveCommand, ['-t', table], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) return { kind: 'unknown', reason: r.error.message };
  const stderr = r.stderr ?? '';
  const ended: CommandResult =
    r.status !== null ? { kind: 'exited', code: r.status, stdout: '', stderr, durationMs: 0 } : { kind: 'killed', signal: r.signal ?? 'unknown signal', stdout: '', stderr, durationMs: 0 };
  return probeAnswer(ended);
}

function probeAnswer(r: CommandResult): TableProbe {
  if (succeeded(r)) return { kind: 'available' };
  const reason = firstErrorLine(r) || howEnded(r);
  const said = errorOutput(r);
  return NO_TABLE.test(said) || UNABLE.test(said) ? { kind: 'missing', reason } : { kind: 'unknown', reason };
}

const PROGRAM: Record<Family, string> = { 4: 'iptables', 6: 'ip6tables' };

/**
 * The one warning for a kernel without the raw table, the same in the log, status and doctor: what
 * is lost, and what stands in for it.
 */
export function rawMissingMessage(family: Family): string {
  return (
    `the kernel has no ${PROGRAM[family]} raw table (iptable_raw${family === 6 ? '/ip6table_raw' : ''} not available, as in many LXC/Proxmox containers): ` +
    `no DOCKGATE-RAW; the direct-access drops are in filter DOCKGATE-FORWARD instead, keyed on conntrack state ` +
    `(same verdicts, but each refused packet now costs a conntrack entry)` +
    (family === 4 ? ', and the loopback guard is in filter DOCKGATE-INPUT and nat DOCKGATE-PREROUTING' : '')
  );
}

export function rawBackMessage(family: Family): string {
  return `the ${PROGRAM[family]} raw table is available again: DOCKGATE-RAW written, the filter stand-ins removed`;
}
