// The config file's schema: snake_case YAML keys, every key optional with a default, unknown
// keys refused. Each field carries its own "expected ..." wording so that every error names the
// key and what it wants; load.ts adds the file name and the dotted key path.
import { z } from 'zod';
import { parseAddress, parseCidr } from '../net/cidr.js';
import type { Cidr, EgressPolicy, PolicyDefaults, PortRange } from '../model/types.js';
import { EGRESS_GRAMMAR, parseEgressPolicy } from '../labels/egress.js';
import { IFNAME as IFNAME_RE } from '../net/ifname.js';
import { DEFAULT_MARK_BIT, MARK_BIT_EXPECTED, type MarkBit, parseMarkBit } from '../model/mark-bit.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const MODES = ['proxy', 'dnat'] as const;

/**
 * The interfaces that lead to the outside world (each gets forwarding on). `auto`: every
 * interface the host's routes lead through (default routes, and a LAN, a VPN or a static route's
 * interface), IPv4 and IPv6, Docker's bridges and veths left out, followed as routes change;
 * `list`: exactly these names, whatever the routes say (an empty list: only the bridges forward).
 */
export type ExternalInterfaces = { kind: 'auto' } | { kind: 'list'; names: string[] };

/**
 * Where the Prometheus metrics are served (GET /metrics): nowhere (the default), a unix socket,
 * or a loopback TCP address. Never a network address: firewall internals are not for the network.
 */
