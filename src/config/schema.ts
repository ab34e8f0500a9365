// The config file's schema: snake_case YAML keys, every key optional with a default, unknown
// keys refused. Each field carries its own "expected ..." wording so that every error names the
// key and what it wants; load.ts adds the file name and the dotted key path.
import { z } from 'zod';
import { parseCidr } from '../net/address.js';
import type { Cidr, EgressPolicy, PolicyDefaults, PortRange } from '../model/types.js';
import { EGRESS_GRAMMAR, parseEgressPolicy } from '../labels/egress.js';
import { IFNAME as IFNAME_RE } from '../net/ifname.js';
import { DEFAULT_MARK_BIT, MARK_BIT_EXPECTED, type MarkBit, parseMarkBit } from '../model/mark-bit.js';
import { describeValue, expecting, intRange, orEmpty, quoted, section, withPattern } from './schema-parts.js';
import { METRICS_LISTEN_WHAT, type MetricsListen, UNIX_PATH_MAX, parseDockerAddress, parseMetricsListen } from './endpoints.js';

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

const LABEL_PREFIX_RE = /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/;
// A bare command name (looked up in PATH) or an absolute path; never a relative path.
const COMMAND_RE = /^(\/[A-Za-z0-9_./-]+|[A-Za-z0-9_.-]+)$/;

const cidrEntry = z
  .string({ error: expecting('an IPv4/IPv6 address or CIDR as a string') })
  .transform((text, ctx): Cidr => {
    const r = parseCidr(text);
    if (!r.ok) {
      ctx.addIssue({ code: 'custom', message: r.error, input: text });
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
    ctx.addIssue({ code: 'custom', message: r.error.join('; '), input: v });
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
      const generic = r.error.startsWith('expected ');
      const message = `${generic ? `expected ${DOCKER_HOST_WHAT}` : r.error}, got ${describeValue(text)}`;
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
  full_check_ms: intRange(1000, 3_600_000).default(180_000),
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

const metricsSection = section('metrics', {
  listen: z.preprocess(
    // Left empty (`listen:`) is off, like "".
    (v) => v ?? '',
    z.string({ error: expecting(METRICS_LISTEN_WHAT) }).transform((text, ctx): MetricsListen => {
      const r = parseMetricsListen(text);
      if (r.ok) return r.value;
      ctx.addIssue({ code: 'custom', message: r.error, input: text });
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
      const r = typeof v === 'number' || typeof v === 'string' ? parseMarkBit(v) : { ok: false as const, error: `expected ${MARK_BIT_EXPECTED}, got ${describeValue(v)}` };
      if (r.ok) return r.value;
      ctx.addIssue({ code: 'custom', message: r.error, input: v });
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
