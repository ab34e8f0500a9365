// Turns the measurements into the targets check, the table on stdout and latest.md.
import type { DataplaneSize, Transaction } from './dataplane.js';
import type { AtRest, EventResult } from './events.js';
import type { NamesAtRest } from './names-at-rest.js';
import { commandsText } from './lib/commands.js';
import type { IdleWindow } from './lib/docker.js';
import type { Machine } from './lib/machine.js';
import { type Summary, fmtMs } from './lib/stats.js';
import type { NameRefreshResult } from './names.js';
import type { VersusRun } from './versus.js';

export interface Results {
  kind: 'full' | 'quick' | 'partial';
  command: string;
  machine: Machine;
  /** the daemon's sync.full_check_ms (its default): the long windows at rest span whole periods of it */
  fullCheckMs: number;
  /** 1-minute load average at the start and the end of each part */
  load: Record<string, { start: number; end: number }>;
  /** 1-minute load average when the run ended (machine.loadAtStart is the other end) */
  loadAtEnd?: number;
  elapsedMs: Record<string, number>;
  /** one tiny iptables-restore / iptables-save / `true` through the same queue in an empty namespace */
  floor?: { restore: Summary; save: Summary; processStart: Summary };
  dataplane?: DataplaneSize[];
  /** one refresh of DNS names' answers written into their sets (egress allow-lists) */
  nameRefresh?: NameRefreshResult;
  events?: EventResult;
  versus?: VersusRun[];
  errors: Record<string, string>;
  targets: Target[];
}

export interface Target {
  /** the part it comes from, whose load average judges it */
  part: string;
  what: string;
  target: string;
  measured: string;
  /** undefined: not measured in this run */
  pass?: boolean;
  /** the 1-minute load while it was taken, where a narrower window than its part's says more */
  loadDuring?: number;
  /** why this figure is not to be trusted (the machine was busy) */
  unreliable?: string;
}

const mark = (t: Target): string => `${t.pass === undefined ? '–' : t.pass ? 'pass' : 'MISS'}${t.unreliable ? ' (unreliable)' : ''}`;
const ms = (v: number | undefined): string => fmtMs(v);
const sumText = (s: Summary | undefined, p: 'p95' | 'p99' = 'p95'): string =>
  s && s.n > 0 ? `median ${ms(s.median)}, ${p} ${ms(s[p])} (n=${s.n})` : 'n/a';
const ratioText = (r: number): string => (r >= 10 ? `${Math.round(r)}×` : `${r.toFixed(2)}×`);
const mb = (mib: number): number => Math.round(((mib * 2 ** 20) / 1e6) * 10) / 10;

type Measured = Omit<Results, 'targets'>;

/** A one-change figure against the same transaction written by hand: dockgate's overhead on the kernel's floor. */
function changeRatio(d: DataplaneSize): { start: number; stop: number; worst: number } {
  const start = d.start.median / d.startFloor.median;
  const stop = d.stop.median / d.stopFloor.median;
  return { start, stop, worst: Math.max(start, stop) };
}

const txText = (list: Transaction[]): string => list.map((t) => `${t.tables.join('+')}, ${t.lines} lines`).join(' or ');

