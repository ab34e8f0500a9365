// Config fuzz (issue 5, "Hostile and broken input"): malformed YAML, wrong types, unknown keys at
// every level → always a ConfigError naming the key, never another exception and never a partial
// Config; valid configs drawn from the schema's domains parse to exactly their values. And the
// real CLI, a handful of times: `dockgate run --config BAD` exits 2, names the key, never starts.
//
// FUZZ_SCALE=10 multiplies the generated cases. The CLI cases need `npm run build` first.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError, type Config, defaultConfig, formatKeyPath, parseConfig } from '../../src/config/load.js';
import { LOG_LEVELS } from '../../src/config/schema.js';
import { parseCidr } from '../../src/net/address.js';
import { cidr4, interfaceName, ipv4 } from './arbitraries.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const FILE = '/etc/dockgate/config.yaml';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const REPO_CONFIG = readFileSync(join(ROOT, 'config/config.yaml'), 'utf8');
const CLI = join(ROOT, 'dist/cli/main.js');

type Outcome = { ok: true; config: Config } | { ok: false; error: ConfigError };

/** parseConfig, where anything thrown that is not a ConfigError fails the test at once. */
function parse(text: string): Outcome {
  try {
    return { ok: true, config: parseConfig(text, FILE) };
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, error: e };
    throw new Error(`parseConfig threw ${(e as Error)?.constructor?.name}, not a ConfigError, for ${JSON.stringify(text.slice(0, 500))}: ${String(e)}`);
  }
}

function check(condition: unknown, message: () => string): void {
  if (!condition) throw new Error(message());
}

/** A whole Config, every field of the right type and domain: never a partial one. */
function checkComplete(c: Config): void {
  const fail = (what: string) => () => `incomplete or out-of-domain config (${what}): ${JSON.stringify(c)}`;
  check(
    JSON.stringify(Object.keys(c).sort()) ===
      JSON.stringify(['claimablePorts', 'defaults', 'docker', 'drops', 'egress', 'externalInterfaces', 'foreignChains', 'foreignChainsMark', 'iptables', 'ipv6Masquerade', 'labelPrefix', 'logLevel', 'metrics', 'sync', 'trustImageLabels']),
    fail('keys'),
  );
  check(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(c.labelPrefix), fail('labelPrefix'));
  check(c.defaults.mode === 'proxy' || c.defaults.mode === 'dnat', fail('mode'));
  check(['all', 'none', 'list'].includes(c.defaults.egress.kind), fail('egress'));
  check(c.defaults.from.length > 0, fail('from empty'));
  for (const f of c.defaults.from) {
    const r = parseCidr(f.text);
    check(r.ok && r.value.text === f.text && r.value.family === f.family, fail(`from ${f.text}`));
  }
  check(typeof c.docker.host === 'string', fail('docker.host'));
  check(typeof c.iptables.restoreCommand === 'string' && c.iptables.restoreCommand !== '', fail('restoreCommand'));
  check(typeof c.iptables.saveCommand === 'string' && c.iptables.saveCommand !== '', fail('saveCommand'));
  check(Number.isInteger(c.iptables.waitSeconds) && c.iptables.waitSeconds >= 1 && c.iptables.waitSeconds <= 600, fail('waitSeconds'));
  const ext = c.externalInterfaces;
  check(
    (ext.kind === 'auto' && Object.keys(ext).length === 1) ||
      (ext.kind === 'list' && Array.isArray(ext.names) && ext.names.every((i) => /^[A-Za-z0-9_.:@-]{1,15}$/.test(i)) && new Set(ext.names).size === ext.names.length),
    fail('interfaces'),
  );
  const p = c.claimablePorts;
  check(Number.isInteger(p.start) && Number.isInteger(p.end) && p.start >= 1 && p.start <= p.end && p.end <= 65535, fail('claimablePorts'));
  const s = c.sync;
  for (const [k, v] of Object.entries(s)) check(Number.isInteger(v) && v >= 0, fail(`sync.${k}`));
  check(s.retryMinMs <= s.retryMaxMs, fail('retry'));
  check((LOG_LEVELS as readonly string[]).includes(c.logLevel), fail('logLevel'));
  check(c.foreignChains === 'allow' || c.foreignChains === 'leave', fail('foreignChains'));
  check(Number.isInteger(Math.log2(c.foreignChainsMark)) && c.foreignChainsMark >= 1 && c.foreignChainsMark <= 0x80000000, fail('foreignChainsMark'));
  const m = c.metrics;
  check(
    (m.kind === 'off' && Object.keys(m).length === 1) ||
      (m.kind === 'unix' && m.path.startsWith('/') && Buffer.byteLength(m.path) <= 107) ||
      (m.kind === 'tcp' && (m.host === '::1' || m.host.startsWith('127.')) && Number.isInteger(m.port) && m.port >= 1 && m.port <= 65535),
    fail('metrics'),
  );
}