export type MetricsListen = { kind: 'off' } | { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export interface Config {
  labelPrefix: string;
  /**
   * Take labels whose value equals the image's own (Docker copies an image's LABELs into its
   * containers) as the admin's. Off: such a label never opens or widens anything.
   */
  trustImageLabels: boolean;
  defaults: PolicyDefaults;
  docker: { host: string };
  iptables: { restoreCommand: string; saveCommand: string; ip6RestoreCommand: string; ip6SaveCommand: string; waitSeconds: number };
  /** Which IPv6 subnets are masqueraded when they leave: ULA ones (default), all, or none (routed). */
  ipv6Masquerade: 'ula' | 'all' | 'none';
  externalInterfaces: ExternalInterfaces;
  /** Host ports a dnat mapping label may claim without -p. */
  claimablePorts: PortRange;
  /**
   * Other firewalls' nft base chains that would drop dockgate's openings: `allow` keeps one
   * dockgate mark accept directly before the final drop of each (below the admin's bans); `leave` touches none and reports what they block.
   */
  foreignChains: 'allow' | 'leave';
  /**
   * The packet-mark bit of those accepts and of the mangle rules that set it: one another tool on
   * the host does not use (doctor's `mark-bit` check names any that does).
   */
  foreignChainsMark: MarkBit;
  sync: {
    debounceMs: number;
    driftCheckMs: number;
    fullCheckMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    /** Deadline of every Docker API call but the events stream. */
    dockerTimeoutMs: number;
    /** How long a container Docker cannot answer about keeps its rules before they are removed. */
    unknownGraceMs: number;
  };
  logLevel: LogLevel;
  /** metrics.listen: whether and where the Prometheus metrics are served. */
  metrics: MetricsListen;
  /** The drop log (src/plan/drop-log.ts, src/drops/). */
  drops: {
    log: boolean;
    /** Entries per second per reason, in the kernel and again in the daemon, and the burst above it. */
    ratePerSecond: number;
    burst: number;
    nflogGroup: number;
    /** The root-only unix socket `dockgate drops` asks. */
    socket: string;
    /** ulogd2's binary, which reads the NFLOG group. */
    ulogdCommand: string;
  };
  egress: {
    /** Seconds an address stays allowed after its TTL (at least 30 s) ran out: covers answers a container got shortly before. */
    dnsGraceS: number;
    /** Where the host's nameservers are read from (resolvers the containers may reach, and dockgate's own). */
    resolvConf: string;
  };
}

/** A value as an admin would recognise it in an error message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') {
    const cut = v.length > 60 ? `${v.slice(0, 60)}...` : v;
    return JSON.stringify(cut);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : 'a list';
  if (v instanceof Date) return `a date (${v.toISOString()}; quote it to make it a string)`;
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

type IssueLike = { input?: unknown };
const expecting = (what: string) => (iss: IssueLike) => `expected ${what}, got ${describeValue(iss.input)}`;
const quoted = (values: readonly string[]) =>
  values.length === 2
    ? `"${values[0]}" or "${values[1]}"`
    : `one of ${values.map((v) => `"${v}"`).join(', ')}`;

/** A strict mapping whose unknown-key error lists the keys it knows. `name` is its dotted path. */
function section<S extends z.ZodRawShape>(name: string, shape: S) {
  const known = Object.keys(shape).join(', ');
  const where = name === '' ? 'at the top level' : `under ${name}`;
  return z
    .object(shape, {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? `unknown key (known keys ${where}: ${known})`
          : `expected a mapping of ${name || 'settings'}, got ${describeValue(iss.input)}`,
    })
    .strict();
}

/** A section left empty in YAML (`sync:` with every sub-key commented out) means all its defaults. */
const orEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((v) => v ?? {}, schema);

const intRange = (min: number, max: number) =>
  z.number({ error: expecting(`an integer from ${min} to ${max}`) }).int().min(min).max(max);

const withPattern = (re: RegExp, what: string) => z.string({ error: expecting(what) }).regex(re);

const LABEL_PREFIX_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
// A bare command name (looked up in PATH) or an absolute path; never a relative path.
const COMMAND_RE = /^(\/[A-Za-z0-9_./-]+|[A-Za-z0-9_.-]+)$/;
// Linux IFNAMSIZ is 16 including the NUL; '.' and '..' are not valid names.
// unix:///PATH, or tcp|http|https://HOST[:PORT][/]. No path prefix, user or query: dockerode
// would drop them without a word. ssh:// is refused below with its own reason.
const DOCKER_HOST_RE = /^(?:unix:\/\/(\/\S+)|(tcp|http|https):\/\/([A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?\/?)$/;
export const DOCKER_HOST_SUPPORTED = 'unix:///PATH, tcp://HOST[:PORT], http://HOST[:PORT] or https://HOST[:PORT]';

export type DockerAddress =
  | { scheme: 'unix'; path: string }
  | { scheme: 'tcp' | 'http' | 'https'; host: string; port: number | undefined };

/**
 * A Docker address as docker.host or $DOCKER_HOST spells it. Schemes the Docker CLI knows but
 * dockgate cannot honour get their own reason, so nobody is left guessing why.
 */
export function parseDockerAddress(text: string): { ok: true; value: DockerAddress } | { ok: false; reason: string } {
  const m = DOCKER_HOST_RE.exec(text);
  if (m?.[1] !== undefined) return { ok: true, value: { scheme: 'unix', path: m[1] } };
  const port = m?.[4] === undefined ? undefined : Number(m[4]);
  if (m && (port === undefined || (port >= 1 && port <= 65535))) {
    // URLs bracket IPv6 addresses; sockets want them bare.
    const host = m[3]!.replace(/^\[(.*)\]$/, '$1');
    return { ok: true, value: { scheme: m[2] as 'tcp' | 'http' | 'https', host, port } };
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'ssh') {
    return {
      ok: false,
      // docker-modem's ssh would skip host-key checking and find no key under systemd.
      reason: `ssh:// is not supported: dockgate connects to ${DOCKER_HOST_SUPPORTED} (to reach a remote Docker over ssh, forward its socket, e.g. ssh -L /run/dockgate-docker.sock:/var/run/docker.sock HOST, and use unix:///run/dockgate-docker.sock)`,
    };
  }
  if (scheme === 'npipe' || scheme === 'fd') {
    return { ok: false, reason: `${scheme}:// is not supported: dockgate connects to ${DOCKER_HOST_SUPPORTED}` };
  }
  return { ok: false, reason: `expected ${DOCKER_HOST_SUPPORTED}` };
}

const cidrEntry = z
  .string({ error: expecting('an IPv4/IPv6 address or CIDR as a string') })
  .transform((text, ctx): Cidr => {
    const r = parseCidr(text);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.reason, input: text });
      return z.NEVER;
    }
    return r.value;
  });