function dataplaneTargets(r: Measured): Target[] {
  const t: Target[] = [];
  const dp = r.dataplane ?? [];
  const at = (n: number): DataplaneSize | undefined => dp.find((d) => d.n === n);
  const d5 = at(5000);
  const d1 = at(1000);
  const d100 = at(100);
  const part = 'dataplane';
  if (d5) {
    const q = changeRatio(d5);
    t.push({
      part,
      what: "one container's change with 5,000 in place ÷ the same transaction by hand (worst of the start / stop medians)",
      target: '≤ 1.3×',
      measured: `${ratioText(q.worst)}: start ${ms(d5.start.median)} ÷ ${ms(d5.startFloor.median)} = ${ratioText(q.start)} (${txText(d5.startTransactions)}), stop ${ms(d5.stop.median)} ÷ ${ms(d5.stopFloor.median)} = ${ratioText(q.stop)} (${txText(d5.stopTransactions)}); n=${d5.start.n} each`,
      pass: q.worst <= 1.3,
    });
    if (d100) {
      const f = Math.max(d5.start.median, d5.stop.median) / Math.max(d100.start.median, d100.stop.median);
      t.push({ part, what: '… independent of N (worst median at 5,000 ÷ at 100)', target: '≈ 1× (≤ 1.5× counts as pass)', measured: ratioText(f), pass: f <= 1.5 });
    }
    t.push({ part, what: 'full sync of 5,000 containers (median)', target: '≤ 1.5 s', measured: `${ms(d5.fullSync.median)} (n=${d5.fullSync.n})`, pass: d5.fullSync.median <= 1500 });
  } else {
    t.push({ part, what: "one container's change with 5,000 in place ÷ the same transaction by hand", target: '≤ 1.3×', measured: 'not run (N=5,000 only in the full run)' });
    t.push({ part, what: 'full sync of 5,000 containers', target: '≤ 1.5 s', measured: 'not run (N=5,000 only in the full run)' });
  }
  const what = 'full sync vs one iptables process per rule, N=1,000';
  if (d1?.naive) {
    const ratio = d1.naive.fullMs / d1.fullSync.median;
    t.push({ part, what, target: '≥ 50× faster', measured: `${ratioText(ratio)} (${ms(d1.fullSync.median)} vs ${ms(d1.naive.fullMs)})`, pass: ratio >= 50 });
  } else {
    t.push({ part, what, target: '≥ 50× faster', measured: 'not run (baseline at N=1,000 only in the full run)' });
  }
  const nr = r.nameRefresh;
  if (nr) {
    const one = nr.writesPerRefresh.every((w) => w === 1);
    const none = nr.writesPerUnchangedRefresh.every((w) => w === 0);
    t.push({
      part,
      what: `a refresh of ${nr.names} DNS names' answers (${nr.addressesPerRefresh} new addresses): writes, and answers → kernel (median)`,
      target: 'one `ipset restore`; ≤ 50 ms',
      measured: `${one ? 'one write' : `writes per refresh ${nr.writesPerRefresh.join(',')}`} in each of ${nr.writesPerRefresh.length} refreshes (${none ? 'none' : nr.writesPerUnchangedRefresh.join(',')} when no answer changed); ${ms(nr.answersToKernel.median)}, of which the ipset restore ${ms(nr.write.median)}${nr.verified ? '' : '; the kernel did NOT hold the last answers'}`,
      pass: one && none && nr.verified && nr.answersToKernel.median <= 50,
    });
  }
  return t;
}

/** CPU at rest against the target, with how many of the daemon's full checks the window held. */
function restTarget(what: string, w: IdleWindow, fullCheckMs: number, extra: string): Target {
  const periods = (w.seconds * 1000) / fullCheckMs;
  const total = w.cpuPercent + w.childCpuPercent;
  const amortised = periods >= 1;
  return {
    part: 'events',
    what,
    target: '≤ 0.5% of a core',
    measured: `${w.cpuPercent}% + ${w.childCpuPercent}% (${w.seconds} s = ${periods.toFixed(1)} periods of full_check_ms ${fullCheckMs / 1000} s${extra})${amortised ? '' : '; shorter than one full check, so not a rate at rest'}`,
    pass: amortised ? total <= 0.5 : undefined,
    ...(w.load ? { loadDuring: w.load.end } : {}),
  };
}

