// Reads and validates /etc/dockgate/config.yaml. Any problem is a ConfigError whose message names
// the file, the dotted key path and what was expected, so start-up can print it and stop.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument } from 'yaml';
import { type Config, type ConfigFile, configFileSchema } from './schema.js';
import { describeValue } from './schema-parts.js';
import { DockerEndpointError, dockerHost, dockerOptions } from '../docker/endpoint.js';
import { errorMessage } from '../util/errors.js';

export type { Config, LogLevel } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/dockgate/config.yaml';

export interface ConfigProblem {
  /** Dotted key path, e.g. 'defaults.from[1]'; '' for a whole-file problem. */
  key: string;
  reason: string;
}

export class ConfigError extends Error {
  /** The first problem's key path ('' for whole-file problems such as YAML syntax). */
  readonly key: string;
  readonly file: string;
  /** Every problem found, in file order; the first is `key`. */
  readonly problems: readonly ConfigProblem[];

  constructor(file: string, key: string, reason: string, further: readonly ConfigProblem[] = []) {
    const problems = [{ key, reason }, ...further];
    super(`${file}: ${problems.map((p) => (p.key ? `${p.key}: ${p.reason}` : p.reason)).join('; ')}`);
    this.name = 'ConfigError';
    this.key = key;
    this.file = file;
    this.problems = problems;
  }
}

type PathSegment = string | number;

/** ['defaults', 'from', 1] → 'defaults.from[1]'; odd keys are quoted: '["a b"]'. */
export function formatKeyPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** Offset in the file of the deepest node along `path`, to report problems in file order. */
function offsetOf(root: unknown, path: readonly PathSegment[]): number {
  let node = root;
  let best = Number.MAX_SAFE_INTEGER;
  for (const seg of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      if (isScalar(pair.key) && pair.key.range) best = pair.key.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (!item) break;
      if ((isScalar(item) || isMap(item) || isSeq(item)) && item.range) best = item.range[0];
      node = item;
    } else {
      break;
    }
  }
  return best;
}

function isPlainMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Parses and validates config text; `file` is only used in messages. Throws ConfigError. */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter, logLevel: 'error' });
  const syntax = doc.errors[0];
  if (syntax) {
    const { line, col } = lineCounter.linePos(syntax.pos[0]);
    throw new ConfigError(file, '', `invalid YAML at line ${line}, column ${col}: ${syntax.message}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ConfigError(file, '', `invalid YAML: ${errorMessage(e)}`);
  }
  // An empty file, or one with only comments, means every default.
  data ??= {};
  if (!isPlainMapping(data)) {
    throw new ConfigError(file, '', `expected a mapping of settings at the top level, got ${describeValue(data)}`);
  }

  const result = configFileSchema.safeParse(data);
  if (result.success) return toConfig(result.data);

  const found: { key: string; reason: string; offset: number; order: number }[] = [];
  const add = (path: readonly PropertyKey[], reason: string) => {
    const segs = path.map((s) => (typeof s === 'number' ? s : String(s)));
    const key = formatKeyPath(segs);
    if (found.some((p) => p.key === key)) return; // one problem per key is plenty
    found.push({ key, reason, offset: offsetOf(doc.contents, segs), order: found.length });
  };
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) add([...issue.path, k], issue.message);
    } else {
      add(issue.path, issue.message);
    }
  }
  found.sort((a, b) => a.offset - b.offset || a.order - b.order);
  const [first, ...rest] = found;
  if (!first) throw new ConfigError(file, '', 'invalid configuration'); // zod always reports one
  throw new ConfigError(file, first.key, first.reason, rest);
}

/** The built-in defaults, identical to the documented config/config.yaml. A fresh object each call. */
export function defaultConfig(): Config {
  return toConfig(configFileSchema.parse({}));
}

export interface LoadedConfig {
  config: Config;
  /** The file read, or that would have been. */
  file: string;
  /** The file does not exist, so these are the built-in defaults (only ever at the default path). */
  builtIn: boolean;
}

/**
 * Loads the config file: `path`, else `defaultPath` (normally /etc/dockgate/config.yaml). A
 * missing file at the default path means the built-in defaults, also when the path is named
 * explicitly, as the unit does: a deleted file must not become an exit 2 that systemd's
 * RestartPreventExitStatus=2 makes final. Any other path must exist (a typo in --config must
 * not silently run the defaults). The Docker endpoint the config leads to (with `env` when
 * docker.host is "") must be usable too: an unsupported scheme or a missing TLS file is a
 * config error naming docker.host, not a connection that fails or falls back later.
 */
export function readConfigFile(path: string | undefined, defaultPath: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = path ?? defaultPath;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && resolve(file) === resolve(defaultPath)) {
      return { config: checkDockerEndpoint(defaultConfig(), file, env), file, builtIn: true };
    }
    throw new ConfigError(file, '', err.code === 'ENOENT' ? 'no such file' : `cannot read the file: ${err.message}`);
  }
  return { config: checkDockerEndpoint(parseConfig(text, file), file, env), file, builtIn: false };
}

/** readConfigFile's config alone. */
export function loadConfig(path: string | undefined, defaultPath: string = DEFAULT_CONFIG_PATH, env: NodeJS.ProcessEnv = process.env): Config {
  return readConfigFile(path, defaultPath, env).config;
}

function checkDockerEndpoint(config: Config, file: string, env: NodeJS.ProcessEnv): Config {
  try {
    dockerOptions(config.docker.host, env);
  } catch (err) {
    if (err instanceof DockerEndpointError) throw new ConfigError(file, 'docker.host', err.message);
    throw err;
  }
  return config;
}

/** config.docker.host, else $DOCKER_HOST (a bare HOST:PORT meaning tcp, as for the CLI), else the local socket. */
export function resolveDockerHost(config: Config, env: NodeJS.ProcessEnv = process.env): string {
  return dockerHost(config.docker.host, env);
}

/** The file as written (snake_case) to the names the code uses. */
export function toConfig(f: ConfigFile): Config {
  return {
    labelPrefix: f.label_prefix,
    trustImageLabels: f.trust_image_labels,
    defaults: { mode: f.defaults.mode, from: f.defaults.from.map((c) => ({ ...c })), egress: f.defaults.egress },
    docker: { host: f.docker.host },
    ipv6Masquerade: f.ipv6_masquerade,
    iptables: {
      restoreCommand: f.iptables.restore_command,
      saveCommand: f.iptables.save_command,
      ip6RestoreCommand: f.iptables.ip6_restore_command,
      ip6SaveCommand: f.iptables.ip6_save_command,
      waitSeconds: f.iptables.wait_seconds,
    },
    externalInterfaces:
      f.external_interfaces.kind === 'auto' ? { kind: 'auto' } : { kind: 'list', names: [...f.external_interfaces.names] },
    claimablePorts: { ...f.claimable_ports },
    foreignChains: f.foreign_chains,
    foreignChainsMark: f.foreign_chains_mark,
    sync: {
      debounceMs: f.sync.debounce_ms,
      driftCheckMs: f.sync.drift_check_ms,
      fullCheckMs: f.sync.full_check_ms,
      retryMinMs: f.sync.retry_min_ms,
      retryMaxMs: f.sync.retry_max_ms,
      dockerTimeoutMs: f.sync.docker_timeout_ms,
      unknownGraceMs: f.sync.unknown_grace_ms,
    },
    logLevel: f.log_level,
    metrics: { ...f.metrics.listen },
    drops: {
      log: f.drops.log,
      ratePerSecond: f.drops.rate_per_s,
      burst: f.drops.burst,
      nflogGroup: f.drops.nflog_group,
      socket: f.drops.socket,
      ulogdCommand: f.drops.ulogd_command,
    },
    egress: { dnsGraceS: f.egress.dns_grace_s, resolvConf: f.egress.resolv_conf },
  };
}