function checkConfigError(e: ConfigError): void {
  check(e.problems.length > 0 && e.key === e.problems[0]!.key, () => `ConfigError.key ${e.key} is not the first problem`);
  check(e.message.startsWith(`${FILE}: `), () => `message does not start with the file: ${e.message}`);
  for (const p of e.problems) {
    check(typeof p.key === 'string' && typeof p.reason === 'string' && p.reason !== '', () => `bad problem ${JSON.stringify(p)}`);
    if (p.key !== '') check(e.message.includes(`${p.key}: `), () => `message does not name key ${p.key}: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Valid configs, from the schema's domains, with the Config each one must parse to

type Doc = Record<string, unknown>;

const prefix = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,20}[a-z0-9])?$/);
const fromEntry = fc.oneof(
  cidr4(0, 32),
  ipv4,
  fc.constantFrom('::/0', '2001:db8::/32', '2001:DB8::/32', '::1', 'fe80::/10', '2001:db8:0:0:0:0:0:1', '0.0.0.0/0'),
);
const dockerHost = fc.constantFrom('', 'unix:///var/run/docker.sock', 'unix:///tmp/d.sock', 'tcp://127.0.0.1:2375', 'https://docker.example:2376');
const command = fc.constantFrom('iptables-restore', 'iptables-nft-restore', 'iptables-legacy-save', '/usr/sbin/iptables-restore', '/opt/x_y/bin/r.sh');

/** metrics.listen values: off, unix sockets, loopback addresses (metricsListenValue says what each means). */
const metricsListen = fc.oneof(
  fc.constant(''),
  fc.stringMatching(/^(\/[a-z0-9_.-]{1,12}){1,4}\.sock$/),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 65535 }))
    .map(([a, b, c, port]) => `127.${a}.${b}.${c}:${port}`),
  fc.integer({ min: 1, max: 65535 }).map((port) => `[::1]:${port}`),
);

const syncSection = fc
  .record({
    debounce_ms: fc.integer({ min: 0, max: 5000 }),
    drift_check_ms: fc.integer({ min: 100, max: 600_000 }),
    full_check_ms: fc.integer({ min: 1000, max: 3_600_000 }),
    retry_min_ms: fc.integer({ min: 10, max: 60_000 }),
    retry_max_ms: fc.integer({ min: 10, max: 600_000 }),
    docker_timeout_ms: fc.integer({ min: 100, max: 600_000 }),
    unknown_grace_ms: fc.integer({ min: 1000, max: 3_600_000 }),
  }, { requiredKeys: [] })
  .filter((s) => (s.retry_max_ms ?? 30_000) >= (s.retry_min_ms ?? 200));

const validDoc: fc.Arbitrary<Doc> = fc.record(
  {
    label_prefix: prefix,
    defaults: fc.record(
      { mode: fc.constantFrom('proxy', 'dnat'), from: fc.array(fromEntry, { minLength: 1, maxLength: 4 }), egress: fc.boolean() },
      { requiredKeys: [] },
    ),
    docker: fc.record({ host: dockerHost }, { requiredKeys: [] }),
    iptables: fc.record({ restore_command: command, save_command: command, wait_seconds: fc.integer({ min: 1, max: 600 }) }, { requiredKeys: [] }),
    external_interfaces: fc.oneof(fc.constant('auto'), fc.array(interfaceName, { maxLength: 4 })),
    claimable_ports: fc
      .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }))
      .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    sync: syncSection,
    log_level: fc.constantFrom(...LOG_LEVELS),
    foreign_chains: fc.constantFrom('allow', 'leave'),
    foreign_chains_mark: fc.integer({ min: 0, max: 31 }).chain((i) => fc.constantFrom<number | string>(2 ** i, `0x${(2 ** i).toString(16)}`)),
    metrics: fc.record({ listen: metricsListen }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** The Config a metrics.listen text from the generator means. */
function metricsListenValue(text: string): Config['metrics'] {
  if (text === '') return { kind: 'off' };
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const m = /^\[?([0-9a-f.:]+?)\]?:(\d+)$/.exec(text);
  if (!m) throw new Error(`generator made a bad metrics.listen ${text}`);
  return { kind: 'tcp', host: m[1]!, port: Number(m[2]) };
}

/** What parseConfig must return for a valid document. */
function expectedConfig(doc: Doc): Config {
  const c = defaultConfig();
  const d = doc as {
    label_prefix?: string;
    defaults?: { mode?: 'proxy' | 'dnat'; from?: string[]; egress?: boolean };
    docker?: { host?: string };
    iptables?: { restore_command?: string; save_command?: string; wait_seconds?: number };
    external_interfaces?: 'auto' | string[];
    claimable_ports?: string;
    sync?: Record<string, number>;
    log_level?: Config['logLevel'];
    foreign_chains?: Config['foreignChains'];
    foreign_chains_mark?: number | string;
    metrics?: { listen?: string };
  };
  if (d.label_prefix !== undefined) c.labelPrefix = d.label_prefix;
  if (d.foreign_chains !== undefined) c.foreignChains = d.foreign_chains;
  if (d.foreign_chains_mark !== undefined) c.foreignChainsMark = Number(d.foreign_chains_mark) as Config['foreignChainsMark'];
  if (d.defaults?.mode !== undefined) c.defaults.mode = d.defaults.mode;
  if (d.defaults?.egress !== undefined) c.defaults.egress = d.defaults.egress ? { kind: 'all' } : { kind: 'none' };
  if (d.defaults?.from !== undefined) {
    const seen = new Set<string>();
    c.defaults.from = [];
    for (const text of d.defaults.from) {
      const r = parseCidr(text);
      if (!r.ok) throw new Error(`generator made a bad CIDR ${text}`);
      if (!seen.has(r.value.text)) c.defaults.from.push(r.value);
      seen.add(r.value.text);
    }
  }
  if (d.docker?.host !== undefined) c.docker.host = d.docker.host;
  if (d.iptables?.restore_command !== undefined) c.iptables.restoreCommand = d.iptables.restore_command;
  if (d.iptables?.save_command !== undefined) c.iptables.saveCommand = d.iptables.save_command;
  if (d.iptables?.wait_seconds !== undefined) c.iptables.waitSeconds = d.iptables.wait_seconds;
  if (d.external_interfaces !== undefined) {
    c.externalInterfaces = d.external_interfaces === 'auto' ? { kind: 'auto' } : { kind: 'list', names: [...new Set(d.external_interfaces)] };
  }
  if (d.claimable_ports !== undefined) {
    const [start = 0, end = 0] = d.claimable_ports.split('-').map(Number);
    c.claimablePorts = { start, end };
  }
  const s = d.sync ?? {};
  if (s.debounce_ms !== undefined) c.sync.debounceMs = s.debounce_ms;
  if (s.drift_check_ms !== undefined) c.sync.driftCheckMs = s.drift_check_ms;
  if (s.full_check_ms !== undefined) c.sync.fullCheckMs = s.full_check_ms;
  if (s.retry_min_ms !== undefined) c.sync.retryMinMs = s.retry_min_ms;
  if (s.retry_max_ms !== undefined) c.sync.retryMaxMs = s.retry_max_ms;
  if (s.docker_timeout_ms !== undefined) c.sync.dockerTimeoutMs = s.docker_timeout_ms;
  if (s.unknown_grace_ms !== undefined) c.sync.unknownGraceMs = s.unknown_grace_ms;
  if (d.log_level !== undefined) c.logLevel = d.log_level;
  if (d.metrics?.listen !== undefined) c.metrics = metricsListenValue(d.metrics.listen);
  return c;
}

/** Ways to write the same document: quoting, flow or block style, indentation, CRLF, comments. */
const style = fc.record({
  defaultStringType: fc.constantFrom('PLAIN' as const, 'QUOTE_DOUBLE' as const, 'QUOTE_SINGLE' as const),
  collectionStyle: fc.constantFrom('any' as const, 'block' as const, 'flow' as const),
  indent: fc.integer({ min: 1, max: 4 }),
  crlf: fc.boolean(),
  comments: fc.boolean(),
  emptySectionsAsNull: fc.boolean(),
});

type Style = typeof style extends fc.Arbitrary<infer S> ? S : never;

function render(doc: Doc, s: Style): string {
  const d: Doc = { ...doc };
  if (s.emptySectionsAsNull) {
    for (const k of ['defaults', 'docker', 'iptables', 'sync', 'metrics']) {
      if (d[k] && typeof d[k] === 'object' && Object.keys(d[k] as object).length === 0) d[k] = null;
    }
  }
  let text = stringify(d, { defaultStringType: s.defaultStringType, defaultKeyType: 'PLAIN', collectionStyle: s.collectionStyle, indent: s.indent, lineWidth: 0 });
  // End-of-line comments only where they cannot land inside a multi-line scalar or flow collection.
  if (s.comments && s.collectionStyle === 'block' && !JSON.stringify(d).includes('\\n')) {
    text = `# dockgate\n${text.split('\n').map((l) => (l.trim() === '' || l.trimEnd().endsWith('|-') ? l : `${l} # note`)).join('\n')}`;
  }
  if (s.crlf) text = text.replace(/\n/g, '\r\n');
  return text;
}

// ---------------------------------------------------------------------------------------------
// Broken configs: one wrong value or unknown key at a known path

type Kind = 'prefix' | 'dockerHost' | 'command' | 'int' | 'mode' | 'bool' | 'from' | 'ifaces' | 'level' | 'section' | 'foreign' | 'markBit' | 'metricsListen' | 'egress';
const PATHS: Array<{ path: string[]; kind: Kind; min?: number; max?: number }> = [
  { path: ['label_prefix'], kind: 'prefix' },
  { path: ['defaults'], kind: 'section' },
  { path: ['defaults', 'mode'], kind: 'mode' },
  { path: ['defaults', 'from'], kind: 'from' },
  { path: ['defaults', 'egress'], kind: 'egress' },
  { path: ['docker'], kind: 'section' },
  { path: ['docker', 'host'], kind: 'dockerHost' },
  { path: ['iptables'], kind: 'section' },
  { path: ['iptables', 'restore_command'], kind: 'command' },
  { path: ['iptables', 'save_command'], kind: 'command' },
  { path: ['iptables', 'wait_seconds'], kind: 'int', min: 1, max: 600 },
  { path: ['external_interfaces'], kind: 'ifaces' },
  { path: ['sync'], kind: 'section' },
  { path: ['sync', 'debounce_ms'], kind: 'int', min: 0, max: 5000 },
  { path: ['sync', 'drift_check_ms'], kind: 'int', min: 100, max: 600_000 },
  { path: ['sync', 'full_check_ms'], kind: 'int', min: 1000, max: 3_600_000 },
  { path: ['sync', 'retry_min_ms'], kind: 'int', min: 10, max: 60_000 },
  { path: ['sync', 'retry_max_ms'], kind: 'int', min: 10, max: 600_000 },
  { path: ['sync', 'docker_timeout_ms'], kind: 'int', min: 100, max: 600_000 },
  { path: ['sync', 'unknown_grace_ms'], kind: 'int', min: 1000, max: 3_600_000 },
  { path: ['log_level'], kind: 'level' },
  { path: ['foreign_chains'], kind: 'foreign' },
  { path: ['foreign_chains_mark'], kind: 'markBit' },
  { path: ['metrics'], kind: 'section' },
  { path: ['metrics', 'listen'], kind: 'metricsListen' },
];

const notAString = fc.oneof(fc.integer(), fc.double({ noNaN: true }), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant(['a']), fc.constant({ a: 1 }));

function wrongValue(p: (typeof PATHS)[number]): fc.Arbitrary<unknown> {
  switch (p.kind) {
    case 'prefix':
      return fc.oneof(notAString, fc.constantFrom('', 'Dockgate', '-a', 'a-', 'a b', 'a_b', 'ü', '.a', 'a.', 'dock\ngate', '1.2.3.4/8'));
    case 'dockerHost':
      return fc.oneof(notAString, fc.constantFrom('unix://x', 'unix:///', 'tcp://', 'ftp://x', 'a b', '/var/run/docker.sock', 'tcp:// x', 'unix:///a b', 'ssh://me@host'));
    case 'command':
      return fc.oneof(notAString, fc.constantFrom('', 'rel/path', 'a b', 'x;y', '$(x)', '~/bin/x', 'iptables-restore --noflush', '/a b'));
    case 'int':
      return fc.oneof(
        fc.constantFrom(null, true, [], {}, '10', 'fast', Infinity, -Infinity, NaN),
        fc.integer({ min: -1e9, max: p.min! - 1 }),
        fc.integer({ min: p.max! + 1, max: 1e12 }),
        fc.double({ min: p.min!, max: p.max!, noNaN: true }).filter((x) => !Number.isInteger(x)),
      );
    case 'mode':
      return fc.oneof(notAString, fc.constantFrom('', 'PROXY', 'nat', 'proxy,dnat', 'Dnat'));
    case 'level':
      return fc.oneof(notAString, fc.constantFrom('', 'verbose', 'INFO', 'warning', '5'));
    case 'foreign':
      return fc.oneof(notAString, fc.constantFrom('', 'Allow', 'accept', 'ignore', 'allow,leave', 'true'));
    case 'markBit':
      return fc.oneof(
        fc.constantFrom(null, true, [], {}, '', 'bit24', '0x', '0x3', '-1', 0, -1, 0.5, 2 ** 32, 2 ** 40, '0x100000000', Infinity, NaN),
        // Two bits or more: never one bit.
        fc.integer({ min: 3, max: 0xffffffff }).filter((n) => !Number.isInteger(Math.log2(n))),
      );
    case 'bool':
      return fc.constantFrom(null, 'true', 'yes', 'on', 1, 0, [], {}, 'false');
    case 'egress':
      // 'true', 'none' and lists are the label's grammar: only what is outside it.
      return fc.constantFrom(null, 'yes', 'on', 'True', 1, 0, [], {}, '', '10.0.0.5/8', '*.example.com:443', 'api.example.com:0');
    case 'from':
      return fc.constantFrom(null, 5, {}, [], 'str', '10.0.0.0/8', [1], [''], ['10.0.0.5/8'], ['::ffff:1.2.3.4'], [['10.0.0.0/8']], ['10.0.0.0/8', 'x'], [null], ['2001:db8::1/64']);
    case 'ifaces':
      return fc.constantFrom(5, true, 'eth0', 'Auto', 'AUTO', '', 'auto ', ' auto', {}, { auto: true }, [''], ['x'.repeat(16)], ['.'], ['..'], ['a b'], [1], [null], ['eth0', 'wl\u00e4n'], [['eth0']], ['auto', 'a b']);
    case 'section':
      return fc.constantFrom(5, 'x', [], ['a'], true, 0, 'null ');
    case 'metricsListen':
      // null is not here: left empty means off. Network addresses above all must be refused.
      return fc.oneof(
        fc.integer(),
        fc.boolean(),
        fc.constant([]),
        fc.constant({ a: 1 }),
        fc.constantFrom('0.0.0.0:9417', '10.0.0.5:9417', '[::]:9417', ':9417', '[2001:db8::1]:9417', '[::ffff:127.0.0.1]:9417', 'localhost:9417'),
        fc.constantFrom('127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1', '127.0.0.256:80', 'run/m.sock', 'unix:///run/m.sock', '/run/', `/${'a'.repeat(107)}`, '/run/m\n.sock', ' /run/m.sock'),
        fc.integer({ min: 1, max: 65535 }).chain((port) => fc.constantFrom(`0.0.0.0:${port}`, `192.168.1.1:${port}`, `[fe80::1]:${port}`)),
      );
  }
}

/** Sets doc[path] as an own property (so '__proto__' is a key, not a prototype). */
function setAt(doc: Doc, path: readonly string[], value: unknown): void {
  const own = (node: Doc, key: string, v: unknown) =>
    Object.defineProperty(node, key, { value: v, enumerable: true, writable: true, configurable: true });
  let node = doc;
  for (const seg of path.slice(0, -1)) {
    const next = Object.prototype.hasOwnProperty.call(node, seg) ? node[seg] : undefined;
    if (!next || typeof next !== 'object' || Array.isArray(next)) own(node, seg, {});
    node = node[seg] as Doc;
  }
  own(node, path[path.length - 1]!, value);
}

const mutation = fc.oneof(...PATHS.map((p) => wrongValue(p).map((value) => ({ path: p.path, value }))));

const KNOWN_KEYS: Record<string, string[]> = {
  '': ['label_prefix', 'trust_image_labels', 'defaults', 'docker', 'iptables', 'ipv6_masquerade', 'external_interfaces', 'claimable_ports', 'foreign_chains', 'foreign_chains_mark', 'sync', 'metrics', 'log_level', 'drops', 'egress'],
  defaults: ['mode', 'from', 'egress'],
  docker: ['host'],
  iptables: ['restore_command', 'save_command', 'ip6_restore_command', 'ip6_save_command', 'wait_seconds'],
  sync: ['debounce_ms', 'drift_check_ms', 'full_check_ms', 'retry_min_ms', 'retry_max_ms', 'docker_timeout_ms', 'unknown_grace_ms'],
  metrics: ['listen'],
};

// Built once: constructing arbitraries (stringMatching above all) inside a chain() is costly.
const oddKey = fc.oneof(
  fc.constantFrom(
    'labelprefix', 'label-prefix', 'Label_prefix', 'log-level', 'debounce', 'modes', 'from_', 'egres', 'hosts',
    'wait', 'extra', '__proto__', 'constructor', 'toString', '<<', '1', ' mode', 'mode ', 'MODE', 'ünknown', 'a b', 'x.y',
  ),
  fc.stringMatching(/^[a-z][a-z0-9_]{0,12}$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }),
);
const oddValue = fc.oneof(fc.integer(), fc.boolean(), fc.constant('value'), fc.constant(null), fc.constant({ a: 1 }));
const unknownKey = fc
  .tuple(fc.constantFrom('', 'defaults', 'docker', 'iptables', 'sync', 'metrics'), oddKey, oddValue)
  .filter(([section, key]) => !KNOWN_KEYS[section]!.includes(key))
  .map(([section, key, value]) => ({ path: section === '' ? [key] : [section, key], value }));

