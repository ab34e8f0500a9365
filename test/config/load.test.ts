import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  DEFAULT_CONFIG_PATH,
  defaultConfig,
  loadConfig,
  parseConfig,
  resolveDockerHost,
  type Config,
} from '../../src/config/load.js';
import type { MarkBit } from '../../src/model/mark-bit.js';

const FILE = '/etc/dockgate/config.yaml';
const REPO_CONFIG = fileURLToPath(new URL('../../config/config.yaml', import.meta.url));

const tmp = mkdtempSync(join(tmpdir(), 'dockgate-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function configError(text: string): ConfigError {
  try {
    parseConfig(text, FILE);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected a ConfigError for:\n${text}`);
}

const DEFAULTS: Config = {
  labelPrefix: 'dockgate',
  trustImageLabels: false,
  defaults: {
    mode: 'proxy',
    from: [
      { family: 4, text: '0.0.0.0/0' },
      { family: 6, text: '::/0' },
    ],
    egress: { kind: 'all' },
  },
  docker: { host: '' },
  iptables: {
    restoreCommand: 'iptables-restore',
    saveCommand: 'iptables-save',
    ip6RestoreCommand: 'ip6tables-restore',
    ip6SaveCommand: 'ip6tables-save',
    waitSeconds: 10,
  },
  ipv6Masquerade: 'ula',
  externalInterfaces: { kind: 'auto' },
  claimablePorts: { start: 1024, end: 65535 },
  foreignChains: 'allow',
  foreignChainsMark: 0x01000000 as MarkBit,
  sync: {
    debounceMs: 20,
    driftCheckMs: 1000,
    fullCheckMs: 180000,
    retryMinMs: 200,
    retryMaxMs: 30000,
    dockerTimeoutMs: 10000,
    unknownGraceMs: 30000,
  },
  logLevel: 'info',
  metrics: { kind: 'off' },
  egress: { dnsGraceS: 300, resolvConf: '/etc/resolv.conf' },
  drops: { log: true, ratePerSecond: 5, burst: 20, nflogGroup: 2371, socket: '/run/dockgate/drops.sock', ulogdCommand: 'ulogd' },
};

describe('defaults', () => {
  it('defaultConfig() is the documented default', () => {
    expect(DEFAULT_CONFIG_PATH).toBe('/etc/dockgate/config.yaml');
    expect(defaultConfig()).toEqual(DEFAULTS);
  });

  it('defaultConfig() returns a fresh object each call', () => {
    const a = defaultConfig();
    a.defaults.from.push({ family: 4, text: '10.0.0.0/8' });
    Object.assign(a.externalInterfaces, { kind: 'list', names: ['eth0'] });
    expect(defaultConfig()).toEqual(DEFAULTS);
  });

  it('config/config.yaml parses and equals defaultConfig()', () => {
    expect(parseConfig(readFileSync(REPO_CONFIG, 'utf8'), REPO_CONFIG)).toEqual(defaultConfig());
    expect(loadConfig(REPO_CONFIG)).toEqual(defaultConfig());
  });

  it('config/config.yaml documents every key with a comment', () => {
    const lines = readFileSync(REPO_CONFIG, 'utf8').split('\n');
    const keyLines = lines
      .map((l, i) => ({ l, i }))
      .filter(({ l }) => /^\s*[a-z0-9_]+:/.test(l));
    expect(keyLines.length).toBe(40); // 15 top-level keys, 25 keys inside the 7 sections
    for (const { l, i } of keyLines) {
      // A comment right above, or above a run of keys it describes together.
      let j = i - 1;
      while (j >= 0 && /^\s*[a-z0-9_]+:/.test(lines[j] ?? '')) j--;
      expect(lines[j]?.trim().startsWith('#'), `no comment above "${l.trim()}"`).toBe(true);
    }
  });

  it.each([
    ['empty file', ''],
    ['only comments', '# nothing here\n\n   # still nothing\n'],
    ['empty document marker', '---\n'],
    ['empty sections', 'defaults:\ndocker:\niptables:\nsync:\nexternal_interfaces:\nmetrics:\n'],
    ['empty mappings', 'defaults: {}\ndocker: {}\niptables: {}\nsync: {}\nmetrics: {}\n'],
  ])('%s means all defaults', (_name, text) => {
    expect(parseConfig(text, FILE)).toEqual(DEFAULTS);
  });

  it('missing file at the default path gives the defaults', () => {
    expect(loadConfig(undefined, join(tmp, 'absent.yaml'))).toEqual(DEFAULTS);
    expect(loadConfig(undefined, join(tmp, 'no-such-dir', 'config.yaml'))).toEqual(DEFAULTS);
  });

  it('an existing file at the default path is read', () => {
    const p = join(tmp, 'default.yaml');
    writeFileSync(p, 'log_level: debug\n');
    expect(loadConfig(undefined, p).logLevel).toBe('debug');
  });

  it('missing explicit file is an error naming the file', () => {
    const p = join(tmp, 'missing.yaml');
    expect(() => loadConfig(p)).toThrow(ConfigError);
    expect(() => loadConfig(p)).toThrow(`${p}: no such file`);
    try {
      loadConfig(p);
    } catch (e) {
      expect((e as ConfigError).file).toBe(p);
      expect((e as ConfigError).key).toBe('');
    }
  });

  it('an unreadable path (a directory) is an error naming the file', () => {
    expect(() => loadConfig(tmp)).toThrow(new RegExp(`^${tmp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read`));
  });
});

describe('valid files', () => {
  it('reads a full file', () => {
    const text = `
label_prefix: fw.example-1
trust_image_labels: true
defaults:
  mode: dnat
  from:
    - 192.168.1.0/24
    - 10.0.0.7
    - "2001:DB8::/32"
    - ::1
  egress: false
docker:
  host: tcp://127.0.0.1:2375
iptables:
  restore_command: /usr/sbin/iptables-nft-restore
  save_command: iptables-nft-save
  ip6_restore_command: ip6tables-nft-restore
  ip6_save_command: /usr/sbin/ip6tables-nft-save
  wait_seconds: 600
ipv6_masquerade: all
external_interfaces: [eth0, wg0, "enp3s0.100"]
sync:
  debounce_ms: 0
  drift_check_ms: 100
  full_check_ms: 3600000
  retry_min_ms: 500
  retry_max_ms: 500
  docker_timeout_ms: 2500
  unknown_grace_ms: 5000
claimable_ports: 2000-2999
foreign_chains: leave
foreign_chains_mark: 0x00100000
log_level: trace
metrics:
  listen: /run/dockgate/metrics.sock
drops:
  log: false
  rate_per_s: 50
  burst: 7
  nflog_group: 9
  socket: /tmp/dg/drops.sock
  ulogd_command: /usr/sbin/ulogd
`;
    const expected: Config = {
      labelPrefix: 'fw.example-1',
      trustImageLabels: true,
      defaults: {
        mode: 'dnat',
        from: [
          { family: 4, text: '192.168.1.0/24' },
          { family: 4, text: '10.0.0.7/32' },
          { family: 6, text: '2001:db8::/32' },
          { family: 6, text: '::1/128' },
        ],
        egress: { kind: 'none' },
      },
      docker: { host: 'tcp://127.0.0.1:2375' },
      iptables: {
        restoreCommand: '/usr/sbin/iptables-nft-restore',
        saveCommand: 'iptables-nft-save',
        ip6RestoreCommand: 'ip6tables-nft-restore',
        ip6SaveCommand: '/usr/sbin/ip6tables-nft-save',
        waitSeconds: 600,
      },
      ipv6Masquerade: 'all',
      externalInterfaces: { kind: 'list', names: ['eth0', 'wg0', 'enp3s0.100'] },
      claimablePorts: { start: 2000, end: 2999 },
      foreignChains: 'leave',
      foreignChainsMark: 0x00100000 as MarkBit,
      sync: {
        debounceMs: 0,
        driftCheckMs: 100,
        fullCheckMs: 3600000,
        retryMinMs: 500,
        retryMaxMs: 500,
        dockerTimeoutMs: 2500,
        unknownGraceMs: 5000,
      },
      logLevel: 'trace',
      metrics: { kind: 'unix', path: '/run/dockgate/metrics.sock' },
      egress: { dnsGraceS: 300, resolvConf: '/etc/resolv.conf' },
      drops: { log: false, ratePerSecond: 50, burst: 7, nflogGroup: 9, socket: '/tmp/dg/drops.sock', ulogdCommand: '/usr/sbin/ulogd' },
    };
    expect(parseConfig(text, FILE)).toEqual(expected);
    const p = join(tmp, 'full.yaml');
    writeFileSync(p, text);
    expect(loadConfig(p)).toEqual(expected);
  });

  it.each([
    ['auto', 'external_interfaces: auto\n', { kind: 'auto' }],
    ['quoted auto', 'external_interfaces: "auto"\n', { kind: 'auto' }],
    ['left empty: the default, auto', 'external_interfaces:\n', { kind: 'auto' }],
    ['an empty list: only the bridges', 'external_interfaces: []\n', { kind: 'list', names: [] }],
    ['a list, duplicates once', 'external_interfaces: [eth0, wg0, eth0]\n', { kind: 'list', names: ['eth0', 'wg0'] }],
    ['an interface that happens to be named auto', 'external_interfaces: [auto]\n', { kind: 'list', names: ['auto'] }],
  ])('external_interfaces: %s', (_what, text, expected) => {
    expect(parseConfig(text, FILE).externalInterfaces).toEqual(expected);
  });

  it('a partial file keeps the defaults of the keys it leaves out', () => {
    const c = parseConfig('sync:\n  debounce_ms: 50\ndefaults:\n  egress: false\n', FILE);
    expect(c).toEqual({
      ...DEFAULTS,
      defaults: { ...DEFAULTS.defaults, egress: { kind: 'none' } },
      sync: { ...DEFAULTS.sync, debounceMs: 50 },
    });
  });

  it('defaults.egress takes the label grammar, and egress.* its own settings', () => {
    const c = parseConfig('defaults:\n  egress: "10.1.0.0/16, api.example.com:443"\negress:\n  dns_grace_s: 60\n  resolv_conf: /run/dg/resolv.conf\n', FILE);
    expect(c.defaults.egress).toEqual({
      kind: 'list',
      entries: [
        { destination: { kind: 'cidr', cidr: { family: 4, text: '10.1.0.0/16' } }, ports: { kind: 'any' } },
        { destination: { kind: 'name', name: 'api.example.com' }, ports: { kind: 'range', protocol: 'tcp', start: 443, end: 443 } },
      ],
    });
    expect(c.egress).toEqual({ dnsGraceS: 60, resolvConf: '/run/dg/resolv.conf' });
    expect(parseConfig('defaults:\n  egress: none\n', FILE).defaults.egress).toEqual({ kind: 'none' });
    expect(configError('defaults:\n  egress: "10.0.0.5/8"\n').message).toContain('"10.0.0.5/8" has host bits set');
  });

  it('the same source written twice is kept once', () => {
    const c = parseConfig('defaults:\n  from: [10.0.0.1, 10.0.0.1/32, 10.0.0.2]\n', FILE);
    expect(c.defaults.from.map((x) => x.text)).toEqual(['10.0.0.1/32', '10.0.0.2/32']);
  });

  it.each([
    ['unix:///var/run/docker.sock'],
    ['unix:///run/user/1000/docker.sock'],
    ['tcp://10.0.0.1:2376'],
    ['tcp://[fd00::1]:2375'],
    ['http://docker.lan:2375'],
    ['https://docker.lan:2376'],
    ['https://docker.lan'],
  ])('accepts docker.host %s', (host) => {
    expect(parseConfig(`docker:\n  host: "${host}"\n`, FILE).docker.host).toBe(host);
  });
});

describe('bad values name their key', () => {
  // [what, yaml, key, message after "<file>: <key>: "]
  it.each([
    // wrong type
    ['string for integer', 'iptables:\n  wait_seconds: "10"\n', 'iptables.wait_seconds', 'expected an integer from 1 to 600, got "10"'],
    ['fraction for integer', 'sync:\n  debounce_ms: 2.5\n', 'sync.debounce_ms', 'expected an integer from 0 to 5000, got 2.5'],
    ['yes for boolean', 'defaults:\n  egress: yes\n', 'defaults.egress', 'entry "yes": "yes" is neither an address, a CIDR nor a fully qualified DNS name (or, as the whole value: true, all, false, none)'],
    ['empty value for boolean', 'defaults:\n  egress:\n', 'defaults.egress', 'expected true, all, false, none, or a comma list of CIDR, DEST:PORTS[/PROTO] or NAME[:PORTS][/PROTO], got an empty value'],
    ['string for trust_image_labels', 'trust_image_labels: "yes"\n', 'trust_image_labels', 'expected true or false, got "yes"'],
    ['number for string', 'label_prefix: 12\n', 'label_prefix', 'expected lower-case letters, digits, "." and "-", starting and ending with a letter or digit, got 12'],
    ['string for list', 'defaults:\n  from: 10.0.0.0/8\n', 'defaults.from', 'expected a non-empty list of IPv4/IPv6 addresses or CIDRs, got "10.0.0.0/8" (write a list: ["10.0.0.0/8"])'],
    ['number in list', 'defaults:\n  from: ["10.0.0.0/8", 5]\n', 'defaults.from[1]', 'expected an IPv4/IPv6 address or CIDR as a string, got 5'],
    ['list for section', 'sync: [1, 2]\n', 'sync', 'expected a mapping of sync, got a list'],
    ['scalar for section', 'defaults: proxy\n', 'defaults', 'expected a mapping of defaults, got "proxy"'],
    ['mapping for interface list', 'external_interfaces: {eth0: true}\n', 'external_interfaces', 'expected "auto" or a list of interface names, got a mapping'],
    ['one interface not in a list', 'external_interfaces: eth0\n', 'external_interfaces', 'expected "auto" or a list of interface names, got "eth0"'],
    ['auto spelled otherwise', 'external_interfaces: Auto\n', 'external_interfaces', 'expected "auto" or a list of interface names, got "Auto"'],
    ['auto inside a list is a name, but a bad one here', 'external_interfaces: [eth0, "auto!"]\n', 'external_interfaces[1]', 'expected an interface name of 1-15 characters from A-Z a-z 0-9 _ . : @ -, got "auto!"'],
    // out of range
    ['below minimum', 'iptables:\n  wait_seconds: 0\n', 'iptables.wait_seconds', 'expected an integer from 1 to 600, got 0'],
    ['above maximum', 'sync:\n  debounce_ms: 5001\n', 'sync.debounce_ms', 'expected an integer from 0 to 5000, got 5001'],
    ['drift check too fast', 'sync:\n  drift_check_ms: 99\n', 'sync.drift_check_ms', 'expected an integer from 100 to 600000, got 99'],
    ['full check too slow', 'sync:\n  full_check_ms: 3600001\n', 'sync.full_check_ms', 'expected an integer from 1000 to 3600000, got 3600001'],
    ['negative', 'sync:\n  retry_min_ms: -1\n', 'sync.retry_min_ms', 'expected an integer from 10 to 60000, got -1'],
    ['huge', 'sync:\n  retry_max_ms: 1e300\n', 'sync.retry_max_ms', 'expected an integer from 10 to 600000, got 1e+300'],
    ['empty from', 'defaults:\n  from: []\n', 'defaults.from', 'expected a non-empty list of IPv4/IPv6 addresses or CIDRs, got an empty list'],
    // bad enum
    ['bad mode', 'defaults:\n  mode: nat\n', 'defaults.mode', 'expected "proxy" or "dnat", got "nat"'],
    ['mode in capitals', 'defaults:\n  mode: DNAT\n', 'defaults.mode', 'expected "proxy" or "dnat", got "DNAT"'],
    ['foreign_chains misspelt', 'foreign_chains: ignore\n', 'foreign_chains', 'expected "allow" or "leave", got "ignore"'],
    ['foreign_chains as a boolean', 'foreign_chains: false\n', 'foreign_chains', 'expected "allow" or "leave", got false'],
    ['bad log level', 'log_level: verbose\n', 'log_level', 'expected one of "fatal", "error", "warn", "info", "debug", "trace", got "verbose"'],
    // bad CIDR: parseCidr's reason passes through
    ['CIDR with host bits', 'defaults:\n  from: ["0.0.0.0/0", 10.0.0.5/8]\n', 'defaults.from[1]', '"10.0.0.5/8" has host bits set; did you mean 10.0.0.0/8?'],
    ['IPv6 CIDR with host bits', 'defaults:\n  from: ["2001:db8::1/32"]\n', 'defaults.from[0]', '"2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?'],
    ['prefix too long', 'defaults:\n  from: [10.0.0.0/33]\n', 'defaults.from[0]', '"10.0.0.0/33": prefix length must be 0-32'],
    ['not an address', 'defaults:\n  from: [any]\n', 'defaults.from[0]', '"any" is not an address or CIDR'],
    // patterns
    ['upper-case prefix', 'label_prefix: DockGate\n', 'label_prefix', 'expected lower-case letters, digits, "." and "-", starting and ending with a letter or digit, got "DockGate"'],
    ['prefix ending in a dot', 'label_prefix: "dockgate."\n', 'label_prefix', 'expected lower-case letters, digits, "." and "-", starting and ending with a letter or digit, got "dockgate."'],
    ['command with a space', 'iptables:\n  save_command: "iptables-save -t nat"\n', 'iptables.save_command', 'expected a command name or an absolute path made of A-Z a-z 0-9 _ . / -, got "iptables-save -t nat"'],
    ['relative command path', 'iptables:\n  restore_command: sbin/iptables-restore\n', 'iptables.restore_command', 'expected a command name or an absolute path made of A-Z a-z 0-9 _ . / -, got "sbin/iptables-restore"'],
    ['command with a semicolon', 'iptables:\n  restore_command: "x;rm"\n', 'iptables.restore_command', 'expected a command name or an absolute path made of A-Z a-z 0-9 _ . / -, got "x;rm"'],
    ['interface name too long', 'external_interfaces: [eth0, abcdefghijklmnop]\n', 'external_interfaces[1]', 'expected an interface name of 1-15 characters from A-Z a-z 0-9 _ . : @ -, got "abcdefghijklmnop"'],
    ['interface name with a slash', 'external_interfaces: ["eth/0"]\n', 'external_interfaces[0]', 'expected an interface name of 1-15 characters from A-Z a-z 0-9 _ . : @ -, got "eth/0"'],
    ['interface named ..', 'external_interfaces: [".."]\n', 'external_interfaces[0]', 'expected an interface name of 1-15 characters from A-Z a-z 0-9 _ . : @ -, got ".."'],
    ['docker host without scheme', 'docker:\n  host: /var/run/docker.sock\n', 'docker.host', 'expected "" or a Docker address such as unix:///var/run/docker.sock or tcp://127.0.0.1:2375, got "/var/run/docker.sock"'],
    // cross-field
    ['retry max below retry min', 'sync:\n  retry_min_ms: 500\n  retry_max_ms: 499\n', 'sync.retry_max_ms', 'expected an integer from sync.retry_min_ms (500) to 600000, got 499'],
    ['retry max below default retry min', 'sync:\n  retry_max_ms: 100\n', 'sync.retry_max_ms', 'expected an integer from sync.retry_min_ms (200) to 600000, got 100'],
    // unknown keys
    ['unknown top-level key', 'label_prefix: dockgate\nlog-level: info\n', 'log-level', 'unknown key (known keys at the top level: label_prefix, trust_image_labels, defaults, docker, iptables, ipv6_masquerade, external_interfaces, claimable_ports, foreign_chains, foreign_chains_mark, sync, metrics, drops, egress, log_level)'],
    ['unknown nested key', 'sync:\n  debounce: 20\n', 'sync.debounce', 'unknown key (known keys under sync: debounce_ms, drift_check_ms, full_check_ms, retry_min_ms, retry_max_ms, docker_timeout_ms, unknown_grace_ms)'],
    ['unknown key in defaults', 'defaults:\n  ports: "80"\n', 'defaults.ports', 'unknown key (known keys under defaults: mode, from, egress)'],
    ['unknown key with an empty value', 'docker:\n  socket:\n', 'docker.socket', 'unknown key (known keys under docker: host)'],
    ['unknown key with odd characters', '"log level": info\n', '["log level"]', 'unknown key (known keys at the top level: label_prefix, trust_image_labels, defaults, docker, iptables, ipv6_masquerade, external_interfaces, claimable_ports, foreign_chains, foreign_chains_mark, sync, metrics, drops, egress, log_level)'],
    ['__proto__ is just an unknown key', '__proto__: {log_level: debug}\n', '__proto__', 'unknown key (known keys at the top level: label_prefix, trust_image_labels, defaults, docker, iptables, ipv6_masquerade, external_interfaces, claimable_ports, foreign_chains, foreign_chains_mark, sync, metrics, drops, egress, log_level)'],
  ])('%s', (_what, text, key, reason) => {
    const e = configError(text);
    expect(e.key).toBe(key);
    expect(e.file).toBe(FILE);
    expect(e.message).toBe(`${FILE}: ${key}: ${reason}`);
  });

  it('reports every problem, in file order, the first one as key', () => {
    const e = configError('log_level: loud\nsync:\n  debounce_ms: -5\n  bogus: 1\ndefaults:\n  mode: nat\n');
    expect(e.key).toBe('log_level');
    expect(e.problems.map((p) => p.key)).toEqual(['log_level', 'sync.debounce_ms', 'sync.bogus', 'defaults.mode']);
    expect(e.message).toBe(
      `${FILE}: log_level: expected one of "fatal", "error", "warn", "info", "debug", "trace", got "loud"; ` +
        'sync.debounce_ms: expected an integer from 0 to 5000, got -5; ' +
        'sync.bogus: unknown key (known keys under sync: debounce_ms, drift_check_ms, full_check_ms, retry_min_ms, retry_max_ms, docker_timeout_ms, unknown_grace_ms); ' +
        'defaults.mode: expected "proxy" or "dnat", got "nat"',
    );
  });

  it('reports a bad CIDR through loadConfig with the real file name', () => {
    const p = join(tmp, 'bad-cidr.yaml');
    writeFileSync(p, 'defaults:\n  from:\n    - 192.168.1.1/24\n');
    expect(() => loadConfig(p)).toThrow(`${p}: defaults.from[0]: "192.168.1.1/24" has host bits set; did you mean 192.168.1.0/24?`);
  });
});

describe('whole-file problems have key ""', () => {
  it.each([
    ['top-level list', '- label_prefix: dockgate\n', `${FILE}: expected a mapping of settings at the top level, got a list`],
    ['top-level scalar', 'dockgate\n', `${FILE}: expected a mapping of settings at the top level, got "dockgate"`],
    ['top-level number', '42\n', `${FILE}: expected a mapping of settings at the top level, got 42`],
  ])('%s', (_what, text, message) => {
    const e = configError(text);
    expect(e.key).toBe('');
    expect(e.message).toBe(message);
  });

  it.each([
    ['bad indentation', 'sync:\n  debounce_ms: 20\n    drift_check_ms: 10\n', 2],
    ['unclosed flow list', 'log_level: info\ndefaults:\n  from: ["10.0.0.0/8"\n', 4],
    ['tab indentation', 'sync:\n\tdebounce_ms: 20\n', 2],
    ['duplicate key', 'log_level: info\nlabel_prefix: a\nlog_level: debug\n', 3],
    ['unclosed quote', 'label_prefix: dockgate\nlog_level: "info\n', 3], // found at the end of input
    ['two documents', 'log_level: info\n---\nlog_level: debug\n', 2],
  ])('malformed YAML (%s) gives the line', (_what, text, line) => {
    const e = configError(text);
    expect(e.key).toBe('');
    expect(e.message).toMatch(new RegExp(`^${FILE}: invalid YAML at line ${line}, column \\d+: \\S`));
    expect(e.message).not.toContain('\n');
  });

  it('an unresolvable alias is a YAML error', () => {
    const e = configError('log_level: *level\n');
    expect(e.key).toBe('');
    expect(e.message).toMatch(new RegExp(`^${FILE}: invalid YAML`));
  });
});

describe('resolveDockerHost', () => {
  const withHost = (host: string): Config => ({ ...defaultConfig(), docker: { host } });
  it.each([
    ['config wins over $DOCKER_HOST', 'tcp://10.0.0.1:2375', 'unix:///tmp/env.sock', 'tcp://10.0.0.1:2375'],
    ['config wins when $DOCKER_HOST unset', 'unix:///tmp/cfg.sock', undefined, 'unix:///tmp/cfg.sock'],
    ['$DOCKER_HOST when config is ""', '', 'unix:///tmp/env.sock', 'unix:///tmp/env.sock'],
    ['local socket when both are empty', '', undefined, 'unix:///var/run/docker.sock'],
    ['local socket when $DOCKER_HOST is ""', '', '', 'unix:///var/run/docker.sock'],
  ])('%s', (_what, host, env, expected) => {
    const e: NodeJS.ProcessEnv = env === undefined ? {} : { DOCKER_HOST: env };
    expect(resolveDockerHost(withHost(host), e)).toBe(expected);
  });
});

describe('docker.host schemes dockgate cannot honour are config errors', () => {
  it.each([
    ['ssh://', 'ssh://admin@host', /^ssh:\/\/ is not supported: dockgate connects to unix:\/\/\/PATH, tcp:\/\/HOST\[:PORT\], http:\/\/HOST\[:PORT\] or https:\/\/HOST\[:PORT\] .*, got "ssh:\/\/admin@host"$/],
    ['npipe://', 'npipe:////./pipe/docker_engine', /^npipe:\/\/ is not supported: .*, got "npipe:/],
    ['a path prefix dockerode would drop', 'tcp://docker.lan:2375/v1', /^expected "" or a Docker address .*, got "tcp:\/\/docker\.lan:2375\/v1"$/],
    ['a user dockerode would drop', 'tcp://me@docker.lan:2375', /^expected "" or a Docker address/],
    ['port 0', 'tcp://docker.lan:0', /^expected "" or a Docker address/],
    ['port 65536', 'https://docker.lan:65536', /^expected "" or a Docker address/],
  ])('%s', (_what, host, reason) => {
    const e = configError(`docker:\n  host: "${host}"\n`);
    expect(e.key).toBe('docker.host');
    expect(e.problems[0]!.reason).toMatch(reason);
  });
});

describe('loadConfig checks the Docker endpoint it will use (exit 2 naming docker.host)', () => {
  const write = (name: string, text: string): string => {
    const p = join(tmp, name);
    writeFileSync(p, text);
    return p;
  };
  const loadError = (path: string | undefined, env: NodeJS.ProcessEnv, defaultPath?: string): ConfigError => {
    try {
      loadConfig(path, defaultPath, env);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return e as ConfigError;
    }
    throw new Error('expected a ConfigError');
  };

  it('$DOCKER_HOST ssh:// with docker.host "" is refused, naming both', () => {
    const p = write('env-ssh.yaml', 'docker:\n  host: ""\n');
    const e = loadError(p, { DOCKER_HOST: 'ssh://admin@docker.lan' });
    expect(e.key).toBe('docker.host');
    expect(e.message).toMatch(new RegExp(`^${p}: docker\\.host: "" means \\$DOCKER_HOST, which is "ssh://admin@docker\\.lan": ssh:// is not supported`));
  });

  it('also when there is no config file and the defaults apply', () => {
    const e = loadError(undefined, { DOCKER_HOST: 'fd://' }, join(tmp, 'absent.yaml'));
    expect(e.key).toBe('docker.host');
    expect(e.message).toContain('fd:// is not supported');
  });

  it('https:// without the TLS files names the missing file', () => {
    const dir = join(tmp, 'no-certs');
    const p = write('https.yaml', 'docker:\n  host: https://docker.lan:2376\n');
    const e = loadError(p, { DOCKER_CERT_PATH: dir });
    expect(e.key).toBe('docker.host');
    expect(e.message).toBe(
      `${p}: docker.host: "https://docker.lan:2376": https:// means TLS, which needs ${dir}/ca.pem: no such file (ca.pem, cert.pem and key.pem are read from $DOCKER_CERT_PATH, else ~/.docker)`,
    );
  });

  it('$DOCKER_HOST tcp:// with $DOCKER_TLS_VERIFY without the TLS files names the missing file', () => {
    const home = join(tmp, 'home-without-docker');
    const e = loadError(write('tls-env.yaml', ''), { DOCKER_HOST: 'tcp://docker.lan:2376', DOCKER_TLS_VERIFY: '1', HOME: home });
    expect(e.message).toContain(`tcp:// with $DOCKER_TLS_VERIFY set means TLS, which needs ${home}/.docker/ca.pem: no such file`);
  });

  it('a usable endpoint loads', () => {
    expect(loadConfig(write('tcp.yaml', 'docker:\n  host: tcp://127.0.0.1:2375\n'), undefined, { DOCKER_TLS_VERIFY: '' }).docker.host).toBe('tcp://127.0.0.1:2375');
    expect(loadConfig(write('empty.yaml', ''), undefined, { DOCKER_HOST: 'unix:///tmp/d.sock' }).docker.host).toBe('');
  });
});