function eventTargets(r: Measured): Target[] {
  const ev = r.events;
  if (!ev) return [];
  const t: Target[] = [];
  const part = 'events';
  const k = ev.sequential.kernel;
  t.push({ part, what: `start event → rules in the kernel, p50 (${k.n} one after another)`, target: '≤ 30 ms', measured: ms(k.median), pass: k.median <= 30 });
  t.push({ part, what: `start event → rules in the kernel, p99 (${k.n} one after another)`, target: '≤ 100 ms', measured: ms(k.p99), pass: k.p99 <= 100 });
  t.push({
    part,
    what: `burst of ${ev.burst.n}: last start event → last rule in place`,
    target: '≤ 1 s',
    measured: ms(ev.burst.lastStartToLastRuleMs),
    pass: ev.burst.lastStartToLastRuleMs <= 1000,
  });
  const rss = mb(ev.resources.withContainers.rssMiB);
  t.push({
    part,
    what: `dockgate RSS with ${ev.resources.withContainers.containers} containers`,
    target: '≤ 80 MB',
    measured: `${rss} MB (peak ${mb(ev.resources.withContainers.peakRssMiB)} MB)`,
    pass: ev.resources.withContainers.containers >= 200 ? rss <= 80 : undefined,
  });
  if (ev.drift.length > 0) {
    const worst = ev.drift.reduce((a, d) => (d.repairMs.median > a.repairMs.median ? d : a));
    t.push({
      part,
      what: 'drift repaired after another process changes the rules (worst median of the kinds)',
      target: '≤ 250 ms',
      measured: `${ms(worst.repairMs.median)} (${worst.kind}, n=${worst.repairMs.n})${ev.drift.every((d) => d.restored) ? '' : '; NOT every case restored'}`,
      pass: worst.repairMs.median <= 250 && ev.drift.every((d) => d.restored),
    });
  }
  const many = ev.resources.withMany;
  if (many) t.push(restTarget(`CPU at rest with ${many.containers} containers (dockgate + its iptables processes)`, many, r.fullCheckMs, `, after ${many.settleSeconds} s to settle`));
  const named = ev.resources.withNames;
  if (named) {
    t.push(
      restTarget(
        `CPU at rest with ${named.containers} containers, ${named.names} DNS names each (dockgate + its iptables and ipset processes)`,
        named,
        r.fullCheckMs,
        `; TTL ${named.ttlS} s; ${named.logEvents['egress-name-answer'] ?? 0} set writes in the window`,
      ),
    );
  }
  return t;
}

function versusTargets(r: Measured): Target[] {
  const t: Target[] = [];
  const vs = r.versus ?? [];
  const docker = vs.find((v) => v.mode === 'docker');
  if (!docker) return t;
  const part = 'versus';
  for (const dg of vs.filter((v) => v.mode !== 'docker')) {
    const p50 = dg.sequential.median / docker.sequential.median;
    const wall = dg.burstWallMs / docker.burstWallMs;
    t.push({
      part,
      what: `docker run → reachable, ${dg.mode} ÷ Docker's own firewall (p50 of ${dg.sequential.n})`,
      target: '≤ 1.0',
      measured: `${p50.toFixed(2)} (${ms(dg.sequential.median)} vs ${ms(docker.sequential.median)})`,
      pass: p50 <= 1.0,
    });
    t.push({
      part,
      what: `… ${dg.mode} ÷ Docker, wall time for ${dg.sequential.n} started at once`,
      target: '≤ 1.0',
      measured: `${wall.toFixed(2)} (${ms(dg.burstWallMs)} vs ${ms(docker.burstWallMs)})`,
      pass: wall <= 1.0,
    });
  }
  return t;
}

/**
 * Every target, each marked unreliable when it was taken while the machine's 1-minute load average
 * was above half its cores: other work then shares the cores and inflates latencies and CPU shares.
 * A window at rest is judged by the load at its end (it spans minutes); a part by its start and end.
 */
export function evaluate(r: Measured): Target[] {
  const t = [...dataplaneTargets(r), ...eventTargets(r), ...versusTargets(r)];
  const limit = r.machine.cpus / 2;
  for (const x of t) {
    const l = r.load[x.part];
    const during = x.loadDuring ?? (l ? Math.max(l.start, l.end) : undefined);
    if (during !== undefined && during > limit && x.pass !== undefined) x.unreliable = `1-minute load ${during} > ${limit}`;
  }
  return t;
}

function nameRefreshText(nr: NameRefreshResult): string[] {
  return [
    `Egress names, fresh network namespace: ${nr.names} names (A and AAAA sets each, through dockgate's EgressSync and Ipsets) whose answers all change (${nr.addressesPerRefresh} new addresses) at once, ${nr.writesPerRefresh.length} times:`,
    '',
    ...table(
      ['figure', 'value'],
      [
        ['`ipset restore` runs per refresh', nr.writesPerRefresh.join(', ')],
        ['… per refresh with the same answers again', nr.writesPerUnchangedRefresh.join(', ')],
        ['answers in hand → the write returned (its 20 ms batching window included)', sumText(nr.answersToKernel)],
        ['… of which the `ipset restore` process', sumText(nr.write)],
        ['the kernel held the last answers', nr.verified ? 'yes' : 'NO'],
      ],
    ),
    '',
  ];
}