// ---------------------------------------------------------------------------------------------
// Malformed YAML

const bomb = fc
  .record({ depth: fc.integer({ min: 2, max: 6 }), width: fc.integer({ min: 2, max: 12 }), under: fc.constantFrom('x', 'defaults', 'external_interfaces', 'sync') })
  .map(({ depth, width, under }) => {
    const lines = [`a0: &a0 [${Array(width).fill('"eth0"').join(', ')}]`];
    for (let i = 1; i < depth; i++) lines.push(`a${i}: &a${i} [${Array(width).fill(`*a${i - 1}`).join(', ')}]`);
    lines.push(`${under}: *a${depth - 1}`);
    return `${lines.join('\n')}\n`;
  });

function insertAt(text: string, at: number, what: string): string {
  const i = text.length === 0 ? 0 : at % (text.length + 1);
  return text.slice(0, i) + what + text.slice(i);
}

const validText = fc.tuple(validDoc, style).map(([doc, s]) => render(doc, s));
const baseText = fc.oneof(validText, fc.constant(REPO_CONFIG));

const malformed = fc.oneof(
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')) },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('utf8')) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 2, arbitrary: fc.string({ unit: fc.constantFrom(':', '-', ' ', '\n', '\t', '[', ']', '{', '}', '"', "'", '&', '*', '!', '|', '>', '#', '%', '@', '`', 'a', '1', '?', ','), maxLength: 80 }) },
  { weight: 3, arbitrary: fc.tuple(baseText, fc.nat()).map(([t, n]) => t.slice(0, n % (t.length + 1))) }, // truncated
  { weight: 3, arbitrary: fc.tuple(baseText, fc.array(fc.tuple(fc.nat(), fc.constantFrom('\t', '\t\t', ' \t', '\n\t')), { minLength: 1, maxLength: 3 })).map(([t, ins]) => ins.reduce((acc, [at, what]) => insertAt(acc, at, what), t)) }, // tabs
  {
    weight: 3,
    arbitrary: fc
      .tuple(baseText, fc.array(fc.tuple(fc.nat(), fc.constantFrom(':', ': ', '- ', '"', "'", '[', '{', '}', '&a ', '*a', '*nope', '!!binary ', '!!int ', '? ', '|', '\n---\n', '%YAML 1.1\n', '\u0000', '\ufeff', '\u2028')), { minLength: 1, maxLength: 3 }))
      .map(([t, ins]) => ins.reduce((acc, [at, what]) => insertAt(acc, at, what), t)),
  }, // syntax characters in random places
  { weight: 2, arbitrary: bomb },
  { weight: 1, arbitrary: fc.tuple(validText, validText).map(([a, b]) => `${a}\n---\n${b}`) }, // two documents
  { weight: 1, arbitrary: fc.constantFrom('label_prefix: a\nlabel_prefix: b\n', 'sync:\n  debounce_ms: 1\n  debounce_ms: 2\n', '- a\n- b\n', '"just a string"\n', '42\n', '~\n', '{', 'a: [1, 2\n', "defaults: {from: ['10.0.0.0/8]}\n") },
);

