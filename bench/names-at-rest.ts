// Part 4, egress names at rest (issue 20): the containers already running get an allow-list of
// DNS names through `defaults.egress` (a reload, no container restarted), resolved by a real
// dnsmasq in the outside namespace through `egress.resolv_conf`, as test/e2e/egress.test.ts does.
// Then dockgate's CPU at rest is measured over whole full-check periods, so the safety-net read
// of the larger rule set, the names' refreshes and their set writes are all in the window.
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DockerHost } from '../test/e2e/harness.js';
import { checkInterrupted, startLineProcess } from './lib/cleanup.js';
import { type Dockgate, type IdleWindow, idleWindow, logLines, logTime, until } from './lib/docker.js';

export interface NamesAtRestOptions {
  /** distinct names every container lists (the same list for all: defaults.egress) */
  names: number;
  /** the TTL dnsmasq gives its answers (dockgate refreshes at 0.8 × max(TTL, 30 s)) */
  ttlS: number;
  settleSeconds: number;
  restSeconds: number;
  log: (msg: string) => void;
}

export interface NamesAtRest extends IdleWindow {
  containers: number;
  names: number;
  ttlS: number;
  /** lines in iptables-save (IPv4 filter) matching on a name's set: one per name, in the list's shared chain */
  setRuleLines: number;
  /** jumps into an egress chain (IPv4 filter): one per container address */
  egressJumps: number;
  /** reload → every name's first answer written into its set */
  fillMs: number;
  /** `ipset restore` writes (egress-name-answer lines) that filled the sets after the reload */
  fillWrites: number;
  settleSeconds: number;
  /** dockgate's log lines during the window, by event (each egress-name-answer is one set write) */
  logEvents: Record<string, number>;
}

/** A DNS server address in the outside namespace, as the e2e test uses. */
const DNS_IP = '10.0.0.10';
const nameOf = (i: number): string => `n${i}.names.bench.test`;

/** Starts dnsmasq answering `names` names (two A records each) from a hosts file only. */
async function startResolver(h: DockerHost, names: number, ttlS: number): Promise<{ resolv: string; stop: () => Promise<void> }> {
  await h.outside.exec('ip', ['addr', 'add', `${DNS_IP}/24`, 'dev', h.outsideIf], { timeoutMs: 10_000 });
  const hosts = `${h.tmpDir}/bench-names.hosts`;
  const lines = Array.from({ length: names }, (_, i) => [`198.18.1.${i + 1} ${nameOf(i)}`, `198.18.2.${i + 1} ${nameOf(i)}`]).flat();
  await writeFile(hosts, `${lines.join('\n')}\n`);
  // Foreground, no upstream, hosts file only; registered for clean-up and stopped by pid.
  const dnsmasq = await startLineProcess('dnsmasq', 'nsenter', [
    `--net=${h.outside.path}`, 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`,
    `--listen-address=${DNS_IP}`, '--bind-interfaces', `--local-ttl=${ttlS}`, '--user=root', `--pid-file=${h.tmpDir}/bench-dnsmasq.pid`,
  ]);
  const resolv = `${h.tmpDir}/bench-resolv.conf`;
  await writeFile(resolv, `nameserver ${DNS_IP}\n`);
  return { resolv, stop: dnsmasq.stop };
}

export async function namesAtRest(h: DockerHost, dg: Dockgate, containers: number, baseConfig: string, o: NamesAtRestOptions): Promise<NamesAtRest> {
  if (o.names > 250) throw new Error('at most 250 names');
  const { resolv, stop } = await startResolver(h, o.names, o.ttlS);
  try {
    return await reloadAndRest(h, dg, containers, baseConfig, resolv, o);
  } finally {
    await stop();
  }
}

async function reloadAndRest(h: DockerHost, dg: Dockgate, containers: number, baseConfig: string, resolv: string, o: NamesAtRestOptions): Promise<NamesAtRest> {
  const list = Array.from({ length: o.names }, (_, i) => `${nameOf(i)}:443`).join(', ');
  const before = logLines(dg.d).length;
  const t0 = Date.now();
  o.log(`  ${containers} containers get ${o.names} names each (defaults.egress, reload); dnsmasq TTL ${o.ttlS} s`);
  await dg.reload(`${baseConfig}egress:\n  resolv_conf: ${resolv}\ndefaults:\n  egress: "${list}"\n`);
  await dg.d.waitForLog((l) => l.event === 'reloaded', 30_000);
  const written = (): Array<Record<string, unknown>> => logLines(dg.d).slice(before).filter((l) => l.event === 'egress-name-answer');
  const namesWritten = (): Set<string> => new Set(written().flatMap((l) => (Array.isArray(l.names) ? l.names.map(String) : [])));
  await until(`every name's answer in its set`, () => namesWritten().size >= o.names, 300_000, 50);
  const fill = written();
  const fillMs = Math.max(...fill.map(logTime)) - t0;
  // The sets' answers can be in before the filter write that matches on them (the sets come
  // first, so no rule ever names a missing set): count once that write is in.
  const filterLines = async (): Promise<string[]> => (await h.host.exec('iptables-save', ['-t', 'filter'], { timeoutMs: 60_000 })).stdout.split('\n');
  const count = (lines: string[]): { sets: number; jumps: number } => ({
    sets: lines.filter((l) => l.includes('--match-set dockgate-e4-')).length,
    jumps: lines.filter((l) => /^-A DOCKGATE-CONTAINERS-.* -j DOCKGATE-EGRESS-/.test(l)).length,
  });
  let seen = count(await filterLines());
  for (let i = 0; i < 240 && seen.jumps < containers; i++) {
    await sleep(500);
    seen = count(await filterLines());
  }
  const { sets: setRuleLines, jumps: egressJumps } = seen;
  o.log(`  names written after ${fillMs} ms in ${fill.length} write(s); ${setRuleLines} rule lines match on their sets, ${egressJumps} jumps lead to them; settling ${o.settleSeconds} s`);
  checkInterrupted();
  await new Promise((res) => setTimeout(res, o.settleSeconds * 1000));
  const from = logLines(dg.d).length;
  const w = await idleWindow(dg.pid, o.restSeconds, dg.d);
  const logEvents: Record<string, number> = {};
  // The `command` lines are tallied apart, per program and verb (w.commands).
  for (const l of logLines(dg.d).slice(from)) if (l.event !== 'command') logEvents[String(l.event ?? l.msg)] = (logEvents[String(l.event ?? l.msg)] ?? 0) + 1;
  return { ...w, containers, names: o.names, ttlS: o.ttlS, setRuleLines, egressJumps, fillMs, fillWrites: fill.length, settleSeconds: o.settleSeconds, logEvents };
}