const FROM_WHAT = 'a non-empty list of IPv4/IPv6 addresses or CIDRs';
const fromList = z
  .array(cidrEntry, {
    error: (iss) =>
      typeof iss.input === 'string'
        ? `expected ${FROM_WHAT}, got ${describeValue(iss.input)} (write a list: [${JSON.stringify(iss.input)}])`
        : expecting(FROM_WHAT)(iss),
  })
  .min(1)
  // '10.0.0.1' and '10.0.0.1/32' are the same source: keep one.
  .transform((list) => list.filter((c, i) => list.findIndex((d) => d.text === c.text) === i));

const EXTERNAL_WHAT = '"auto" or a list of interface names';
const externalInterfaces = z.preprocess(
  // Unset or left empty (`external_interfaces:`) means the default: auto. `[]` is a choice.
  (v) => v ?? 'auto',
  z
    .union([z.literal('auto'), z.array(withPattern(IFNAME_RE, 'an interface name of 1-15 characters from A-Z a-z 0-9 _ . : @ -'))], {
      error: expecting(EXTERNAL_WHAT),
    })
    // Transformed after the union, not in its branches: a branch with a transform hides which
    // list entry is wrong (zod then reports only the union).
    .transform((v): ExternalInterfaces => (v === 'auto' ? { kind: 'auto' } : { kind: 'list', names: [...new Set(v)] })),
);

// `true`/`false` as YAML booleans, or the label's own grammar as a string.
const egressDefault = z
  .union([z.boolean(), z.string()], { error: expecting(EGRESS_GRAMMAR) })
  .default(true)
  .transform((v, ctx): EgressPolicy => {
    if (typeof v === 'boolean') return v ? { kind: 'all' } : { kind: 'none' };
    const r = parseEgressPolicy(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.reasons.join('; '), input: v });
    return z.NEVER;
  });

const defaultsSection = section('defaults', {
  mode: z.enum(MODES, { error: expecting(quoted(MODES)) }).default('proxy'),
  from: fromList.prefault(['0.0.0.0/0', '::/0']),
  egress: egressDefault,
});

// The host's nameservers come from here; tests point it at a namespace's own copy.
const RESOLV_CONF_WHAT = 'an absolute file path';
const egressSection = section('egress', {
  /** How long an address a name no longer resolves to stays allowed after its TTL ran out. */
  dns_grace_s: intRange(0, 86_400).default(300),
  resolv_conf: withPattern(/^\/[A-Za-z0-9_./-]+$/, RESOLV_CONF_WHAT).default('/etc/resolv.conf'),
});

const DOCKER_HOST_WHAT = '"" or a Docker address such as unix:///var/run/docker.sock or tcp://127.0.0.1:2375';
const dockerSection = section('docker', {
  host: z
    .string({ error: expecting(DOCKER_HOST_WHAT) })
    .superRefine((text, ctx) => {
      if (text === '') return;
      const r = parseDockerAddress(text);
      if (r.ok) return;
      const generic = r.reason.startsWith('expected ');
      const message = `${generic ? `expected ${DOCKER_HOST_WHAT}` : r.reason}, got ${describeValue(text)}`;
      ctx.addIssue({ code: 'custom', message, input: text });
    })
    .default(''),
});