function namesAtRestText(n: NamesAtRest): string[] {
  const events = Object.entries(n.logEvents);
  return [
    `Then every one of the ${n.containers} containers got an allow-list of ${n.names} DNS names (\`defaults.egress\`, a reload; dnsmasq in the outside namespace answering with TTL ${n.ttlS} s through \`egress.resolv_conf\`): ${n.setRuleLines} IPv4 filter lines match on the names' sets, in the list's one shared chain, and ${n.egressJumps ?? 'an unrecorded number of'} jumps lead there from the containers; the first answers were in their sets ${ms(n.fillMs)} after the reload, in ${n.fillWrites} \`ipset restore\` write(s). dockgate's log lines while at rest: ${events.length === 0 ? 'none' : events.map(([k, v]) => `${k} ×${v}`).join(', ')} (each \`egress-name-answer\` is one write).`,
    '',
  ];
}

/** Under the CPU at rest: the commands each window held (results from before they were logged have none). */
export function commandLines(rows: ReadonlyArray<[string, IdleWindow, string]>): string[] {
  const held = rows.filter(([, x]) => x.commands !== undefined);
  if (held.length === 0) return [];
  return ['', ...held.map(([label, x]) => `- ${label}: commands in the window: ${commandsText(x.commands!)}`)];
}

function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `| ${w.map((n) => '-'.repeat(n)).join(' | ')} |`, ...rows.map(line)];
}

function range(s: Summary): string {
  return s.n > 1 ? `${ms(s.min)} – ${ms(s.max)}` : '';
}

