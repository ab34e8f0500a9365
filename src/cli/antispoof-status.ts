// What `status` says about anti-spoofing: whether the `bridge dockgate` table holds what the plan
// says, and which containers' ports are not known (their own packets are dropped).
import { BridgeTable, BridgeTableError } from '../dataplane/bridge-table.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import type { RuleSet } from '../model/types.js';
import type { BridgeDrift } from '../plan/antispoof-state.js';
import { errorMessage } from '../util/errors.js';

export type BridgeStatus =
  | { state: 'in-sync' | 'drift'; drift: BridgeDrift; unknownPorts: string[] }
  /** nft could not be read or the table not even loaded in a scratch namespace. */
  | { state: 'unknown'; error: string; unknownPorts: string[]; unsupported?: true };

export async function bridgeStatus(plan: RuleSet): Promise<BridgeStatus> {
  const owners = plan.bridge?.owners ?? [];
  const unknownPorts = [...new Set(owners.filter((o) => o.port === undefined).map((o) => o.comment))];
  try {
    const drift = await new BridgeTable(new CommandQueue()).check(plan.bridge ?? { owners: [] });
    return { state: drift.clean ? 'in-sync' : 'drift', drift, unknownPorts };
  } catch (err) {
    const unsupported = err instanceof BridgeTableError && err.unsupported ? { unsupported: true as const } : {};
    return { state: 'unknown', error: errorMessage(err), unknownPorts, ...unsupported };
  }
}

export function describeBridgeStatus(s: BridgeStatus): string {
  const lines: string[] = [];
  if (s.state === 'in-sync') lines.push('anti-spoofing: in sync with the plan (nft table bridge dockgate)');
  else if (s.state === 'unknown' && s.unsupported) {
    lines.push(`WARNING anti-spoofing: OFF, this kernel cannot hold the nft bridge table (no nf_tables bridge family): containers are not held to their addresses (${s.error})`);
  } else if (s.state === 'unknown') lines.push(`anti-spoofing: not checked (${s.error}); containers are not known to be held to their addresses`);
  else {
    lines.push(`anti-spoofing: DRIFT in nft table bridge dockgate${s.drift.absent ? ': the table is missing' : s.drift.shapeChanged ? ': its chain or sets were changed' : ''}`);
    for (const m of s.drift.missing) lines.push(`    - missing:    ${m}`);
    for (const u of s.drift.unexpected) lines.push(`    + unexpected: ${u}`);
  }
  for (const c of s.unknownPorts) lines.push(`  ${c}: port on its bridge not known; its packets are dropped until it is`);
  return `${lines.join('\n')}\n`;
}