const COMMAND_WHAT = 'a command name or an absolute path made of A-Z a-z 0-9 _ . / -';
const iptablesSection = section('iptables', {
  restore_command: withPattern(COMMAND_RE, COMMAND_WHAT).default('iptables-restore'),
  save_command: withPattern(COMMAND_RE, COMMAND_WHAT).default('iptables-save'),
  ip6_restore_command: withPattern(COMMAND_RE, COMMAND_WHAT).default('ip6tables-restore'),
  ip6_save_command: withPattern(COMMAND_RE, COMMAND_WHAT).default('ip6tables-save'),
  wait_seconds: intRange(1, 600).default(10),
});

const RETRY_MAX_LIMIT = 600_000;
const syncSection = section('sync', {
  debounce_ms: intRange(0, 5000).default(20),
  drift_check_ms: intRange(100, 600_000).default(1000),
  full_check_ms: intRange(1000, 3_600_000).default(90_000),
  retry_min_ms: intRange(10, 60_000).default(200),
  retry_max_ms: intRange(10, RETRY_MAX_LIMIT).default(30_000),
  docker_timeout_ms: intRange(100, 600_000).default(10_000),
  unknown_grace_ms: intRange(1000, 3_600_000).default(30_000),
}).superRefine((s, ctx) => {
  if (s.retry_max_ms < s.retry_min_ms) {
    ctx.addIssue({
      code: 'custom',
      path: ['retry_max_ms'],
      input: s.retry_max_ms,
      message: `expected an integer from sync.retry_min_ms (${s.retry_min_ms}) to ${RETRY_MAX_LIMIT}, got ${s.retry_max_ms}`,
    });
  }
});

