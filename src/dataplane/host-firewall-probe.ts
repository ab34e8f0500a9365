// Other firewalls on the same hooks, for doctor's host-firewall, foreign-chains and firewalld
// checks: the nft ruleset, ufw's and firewalld's state, and every opening judged against them.
// Reads only.
import { readFile, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { RuleSet } from '../model/types.js';
import type { CommandQueue } from './command-queue.js';
import { footprintFor } from './footprint.js';
import type { HostFirewallFacts } from './host-facts.js';
import { Nft, NftError } from './nft.js';
import { errorMessage } from '../util/errors.js';

/** Inode of a network namespace, from an nsfs path or a /proc/PID/ns/net link text `net:[N]`. */
async function netnsInode(path: string): Promise<number | undefined> {
  try {
    const link = await readlink(path).catch(() => undefined);
    const m = link ? /^net:\[(\d+)\]$/.exec(link) : null;
    if (m) return Number(m[1]);
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

/**
 * firewalld processes in the network namespace the queue probes (a firewalld in another namespace
 * filters other packets). firewalld is a Python program: its comm is `firewalld`.
 */
async function firewalldProcesses(procDir: string, queue: CommandQueue): Promise<number[]> {
  const ours = await netnsInode(queue.options.netns ?? join(procDir, 'self/ns/net'));
  const out: number[] = [];
  let entries: string[];
  try {
    entries = await readdir(procDir);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if ((await readFile(join(procDir, e, 'comm'), 'utf8')).trim() !== 'firewalld') continue;
    } catch {
      continue;
    }
    const theirs = await netnsInode(join(procDir, e, 'ns/net'));
    if (ours === undefined || theirs === undefined || ours === theirs) out.push(Number(e));
  }
  return out;
}

export interface HostFirewallProbe {
  queue: CommandQueue;
  config: Config;
  /** '/' on a real host (for /etc/ufw/ufw.conf). */
  root: string;
  procDir: string;
  /** The plan of the containers running now; undefined (with why) when Docker could not be asked. */
  plan: RuleSet | undefined;
  planError?: string;
}

/** The whole nft ruleset, ufw's and firewalld's state, and every opening judged against them. */
export async function collectHostFirewall(o: HostFirewallProbe): Promise<HostFirewallFacts> {
  const nft = new Nft(o.queue);
  let nftFacts: HostFirewallFacts['nft'];
  try {
    nftFacts = { ok: true, ruleset: await nft.listRuleset() };
  } catch (err) {
    nftFacts = { ok: false, error: errorMessage(err), missing: err instanceof NftError && err.missing };
  }
  let ufw: HostFirewallFacts['ufw'];
  try {
    const text = await readFile(join(o.root, 'etc/ufw/ufw.conf'), 'utf8');
    ufw = { enabled: /^\s*ENABLED\s*=\s*"?yes"?\s*$/im.test(text) };
  } catch {
    ufw = undefined;
  }
  const firewalld: string[] = [];
  if (nftFacts.ok && nftFacts.ruleset.tables.some((t) => t.family === 'inet' && t.name === 'firewalld')) firewalld.push('table inet firewalld');
  const pids = await firewalldProcesses(o.procDir, o.queue);
  if (pids.length > 0) firewalld.push(`process ${pids.join(', ')}`);
  const facts: HostFirewallFacts = { mode: o.config.foreignChains, nft: nftFacts, ufw, firewalld };
  if (!nftFacts.ok) return facts;
  if (!o.plan) return { ...facts, notJudged: o.planError ?? 'Docker could not be asked for the running containers' };
  try {
    const state = await (await footprintFor(o.config, o.queue)).inspect(o.plan, o.config.foreignChains, o.config.foreignChainsMark);
    return { ...facts, footprint: { needed: state.needed, footprints: state.footprints, marksInPlace: state.marksInPlace, verdicts: state.verdicts } };
  } catch (err) {
    return { ...facts, notJudged: errorMessage(err) };
  }
}
