// What the figures were measured on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { REPO_ROOT } from '../../test/e2e/harness.js';
import { run } from '../../test/support/netns.js';

export interface Machine {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  iptables: string;
  iptablesBackend: string;
  nft: string;
  node: string;
  dockerd: string;
  dockerCli: string;
  dockgate: string;
  /** 1-minute load average when the run started (other work on the machine skews every figure) */
  loadAtStart: number;
}

async function out(cmd: string, args: string[]): Promise<string> {
  try {
    const r = await run(cmd, args, { reject: false, timeoutMs: 10_000 });
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0] ?? '';
  } catch {
    return 'unavailable';
  }
}

export async function machine(): Promise<Machine> {
  const ipt = await out('iptables', ['--version']);
  const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { version?: string };
  const commit = await out('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = (await run('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--', 'src'], { reject: false }).catch(() => undefined))?.stdout.trim();
  return {
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    iptables: ipt,
    iptablesBackend: /\(([^)]+)\)/.exec(ipt)?.[1] ?? 'unknown',
    nft: await out('nft', ['--version']),
    node: process.version,
    dockerd: await out('dockerd', ['--version']),
    dockerCli: await out('/usr/bin/docker', ['--version']),
    dockgate: `${pkg.version ?? '?'} (${commit}${dirty ? ', src/ with uncommitted changes' : ''})`,
    loadAtStart: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