// ---------------------------------------------------------------------------------------------

describe('config fuzz: parseConfig', () => {
  it('valid configs from the schema domains, however they are written, parse to exactly their values', () => {
    fc.assert(
      fc.property(validDoc, style, (doc, s) => {
        const text = render(doc, s);
        const r = parse(text);
        if (!r.ok) throw new Error(`valid config refused: ${r.error.message}\n--- text ---\n${text}`);
        checkComplete(r.config);
        expect(r.config).toEqual(expectedConfig(doc));
      }),
      { numRuns: runs(600) },
    );
  });

  it('a wrong type or value at any key is a ConfigError naming that key, and only keys that are wrong', () => {
    fc.assert(
      fc.property(validDoc, fc.uniqueArray(mutation, { minLength: 1, maxLength: 3, selector: (m) => m.path[0] }), style, (doc, mutations, s) => {
        const broken: Doc = structuredClone(doc);
        for (const m of mutations) setAt(broken, m.path, m.value);
        const text = render(broken, { ...s, emptySectionsAsNull: false });
        const r = parse(text);
        if (r.ok) throw new Error(`accepted: ${JSON.stringify(mutations)}\n--- text ---\n${text}`);
        checkConfigError(r.error);
        const paths = mutations.map((m) => formatKeyPath(m.path));
        const keys = r.error.problems.map((p) => p.key);
        for (const p of paths) {
          check(keys.some((k) => k === p || k.startsWith(`${p}[`) || k.startsWith(`${p}.`)), () => `no problem names ${p}: ${r.error.message}\n--- text ---\n${text}`);
        }
        for (const k of keys) {
          // retry_max_ms is also reported when a valid retry_min_ms now exceeds it.
          const explained = paths.some((p) => k === p || k.startsWith(`${p}[`) || k.startsWith(`${p}.`)) || (k === 'sync.retry_max_ms' && paths.some((p) => p.startsWith('sync')));
          check(explained, () => `problem at ${k}, which was not broken: ${r.error.message}\n--- text ---\n${text}`);
        }
      }),
      { numRuns: runs(1500) },
    );
  });

  it('an unknown key at any level is a ConfigError naming its full path', () => {
    fc.assert(
      fc.property(validDoc, unknownKey, style, (doc, u, s) => {
        const broken: Doc = structuredClone(doc);
        setAt(broken, u.path, u.value);
        const text = render(broken, { ...s, emptySectionsAsNull: false });
        const r = parse(text);
        if (r.ok) throw new Error(`unknown key ${JSON.stringify(u.path)} accepted\n--- text ---\n${text}`);
        checkConfigError(r.error);
        const path = formatKeyPath(u.path);
        check(r.error.problems.some((p) => p.key === path && /unknown key/.test(p.reason)), () => `no unknown-key problem at ${path}: ${r.error.message}\n--- text ---\n${text}`);
      }),
      { numRuns: runs(800) },
    );
  });

  it('malformed YAML (random bytes, truncation, tabs, stray syntax, alias bombs, many documents) is a ConfigError or a complete Config', () => {
    let refused = 0;
    let total = 0;
    fc.assert(
      fc.property(malformed, (text) => {
        total++;
        const r = parse(text);
        if (r.ok) checkComplete(r.config);
        else {
          refused++;
          checkConfigError(r.error);
        }
      }),
      { numRuns: runs(2000) },
    );
    expect(refused / total).toBeGreaterThan(0.5);
  });

  it('alias bombs are refused quickly', () => {
    fc.assert(
      fc.property(bomb, (text) => {
        const start = performance.now();
        const r = parse(text);
        expect(r.ok).toBe(false);
        expect(performance.now() - start).toBeLessThan(1000);
      }),
      { numRuns: runs(50) },
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('config fuzz: the real CLI refuses to start', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dockgate-config-fuzz-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  });

  function runCli(text: string, name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const file = join(tmp, `${name}.yaml`);
    writeFileSync(file, text);
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, 'run', '--config', file], {
        // A Docker address that cannot exist: should the config ever be accepted, nothing is reached.
        env: { ...process.env, DOCKER_HOST: `unix://${join(tmp, 'no-docker.sock')}` },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** One bad file per class of problem, and what stderr must name. */
  const CASES: Array<{ name: string; text: string; names: string }> = [
    { name: 'tab-indentation', text: 'sync:\n\tdebounce_ms: 20\n', names: 'invalid YAML at line 2' },
    { name: 'truncated', text: REPO_CONFIG.slice(0, REPO_CONFIG.indexOf('from: [') + 12), names: 'invalid YAML' },
    { name: 'wrong-type', text: 'sync:\n  debounce_ms: fast\n', names: 'sync.debounce_ms' },
    { name: 'out-of-range', text: 'iptables:\n  wait_seconds: 0\n', names: 'iptables.wait_seconds' },
    { name: 'list-item', text: 'defaults:\n  from: ["10.0.0.0/8", "10.0.0.5/8"]\n', names: 'defaults.from[1]' },
    { name: 'unknown-top-level', text: 'log_level: info\ncolour: blue\n', names: 'colour' },
    { name: 'unknown-nested', text: 'defaults:\n  mode: proxy\n  colour: blue\n', names: 'defaults.colour' },
    { name: 'alias-bomb', text: 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nexternal_interfaces: *c\n', names: 'Excessive alias count' },
    { name: 'not-a-mapping', text: '- label_prefix: dockgate\n', names: 'top level' },
    { name: 'random-bytes', text: '\u0000\u00ff\u0001: [', names: 'invalid YAML' },
    { name: 'metrics-on-the-network', text: 'metrics:\n  listen: 0.0.0.0:9100\n', names: 'metrics.listen: "0.0.0.0:9100" is not a loopback address' },
  ];

  it(`exits 2 with the key on stderr and never logs 'starting', for ${CASES.length} classes of bad file`, { timeout: 180_000 }, async () => {
    // Two at a time: each is a whole Node start-up, and the machine has two cores.
    const results: Array<Awaited<ReturnType<typeof runCli>>> = [];
    for (let i = 0; i < CASES.length; i += 2) {
      results.push(...(await Promise.all(CASES.slice(i, i + 2).map((c) => runCli(c.text, c.name)))));
    }
    const report = CASES.map((c, i) => ({ case: c.name, code: results[i]!.code, stderr: results[i]!.stderr.trim(), stdout: results[i]!.stdout.trim() }));
    for (const [i, c] of CASES.entries()) {
      const r = results[i]!;
      expect({ case: c.name, code: r.code }, JSON.stringify(report[i])).toEqual({ case: c.name, code: 2 });
      expect(r.stderr, c.name).toContain('dockgate: config error:');
      expect(r.stderr, c.name).toContain(c.names);
      expect(r.stdout, `${c.name}: must never start`).not.toMatch(/"event":"starting"/);
    }
  });
});