describe('resolveDockerHost reads $DOCKER_HOST as the Docker CLI does', () => {
  it('a bare HOST:PORT is tcp', () => {
    expect(resolveDockerHost(defaultConfig(), { DOCKER_HOST: '10.0.0.1:2375' })).toBe('tcp://10.0.0.1:2375');
  });
});

describe('metrics.listen', () => {
  const long = (bytes: number): string => `/run/${'m'.repeat(bytes - '/run/.sock'.length)}.sock`;

  it.each([
    ['absent: off', '', { kind: 'off' }],
    ['left empty: off', 'metrics:\n  listen:\n', { kind: 'off' }],
    ['"": off', 'metrics:\n  listen: ""\n', { kind: 'off' }],
    ['a unix socket', 'metrics:\n  listen: /run/dockgate/metrics.sock\n', { kind: 'unix', path: '/run/dockgate/metrics.sock' }],
    ['a socket path of 107 bytes, the most sun_path holds', `metrics:\n  listen: ${long(107)}\n`, { kind: 'unix', path: long(107) }],
    ['127.0.0.1', 'metrics:\n  listen: 127.0.0.1:9417\n', { kind: 'tcp', host: '127.0.0.1', port: 9417 }],
    ['another loopback address', 'metrics:\n  listen: "127.0.0.53:1"\n', { kind: 'tcp', host: '127.0.0.53', port: 1 }],
    ['[::1]', 'metrics:\n  listen: "[::1]:9417"\n', { kind: 'tcp', host: '::1', port: 9417 }],
    ['::1 written out', 'metrics:\n  listen: "[0:0:0:0:0:0:0:1]:65535"\n', { kind: 'tcp', host: '::1', port: 65535 }],
  ])('accepts %s', (_what, text, expected) => {
    expect(parseConfig(text, FILE).metrics).toEqual(expected);
  });

  const NOT_LOOPBACK = 'is not a loopback address: dockgate serves metrics only on a unix socket, 127.0.0.1:PORT or [::1]:PORT (exposing firewall internals on the network is not its job';
  const WHAT = 'expected "" (off), an absolute unix socket path such as /run/dockgate/metrics.sock, or 127.0.0.1:PORT or [::1]:PORT';
  it.each([
    ['every address', '0.0.0.0:9417', NOT_LOOPBACK],
    ['a LAN address', '10.0.0.5:9417', NOT_LOOPBACK],
    ['every IPv6 address', '"[::]:9417"', NOT_LOOPBACK],
    ['no address (all of them)', '":9417"', NOT_LOOPBACK],
    ['a global IPv6 address', '"[2001:db8::1]:9417"', NOT_LOOPBACK],
    ['loopback in IPv4-mapped form', '"[::ffff:127.0.0.1]:9417"', NOT_LOOPBACK],
    ['a host name, even localhost', 'localhost:9417', 'expected 127.0.0.1:PORT or [::1]:PORT, not a host name, got "localhost:9417"'],
    ['port 0', '127.0.0.1:0', 'expected a port from 1 to 65535 after the address, got "127.0.0.1:0"'],
    ['port too high', '127.0.0.1:65536', 'expected a port from 1 to 65535 after the address, got "127.0.0.1:65536"'],
    ['no port', '127.0.0.1', `${WHAT}, got "127.0.0.1"`],
    ['a relative path', 'run/metrics.sock', `${WHAT}, got "run/metrics.sock"`],
    ['a URL', 'unix:///run/metrics.sock', `${WHAT}, got "unix:///run/metrics.sock"`],
    ['a directory', '/run/dockgate/', `${WHAT}, got "/run/dockgate/"`],
    ['a number', '9417', `${WHAT}, got 9417`],
    ['a list', '[127.0.0.1:9417]', `${WHAT}, got a list`],
    ['a path too long to bind', long(108), 'a unix socket path is at most 107 bytes, got 108'],
  ])('refuses %s, naming metrics.listen', (_what, value, reason) => {
    const e = configError(`metrics:\n  listen: ${value}\n`);
    expect(e.key).toBe('metrics.listen');
    expect(e.message).toContain(`${FILE}: metrics.listen: `);
    expect(e.message).toContain(reason);
  });

  it('the message for a network address says why', () => {
    expect(configError('metrics:\n  listen: 0.0.0.0:9100\n').message).toBe(
      `${FILE}: metrics.listen: "0.0.0.0:9100" ${NOT_LOOPBACK}; put a proxy with authentication in front if you must)`,
    );
  });

  it.each([
    ['not a mapping', 'metrics: /run/m.sock\n', 'metrics', 'expected a mapping of metrics, got "/run/m.sock"'],
    ['an unknown key', 'metrics:\n  port: 9417\n', 'metrics.port', 'unknown key (known keys under metrics: listen)'],
  ])('the section: %s', (_what, text, key, reason) => {
    const e = configError(text);
    expect(e.key).toBe(key);
    expect(e.message).toBe(`${FILE}: ${key}: ${reason}`);
  });
});

