// `dockgate doctor`: one line per check, `ok|warn|fail  name  detail`; exit 1 when any check fails.
import { resolve } from 'node:path';
import { resolveDockerHost } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { CommandQueue } from '../dataplane/command-queue.js';
import { collectHostFacts } from '../dataplane/host-probe.js';
import { readDockerFacts } from '../host/docker-info.js';
import { type CheckResult, formatChecks, runChecks } from '../host/doctor-checks.js';
import { readConfig } from './context.js';

export interface DoctorRun {
  config: Config;
  /** Runs the probes; bind it to a network namespace to examine that namespace. */
  queue: CommandQueue;
  /** Prefix for daemon.json ('/' on a real host). */
  root?: string;
  /** '/proc/sys' on a real host. */
  sysctlDir?: string;
  /** Where dockerd is looked for: '/proc' on a real host. */
  procDir?: string;
  dockerHost?: string;
  dockerTimeoutMs?: number;
}

export async function runDoctor(o: DoctorRun): Promise<CheckResult[]> {
  const dockerHost = o.dockerHost ?? resolveDockerHost(o.config, process.env);
  const [host, docker] = await Promise.all([
    collectHostFacts({
      queue: o.queue,
      config: o.config,
      root: o.root ?? '/',
      sysctlDir: o.sysctlDir ?? '/proc/sys',
      procDir: o.procDir ?? '/proc',
      dockerHost,
    }),
    readDockerFacts(dockerHost, o.dockerTimeoutMs),
  ]);
  return runChecks({ ...host, docker });
}

export async function doctor(options: { config?: string; json?: boolean; root?: string }): Promise<number> {
  const config = readConfig(options.config);
  const results = await runDoctor({ config, queue: new CommandQueue(), root: resolve(options.root ?? '/') });
  const failed = results.some((r) => r.status === 'fail');
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ ok: !failed, checks: results }, null, 2)}\n`);
  } else {
    process.stdout.write(formatChecks(results));
  }
  return failed ? 1 : 0;
}