export function renderTables(r: Results): string[] {
  const out: string[] = [];
  out.push('### Targets (issues 6, 19, 20)', '');
  out.push(...table(['figure', 'target', 'measured', ''], r.targets.map((t) => [t.what, t.target, t.measured, mark(t)])));
  const shaky = r.targets.filter((t) => t.unreliable);
  if (shaky.length > 0) {
    const why = [...new Set(shaky.map((t) => `${t.part}: ${t.unreliable}`))].join('; ');
    out.push('', `**Unreliable**: the ${shaky.length} figure(s) so marked were taken while the 1-minute load average was above ${r.machine.cpus / 2}, half the cores (${why}). Run again on a quiet machine before reading them as passes or misses.`);
  }
  out.push('');

  if (r.dataplane && r.dataplane.length > 0) {
    out.push('### 1. Dataplane, synthetic containers (2 published ports each, proxy and dnat mixed), fresh network namespace', '');
    out.push(
      ...table(
        ['N', 'chains / rules', 'full sync (median, range, n)', 'one start', 'one stop', 'drift check', 'per-rule baseline: full', 'ratio', 'baseline: one start'],
        r.dataplane.map((d) => [
          String(d.n),
          `${d.chains} / ${d.rules}`,
          `${ms(d.fullSync.median)} (${range(d.fullSync)}, n=${d.fullSync.n})`,
          sumText(d.start),
          sumText(d.stop),
          `${ms(d.driftCheck.median)} (n=${d.driftCheck.n})`,
          d.naive ? `${ms(d.naive.fullMs)} (${d.naive.processes} processes, n=1)` : 'not run',
          d.naive ? ratioText(d.naive.fullMs / d.fullSync.median) : '',
          d.naive ? `${sumText(d.naive.start)}, ${d.naive.startProcesses} processes` : '',
        ]),
      ),
    );
    out.push('');
    out.push(
      ...table(
        ['N', 'restore process: full', 'restore process: one start', 'one start / stop by hand', 'dockgate ÷ by hand: start / stop', 'iptables-save in drift check', 'buildRuleSet (Node.js)', 'renderDiff (Node.js)', 'kernel matched plan'],
        r.dataplane.map((d) => [
          String(d.n),
          ms(d.fullSyncRestoreProcess.median),
          sumText(d.startRestoreProcess),
          `${ms(d.startFloor.median)} (${txText(d.startTransactions)}) / ${ms(d.stopFloor.median)} (${txText(d.stopTransactions)})`,
          `${ratioText(changeRatio(d).start)} / ${ratioText(changeRatio(d).stop)}`,
          ms(d.driftCheckSaveProcess.median),
          ms(d.planBuildMs.median),
          ms(d.renderDiffMs.median),
          d.verified && (d.naive?.verified ?? true) ? 'yes' : 'NO',
        ]),
      ),
    );
    if (r.floor) {
      out.push(
        '',
        `For scale, in an empty namespace through the same queue (nsenter + process): a one-rule iptables-restore takes ${sumText(r.floor.restore)}, iptables-save ${sumText(r.floor.save)}, and \`true\` ${sumText(r.floor.processStart)}.`,
      );
    }
    const skipped = r.dataplane.find((d) => d.naiveSkipped);
    if (skipped) out.push('', `Per-rule baseline ${skipped.naiveSkipped}.`);
    out.push('');
  }
  if (r.nameRefresh) out.push(...nameRefreshText(r.nameRefresh));

  const ev = r.events;
  if (ev) {
    out.push(`### 2. Event to enforcement, real dockerd (--iptables=false) + dockgate (defaults, log_level debug${ev.nodeFlags ? `, node ${ev.nodeFlags.join(' ')}` : ''})`, '');
    out.push(
      ...table(
        ['figure', 'value'],
        [
          [`${ev.sequential.n} one after another: start event → opening committed in the kernel`, sumText(ev.sequential.kernel, 'p99')],
          ['… start event → dockgate\'s "applied" log line', sumText(ev.sequential.applied, 'p99')],
          ['… `docker run` itself (for scale)', sumText(ev.sequential.dockerRun, 'p99')],
          [`burst of ${ev.burst.n} (${ev.burst.concurrency} docker runs at a time): last start event → last rule`, ms(ev.burst.lastStartToLastRuleMs)],
          ['… per container: start event → its rule', sumText(ev.burst.perContainer, 'p99')],
          ['… first `docker run` → last rule', ms(ev.burst.wallMs)],
          ['… iptables-restore runs (kernel transactions, sync log lines)', `${ev.burst.restoreProcesses} (${ev.burst.restoreTransactions}, ${ev.burst.syncLines})`],
          ['… first → last start event (how far Docker spread the burst)', ms(ev.burst.spreadMs)],
        ],
      ),
    );
    out.push('');
    const b = ev.sequential.breakdown;
    if (b.n > 0) {
      const rel = (x: Summary): string => `${x.median >= 0 ? '+' : ''}${ms(x.median)}`;
      out.push(
        `Where the time goes, for the ${b.n} one after another: milestones of the sync that wrote each container, relative to Docker's start event (median; negative = before it), from dockgate's debug log (its \`docker-event\` line and the phases of that \`sync\`; log times have 1 ms resolution):`,
        '',
        ...table(
          ['milestone', 'at (median)', 'phase took (median, p99)'],
          [
            ['dockgate reads the start event', rel(b.read), ''],
            ['the writing sync begins (often on the `create` event)', rel(b.syncBegan), ''],
            ['its facts are complete (inspect; Docker answers once the start is done)', rel(b.factsDone), sumText(b.phases.facts, 'p99')],
            ['plan built (buildRuleSet)', rel(b.planned), sumText(b.phases.plan, 'p99')],
            ['render + iptables-restore returned (IPv4 and IPv6)', rel(b.written), sumText(b.phases.write, 'p99')],
            ['the kernel commit, seen by nft monitor', rel(b.kernel), ''],
            ['host work done (sysctls, routes, conntrack, footprint), `sync` logged', rel(b.done), sumText(b.phases.host, 'p99')],
          ],
        ),
        '',
      );
    }
    if (ev.drift.length > 0) {
      out.push(
        'Drift repair, with the containers above in place: another process (`iptables`) changes dockgate\'s rules; time from its transaction to dockgate\'s repairing `iptables-restore` transaction, both as `nft monitor` reports them, then a check that the damaged line is back:',
        '',
        ...table(
          ['tampering', 'repaired after', 'restored'],
          ev.drift.map((d) => [d.kind, sumText(d.repairMs), d.restored ? 'yes' : 'NO']),
        ),
        '',
      );
    }
    const res = ev.resources;
    out.push("### 4. dockgate's resources (RSS: /proc/PID/status VmRSS; CPU: /proc/PID/stat utime+stime, and cutime+cstime for the iptables processes it ran)", '');
    const rows: Array<[string, IdleWindow, string]> = [
      ['idle, no containers', res.idle, ''],
      ['right after the event runs', res.afterEvents, ` (during the runs: ${res.cpuDuringEventsMs} + ${res.childCpuDuringEventsMs} ms)`],
      [`${res.withContainers.containers} containers, at rest (after ${res.withContainers.settleSeconds} s to settle)`, res.withContainers, ''],
      ...(res.withMany ? [[`${res.withMany.containers} containers, at rest (after ${res.withMany.settleSeconds} s to settle)`, res.withMany, ''] as [string, IdleWindow, string]] : []),
      ...(res.withNames
        ? [[`the same ${res.withNames.containers}, ${res.withNames.names} DNS names each, at rest (after ${res.withNames.settleSeconds} s to settle)`, res.withNames, ''] as [string, IdleWindow, string]]
        : []),
    ];
    out.push(
      ...table(
        ['when', 'RSS', 'peak RSS', 'CPU in the window: dockgate + its iptables processes', 'CPU since start: dockgate + its iptables processes'],
        rows.map(([label, x, extra]) => [
          label,
          `${mb(x.rssMiB)} MB`,
          `${mb(x.peakRssMiB)} MB`,
          `${x.cpuPercent}% + ${x.childCpuPercent}% of a core (${x.seconds} s = ${((x.seconds * 1000) / r.fullCheckMs).toFixed(1)} full checks${x.load ? `; load ${x.load.start} → ${x.load.end}` : ''})`,
          `${x.cpuTotalMs} + ${x.childCpuTotalMs} ms${extra}`,
        ]),
      ),
    );
    out.push(...commandLines(rows));
    const restLine = (a: AtRest, how: string): string =>
      `Starting the ${how} (10 at a time) took ${ms(a.startWallMs)}; the last rule followed the last start event by ${ms(a.lastStartToLastRuleMs)}. dockgate's log lines while at rest: ${Object.keys(a.logEvents).length === 0 ? 'none' : Object.entries(a.logEvents).map(([k, v]) => `${k} ×${v}`).join(', ')}.`;
    out.push('', restLine(res.withContainers, `${res.withContainers.containers} containers (proxy mode, one published port each)`), '');
    if (res.withMany) out.push(restLine(res.withMany, `${res.withMany.containers - res.withContainers.containers} more (dnat mode, each claiming a host port without -p)`), '');
    if (res.withNames) out.push(...namesAtRestText(res.withNames));
  }

  const vs = r.versus ?? [];
  if (vs.length > 0) {
    out.push('### 3. `docker run -d -p 10.0.0.5:PORT:8000` → HTTP 200 from the outside namespace', '');
    out.push(
      ...table(
        ['firewall', 'one after another: invoke → HTTP 200', 'of which `docker run`', '`docker run` returned → HTTP 200', `wall, ${vs[0]!.sequential.n} at once`, 'failures'],
        vs.map((v) => [
          v.mode === 'docker' ? "Docker's own (--iptables=true)" : v.mode === 'dockgate' ? 'dockgate, proxy mode' : 'dockgate, dnat mode (--userland-proxy=false)',
          sumText(v.sequential),
          `median ${ms(v.dockerRun.median)}`,
          sumText(v.afterDockerRun),
          ms(v.burstWallMs),
          String(v.failures),
        ]),
      ),
    );
    out.push('');
  }
  for (const v of vs) if (v.failed.length > 0) out.push(`${v.mode}: never answered: ${v.failed.join(', ')}`, '');
  const busy = Object.entries(r.load).filter(([, l]) => Math.max(l.start, l.end) > r.machine.cpus / 2);
  if (busy.length > 0) {
    out.push(
      `**Note:** the machine was shared: 1-minute load average ${busy.map(([k, l]) => `${k} ${l.start} → ${l.end}`).join(', ')} on ${r.machine.cpus} cores. Latencies above are inflated by that; the ratios measured in the same run are less affected.`,
      '',
    );
  }
  for (const [part, err] of Object.entries(r.errors)) out.push(`**${part} failed:** ${err.split('\n')[0]}`, '');
  return out;
}