describe('foreign_chains_mark', () => {
  it.each([
    ['hex, as YAML reads it', '0x02000000', 0x02000000],
    ['hex in a string', '"0x40000000"', 0x40000000],
    ['the top bit', '0x80000000', 0x80000000],
    ['bit 0, in decimal', '1', 1],
    ['decimal in a string', '"65536"', 0x10000],
  ])('takes one bit: %s', (_what, value, bit) => {
    expect(parseConfig(`foreign_chains_mark: ${value}\n`, FILE).foreignChainsMark).toBe(bit);
  });

  const ONE_BIT = 'expected exactly one bit of the 32-bit packet mark, such as 0x01000000';
  it.each([
    ['two bits', '0x3', `0x3 has more than one bit set: ${ONE_BIT}`],
    ['a mask', '0xff000000', `0xff000000 has more than one bit set: ${ONE_BIT}`],
    ['two bits in a string', '"0x01000001"', `0x1000001 has more than one bit set: ${ONE_BIT}`],
    ['no bit', '0', `0x0 has no bit set: ${ONE_BIT}`],
    ['beyond 32 bits', '0x100000000', `0x100000000 is wider than the 32-bit packet mark: ${ONE_BIT}`],
    ['negative', '-1', `${ONE_BIT}, got -1`],
    ['a fraction', '0.5', `${ONE_BIT}, got 0.5`],
    ['a word', 'bit24', `${ONE_BIT}, got "bit24"`],
    ['a boolean', 'true', `${ONE_BIT}, got true`],
    ['empty', '', `${ONE_BIT}, got an empty value`],
  ])('refuses %s, naming the key and the value', (_what, value, reason) => {
    const e = configError(`foreign_chains_mark: ${value}\n`);
    expect(e.key).toBe('foreign_chains_mark');
    expect(e.message).toBe(`${FILE}: foreign_chains_mark: ${reason}`);
  });
});