const PORT_RANGE_WHAT = 'a port range START-END with 1 <= START <= END <= 65535, e.g. "1024-65535"';
const portRange = z
  .string({ error: expecting(PORT_RANGE_WHAT) })
  .transform((text, ctx): PortRange => {
    const m = /^([1-9][0-9]{0,4})-([1-9][0-9]{0,4})$/.exec(text);
    const start = Number(m?.[1]);
    const end = Number(m?.[2]);
    if (!m || start > end || end > 65535) {
      ctx.addIssue({ code: 'custom', message: `expected ${PORT_RANGE_WHAT}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    }
    return { start, end };
  });

const METRICS_LISTEN_WHAT = '"" (off), an absolute unix socket path such as /run/dockgate/metrics.sock, or 127.0.0.1:PORT or [::1]:PORT';
// sun_path holds 108 bytes with the terminating NUL; a longer path cannot be bound at all.
const UNIX_PATH_MAX = 107;

/** metrics.listen as written; the reason of a refusal is the whole message after the key. */
export function parseMetricsListen(text: string): { ok: true; value: MetricsListen } | { ok: false; reason: string } {
  const got = `got ${describeValue(text)}`;
  if (text === '') return { ok: true, value: { kind: 'off' } };
  if (text.startsWith('/')) {
    // Control characters would make the path unreadable in logs and ls; a trailing / is a directory.
    if (/[\x00-\x1f\x7f]/.test(text) || text.endsWith('/')) return { ok: false, reason: `expected ${METRICS_LISTEN_WHAT}, ${got}` };
    if (Buffer.byteLength(text) > UNIX_PATH_MAX) return { ok: false, reason: `a unix socket path is at most ${UNIX_PATH_MAX} bytes, got ${Buffer.byteLength(text)}` };
    return { ok: true, value: { kind: 'unix', path: text } };
  }
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):([0-9]+)$/.exec(text);
  if (!m) return { ok: false, reason: `expected ${METRICS_LISTEN_WHAT}, ${got}` };
  const [, v6, v4 = '', portText = ''] = m;
  const port = Number(portText);
  const addr = parseAddress(v6 ?? v4);
  const host = addr.ok && (addr.value.text === '::1' || (addr.value.family === 4 && addr.value.text.startsWith('127.'))) ? addr.value.text : undefined;
  if (host === undefined) {
    const named = v6 === undefined && /^[A-Za-z]/.test(v4);
    return {
      ok: false,
      reason: named
        ? `expected 127.0.0.1:PORT or [::1]:PORT, not a host name, ${got}`
        : // Anything else can be reached from other machines (0.0.0.0 and [::] from all of them).
          `${describeValue(text)} is not a loopback address: dockgate serves metrics only on a unix socket, 127.0.0.1:PORT or [::1]:PORT (exposing firewall internals on the network is not its job; put a proxy with authentication in front if you must)`,
    };
  }
  if (!/^[1-9][0-9]{0,4}$/.test(portText) || port > 65535) return { ok: false, reason: `expected a port from 1 to 65535 after the address, ${got}` };
  return { ok: true, value: { kind: 'tcp', host, port } };
}

const metricsSection = section('metrics', {
  listen: z.preprocess(
    // Left empty (`listen:`) is off, like "".
    (v) => v ?? '',
    z.string({ error: expecting(METRICS_LISTEN_WHAT) }).transform((text, ctx): MetricsListen => {
      const r = parseMetricsListen(text);
      if (r.ok) return r.value;
      ctx.addIssue({ code: 'custom', message: r.reason, input: text });
      return z.NEVER;
    }),
  ),
});

const SOCKET_WHAT = `an absolute unix socket path of at most ${UNIX_PATH_MAX} bytes`;
const dropsSection = section('drops', {
  log: z.boolean({ error: expecting('true or false') }).default(true),
  rate_per_s: intRange(1, 10_000).default(5),
  burst: intRange(1, 10_000).default(20),
  nflog_group: intRange(0, 65_535).default(2371),
  socket: withPattern(/^\/[A-Za-z0-9_./-]+$/, SOCKET_WHAT)
    .refine((p) => Buffer.byteLength(p) <= UNIX_PATH_MAX && !p.endsWith('/'), { error: expecting(SOCKET_WHAT) })
    .default('/run/dockgate/drops.sock'),
  ulogd_command: withPattern(COMMAND_RE, COMMAND_WHAT).default('ulogd'),
});

/** The file as written (snake_case), with defaults filled in and CIDRs parsed. */
export const configFileSchema = section('', {
  label_prefix: withPattern(
    LABEL_PREFIX_RE,
    'lower-case letters, digits, "." and "-", starting and ending with a letter or digit',
  ).default('dockgate'),
  trust_image_labels: z.boolean({ error: expecting('true or false') }).default(false),
  defaults: orEmpty(defaultsSection),
  docker: orEmpty(dockerSection),
  iptables: orEmpty(iptablesSection),
  ipv6_masquerade: z.enum(['ula', 'all', 'none'], { error: expecting('one of "ula", "all", "none"') }).default('ula'),
  external_interfaces: externalInterfaces,
  claimable_ports: portRange.prefault('1024-65535'),
  foreign_chains: z.enum(['allow', 'leave'], { error: expecting('"allow" or "leave"') }).default('allow'),
  foreign_chains_mark: z
    .unknown()
    .transform((v, ctx): MarkBit => {
      const r = typeof v === 'number' || typeof v === 'string' ? parseMarkBit(v) : { ok: false as const, reason: `expected ${MARK_BIT_EXPECTED}, got ${describeValue(v)}` };
      if (r.ok) return r.value;
      ctx.addIssue({ code: 'custom', message: r.reason, input: v });
      return z.NEVER;
    })
    // Absent, not empty: `foreign_chains_mark:` with no value is a mistake to name, like any other key's.
    .optional()
    .transform((v): MarkBit => v ?? DEFAULT_MARK_BIT),
  sync: orEmpty(syncSection),
  metrics: orEmpty(metricsSection),
  drops: orEmpty(dropsSection),
  egress: orEmpty(egressSection),
  log_level: z.enum(LOG_LEVELS, { error: expecting(quoted(LOG_LEVELS)) }).default('info'),
});

export type ConfigFile = z.output<typeof configFileSchema>;

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