export function renderMarkdown(r: Results): string {
  const m = r.machine;
  const lines = [
    `# dockgate benchmark (${r.kind} run)`,
    '',
    `\`${r.command}\` on ${m.date}.`,
    '',
    '## Machine',
    '',
    `- ${m.cpus} cores (${m.cpuModel}), ${m.memoryGiB} GiB memory, kernel ${m.kernel}`,
    `- ${m.iptables}; ${m.nft}`,
    `- node ${m.node}; ${m.dockerd}; CLI ${m.dockerCli}`,
    `- dockgate ${m.dockgate}`,
    `- 1-minute load average: run ${m.loadAtStart} → ${r.loadAtEnd ?? 'n/a'}; ${Object.entries(r.load)
      .map(([k, v]) => `${k} ${v.start} → ${v.end}`)
      .join('; ')} (anything well above 0 means other work shared the ${m.cpus} cores; a target taken above ${m.cpus / 2} is marked unreliable)`,
    `- dockgate with its defaults: sync.full_check_ms ${r.fullCheckMs} ms`,
    `- time taken: ${Object.entries(r.elapsedMs)
      .map(([k, v]) => `${k} ${fmtMs(v)}`)
      .join(', ')}`,
    '',
    '## Results',
    '',
    ...renderTables(r),
    '## How it is measured',
    '',
    '- Every figure comes with its repetitions (n); all raw samples are in `latest.json`. Percentiles are nearest-rank, so the p99 of 50 samples is their maximum.',
    '- Part 1 runs `Dataplane.sync` (src/dataplane) through a `CommandQueue` bound to a fresh network namespace per full-sync repetition; "one start" is the sync of the plan with one more container (alternately proxy and dnat), "one stop" the sync back. "Drift check" is `Dataplane.check` (iptables-save + compare): on the nf_tables backend the daemon runs it as a safety net every `sync.full_check_ms` (drift itself is reported by `nft monitor`), on the legacy backend every `sync.drift_check_ms`. The baseline writes the same lines (renderPlan output) as one `iptables -w -t T -N/-A/-I ...` process per line from a `sh -e` script inside the namespace; its result is checked against the plan too.',
    '- "By hand" is the kernel floor of one change: right after each of dockgate\'s start and stop syncs, the very text it wrote (same tables, same lines) is written again from the same kernel state as one `iptables-restore -w 10 --noflush` through the same queue (nsenter and process start included), without dockgate\'s render, grammar check and bookkeeping; the drift checks after them find the kernel equal to the plan. The target is dockgate\'s median ÷ this median.',
    '- The name refresh runs dockgate\'s EgressSync and Ipsets in a fresh namespace with scripted DNS answers (the figure is the write, not a resolver): a change of nameservers makes it ask every name again at once, and the answers are written as the daemon writes them.',
    '- Part 2 takes Docker\'s own `start` event timestamps (`docker events`, timeNano) and the moment `nft monitor` in the host namespace reports the container\'s accept line in its `DOCKGATE-OPENINGS-xx` shard (kernel commit, no polling); iptables-restore runs are counted from the monitor\'s "new generation ... by process" lines. Drift repair is timed between two such lines: the tampering `iptables` process\'s transaction and dockgate\'s next `iptables-restore` one. The resources at rest are measured after the containers started and a settling time (the inspects\' tail, garbage collection); the CPU targets over a window of two whole periods of `sync.full_check_ms`, so its safety-net read counts in due proportion (the check runs on a fixed period, so any window of whole periods holds exactly that many), and the shorter windows say what share of a period they span. With names, the running containers get `defaults.egress` by a reload and dnsmasq answers from a hosts file in the outside namespace; the window then holds the names\' refreshes (every 0.8 × TTL) and any set writes.',
    '- Part 3 starts the clock when `docker run` is invoked; a prober in the outside namespace (bench/probe.ts) opens a new HTTP connection every 5 ms (25 ms in the at-once runs) until one gets 200 from busybox httpd in the container. The Docker hosts of the compared modes run side by side and the one-after-another runs are interleaved (order turning each round), so that other load on the machine hits every mode alike; the at-once runs go one mode after the other.',
    '- Everything runs in namespaces the benchmark makes and removes; nothing touches the machine\'s own network namespace.',
    '',
  ];
  return lines.join('\n');
}
