// fast-check generators shared by the fuzz tests: hostile label values, near-valid values built
// from the label grammar and then mutated, and container/network facts as docker/ produces them.
import fc from 'fast-check';
import type { Cidr, ContainerFacts, NetworkFacts, PolicyDefaults, PortBinding } from '../../src/model/types.js';

// ---------------------------------------------------------------------------------------------
// Small building blocks

export const hexString = (bytes: number): fc.Arbitrary<string> =>
  fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString('hex'));

/** A 64-hex Docker id. */
export const dockerId = hexString(32);

/** Docker's container name grammar ([a-zA-Z0-9][a-zA-Z0-9_.-]+), kept to realistic lengths. */
export const dockerName = fc.stringMatching(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{1,40}$/);

export const ipv4 = fc
  .tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255))
  .map((o) => o.join('.'));

const ipv4Number = fc.nat({ max: 0xffffffff });
const formatV4 = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** A canonical IPv4 CIDR, host bits cleared. */
export const cidr4 = (minLen = 0, maxLen = 32): fc.Arbitrary<string> =>
  fc.tuple(ipv4Number, fc.integer({ min: minLen, max: maxLen })).map(([n, len]) => {
    const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    return `${formatV4((n & mask) >>> 0)}/${len}`;
  });

/** Ports people actually write, so that labels and -p bindings meet often. */
export const COMMON_PORTS = [1, 22, 53, 80, 443, 5353, 8000, 8080, 65535] as const;
export const port = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...COMMON_PORTS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 65535 }) },
);

export const interfaceName = fc.oneof(
  fc.constant('docker0'),
  fc.stringMatching(/^br-[0-9a-f]{12}$/),
  fc.stringMatching(/^[a-z][a-z0-9_.-]{0,14}$/),
);

// ---------------------------------------------------------------------------------------------
// Hostile text

/** Pieces of iptables-restore syntax a label might try to smuggle in. */
export const IPTABLES_FRAGMENTS = [
  '-j ACCEPT',
  '-j DROP',
  '-j DNAT',
  '--to-destination 10.0.0.1:22',
  '--to-destination',
  'COMMIT',
  '*nat',
  '*filter',
  '*raw',
  ':INPUT ACCEPT [0:0]',
  ':DOCKGATE-INPUT - [0:0]',
  ':CHAIN',
  '-A INPUT',
  '-I INPUT 1',
  '-A DOCKGATE-INPUT -j ACCEPT',
  '-F',
  '-X',
  '-P INPUT ACCEPT',
  '-s 0.0.0.0/0',
  '-d 10.0.0.5/32',
  '! -i lo',
  '-m comment --comment "x"',
  '-m conntrack --ctstate NEW',
  '#',
  '"',
  '\\n',
  '80 -j ACCEPT',
  '\n-A INPUT -j ACCEPT\n',
  '\nCOMMIT\n*filter\n',
];

/** Shell and template syntax: nothing runs a shell, but labels must not carry it anywhere. */
export const SHELL_FRAGMENTS = [
  '$(reboot)',
  '`id`',
  ';',
  '&&',
  '||',
  '|',
  "'",
  '"',
  '\\',
  '${IFS}',
  '$HOME',
  '> /etc/passwd',
  '<<EOF',
  '%s%n',
  '{{.Name}}',
  '../..',
  '*',
  '~',
  '\u0000',
  '\u001b[2J',
  '$((1+1))',
  "';DROP TABLE x;--",
];

/** Characters that sit next to or inside the grammar and often break naive parsers. */
export const TRICKY_CHARS = [
  '\n', '\r', '\t', '\0', '\v', '\f', ' ', '\u0085', '\u00a0', '\u2028', '\u2029', '\ufeff', '\u200b',
  '$', '`', '"', "'", ';', '-', '/', ':', '[', ']', ',', '.', '!', '#', '*', '\\', 'é', '٨', '８', '0', '9',
];

const joined = (pieces: fc.Arbitrary<string>, seps: string[], max = 6): fc.Arbitrary<string> =>
  fc
    .array(fc.tuple(pieces, fc.constantFrom(...seps)), { minLength: 1, maxLength: max })
    .map((parts) => parts.map(([p, s]) => p + s).join(''));

const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('utf8')),
);

const loneSurrogates = fc
  .array(fc.oneof(fc.integer({ min: 0xd800, max: 0xdfff }), fc.constantFrom(0x38, 0x30, 0x2c)), { maxLength: 12 })
  .map((codes) => String.fromCharCode(...codes));

const whitespaceSoup = fc
  .array(fc.constantFrom(...TRICKY_CHARS.slice(0, 13), '80', ',', 'tcp', '10.0.0.1', 'dnat', 'true'), { maxLength: 12 })
  .map((a) => a.join(''));

/** Values over MAX_LABEL_BYTES (1024), some of them valid except for their size. */
const hugeValue = fc.oneof(
  fc.string({ unit: 'binary', minLength: 1025, maxLength: 1500 }),
  fc.integer({ min: 350, max: 600 }).map((n) => `${'80,'.repeat(n)}80`),
  fc.integer({ min: 1000, max: 1050 }).map((n) => `80${' '.repeat(n)}`), // around the 1024-byte edge
  fc.integer({ min: 505, max: 530 }).map((n) => `80 ${'é'.repeat(n)}`), // 2-byte characters
  fc.constant(Array.from({ length: 1100 }, (_, i) => i + 1).join(',')),
  fc.constant('10.0.0.0/8,'.repeat(120)),
);

/** Any hostile value: random text, bytes, control characters, iptables or shell syntax, huge. */
export const hostileValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
  { weight: 2, arbitrary: randomBytes },
  { weight: 1, arbitrary: loneSurrogates },
  { weight: 2, arbitrary: whitespaceSoup },
  { weight: 3, arbitrary: joined(fc.constantFrom(...IPTABLES_FRAGMENTS), [' ', '\n', ',', '', ':', '/']) },
  { weight: 3, arbitrary: joined(fc.constantFrom(...SHELL_FRAGMENTS, '80', '10.0.0.1', 'tcp'), [' ', '', ',', '\n']) },
  { weight: 1, arbitrary: hugeValue },
);

// ---------------------------------------------------------------------------------------------
// Near-valid values: built from the label grammar, then (sometimes) mutated

/** fc.oneof of a good and a bad generator; with `bad` 0 only the good one. */
const goodOrBad = <T>(good: fc.Arbitrary<T>, badArb: fc.Arbitrary<T>, goodWeight: number, bad: number): fc.Arbitrary<T> =>
  bad === 0 ? good : fc.oneof({ weight: goodWeight, arbitrary: good }, { weight: bad, arbitrary: badArb });

const BAD_PORTS = ['0', '65536', '99999', '080', '+80', '-80', '80.0', '0x50', '８０', '1e3', '', '٨٠', '00', '655350'];
const BAD_PROTOS = ['/TCP', '/sctp', '/', '/tcp/udp', '/udp ', '/tcp,'];
const BAD_HOST_IPS = ['01.2.3.4', '1.2.3', '256.0.0.1', '1.2.3.4/32', '[1.2.3.4]', '::1', '[::1', 'localhost', '[]'];
const BAD_FROM = [
  '10.0.0.5/8', '10.0.0.0/33', '10.0.0.0/08', '10.0.0.0/', '::ffff:1.2.3.4', 'localhost', 'any', '0/0',
  '10.0.0.0 /8', '*', '10.0.0.0/8/8', '2001:db8::/129', '1.2.3.4/-1', '1.2.3.4/32 ',
];

/**
 * The label grammar as generators. `bad` is the weight of grammar-breaking variants at each
 * choice point (0: every value is valid).
 */
function grammar(bad: number) {
  const portText = goodOrBad(port.map(String), fc.constantFrom(...BAD_PORTS), 12, bad);
  const okRange = fc.tuple(fc.integer({ min: 1, max: 65500 }), fc.integer({ min: 0, max: 20 })).map(([a, d]) => ({ a, b: a + d }));
  const badRange = fc.oneof(
    fc.tuple(fc.integer({ min: 2, max: 65535 }), fc.integer({ min: 1, max: 50 })).map(([a, d]) => ({ a, b: Math.max(1, a - d) })), // reversed
    fc.integer({ min: 1, max: 60000 }).map((a) => ({ a, b: a + 1500 })), // too many ports
  );
  const rangeText = goodOrBad(okRange, badRange, 8, bad).map(({ a, b }) => `${a}-${b}`);
  const proto = goodOrBad(fc.constantFrom('', '/tcp', '/udp'), fc.constantFrom(...BAD_PROTOS), 10, bad);
  const hostIp = goodOrBad(
    fc.oneof(
      { weight: 6, arbitrary: fc.oneof(ipv4, fc.constantFrom('0.0.0.0', '127.0.0.1', '10.0.0.5')) },
      { weight: 2, arbitrary: fc.constantFrom('[::1]', '[2001:db8::1]', '[::]', '[2001:DB8:0:0::1]', '[fe80::1]') },
    ),
    fc.constantFrom(...BAD_HOST_IPS),
    8,
    bad,
  );
  const rangedMapping = fc
    .tuple(fc.integer({ min: 1, max: 60000 }), fc.integer({ min: 1, max: 60000 }), fc.integer({ min: 0, max: 10 }), bad === 0 ? fc.constant(0) : fc.integer({ min: -1, max: 1 }), proto)
    .map(([h, c, d, skew, pr]) => `${h}-${h + d}:${c}-${c + Math.max(0, d + skew)}${pr}`);
  const portEntry = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(portText, proto).map(([p, pr]) => p + pr) },
    { weight: 2, arbitrary: fc.tuple(rangeText, proto).map(([r, pr]) => r + pr) },
    { weight: 3, arbitrary: fc.tuple(portText, portText, proto).map(([h, c, pr]) => `${h}:${c}${pr}`) },
    { weight: 3, arbitrary: fc.tuple(hostIp, portText, portText, proto).map(([ip, h, c, pr]) => `${ip}:${h}:${c}${pr}`) },
    { weight: 1, arbitrary: rangedMapping },
  );
  const listSep = goodOrBad(fc.constantFrom(',', ', ', ' ,'), fc.constantFrom(',,', ';', ' ', ',\n'), 8, bad);
  const edgeSpace = goodOrBad(fc.constantFrom('', '', '', ' '), fc.constantFrom('\t', ',', '\n'), 8, bad);
  const list = (entry: fc.Arbitrary<string>, max: number): fc.Arbitrary<string> =>
    fc
      .tuple(edgeSpace, fc.array(fc.tuple(entry, listSep), { minLength: 1, maxLength: max }), edgeSpace)
      .map(([a, items, b]) => a + items.map(([e, sep], i) => (i === items.length - 1 ? e : e + sep)).join('') + b);
  const fromEntry = goodOrBad(
    fc.oneof(
      { weight: 6, arbitrary: cidr4(0, 32) },
      { weight: 3, arbitrary: ipv4 },
      { weight: 2, arbitrary: fc.constantFrom('0.0.0.0/0', '::/0', '2001:db8::/32', '2001:DB8::/32', '::1', 'fe80::/10', '2001:db8:0:0:0:0:0:1') },
    ),
    fc.constantFrom(...BAD_FROM),
    11,
    bad,
  );
  return {
    ports: list(portEntry, 4),
    from: list(fromEntry, 4),
    mode: goodOrBad(fc.constantFrom('proxy', 'dnat', ' dnat', 'proxy '), fc.constantFrom('PROXY', 'nat', 'proxy,dnat', 'dnat\n', '', 'Dnat', '\tproxy'), 6, bad),
    egress: goodOrBad(fc.constantFrom('true', 'false', 'true '), fc.constantFrom('True', '1', 'yes', 'false\t', '', 'FALSE', '\ntrue'), 6, bad),
  };
}

/** Valid values of every label, in all the forms the grammar allows. */
export const validValue = grammar(0);
/** Values built from the grammar where any piece may break it. */
export const structuredValue = grammar(1);

type Mutation =
  | { op: 'insert'; at: number; ch: string }
  | { op: 'delete'; at: number }
  | { op: 'duplicate'; at: number; len: number }
  | { op: 'upper' }
  | { op: 'append'; text: string };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), ch: fc.constantFrom(...TRICKY_CHARS) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ op: fc.constant('upper' as const) }),
  fc.record({ op: fc.constant('append' as const), text: fc.constantFrom(...IPTABLES_FRAGMENTS, ...SHELL_FRAGMENTS) }),
);

function mutate(value: string, mutations: readonly Mutation[]): string {
  let v = value;
  for (const m of mutations) {
    const at = v.length === 0 ? 0 : ('at' in m ? m.at % (v.length + 1) : 0);
    if (m.op === 'insert') v = v.slice(0, at) + m.ch + v.slice(at);
    else if (m.op === 'delete') v = v.slice(0, at) + v.slice(at + 1);
    else if (m.op === 'duplicate') v = v.slice(0, at + m.len) + v.slice(at, at + m.len) + v.slice(at + m.len);
    else if (m.op === 'upper') v = v.toUpperCase();
    else v += m.text;
  }
  return v;
}

export const mutated = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([v, ms]) => mutate(v, ms));

export const KNOWN = ['ports', 'from', 'mode', 'egress'] as const;
export type KnownLabel = (typeof KNOWN)[number];

// ---------------------------------------------------------------------------------------------
// Label maps

/** Keys a typo, a stray space, a homoglyph or a prototype name away from the real ones. */
export const nearMissKeys = (prefix: string): string[] => [
  prefix,
  `${prefix}.`,
  `${prefix}.Ports`,
  `${prefix}.port`,
  `${prefix}.ports `,
  ` ${prefix}.ports`,
  `${prefix}..ports`,
  `${prefix}.ports.tcp`,
  `${prefix}.from.0`,
  `${prefix}.MODE`,
  `${prefix}.egres`,
  `${prefix}.egress\n`,
  `${prefix}.ports\u0000`,
  `${prefix.replace(/a/, '\u0430')}.ports`, // Cyrillic a
  `${prefix}.\uff50orts`, // full-width p
  `${prefix}.__proto__`,
  `${prefix}.constructor`,
  `${prefix}.toString`,
  `${prefix}.hasOwnProperty`,
  `${prefix.toUpperCase()}.PORTS`,
  `${prefix}x.ports`,
  `${prefix}-ports`,
  `com.${prefix}.ports`,
  `${prefix}_ports`,
];

const foreignKey = fc.oneof(
  fc.constantFrom('traefik.enable', 'com.docker.compose.project', 'maintainer', '__proto__', 'constructor', '', 'org.opencontainers.image.title'),
  fc.string({ unit: 'binary', maxLength: 20 }),
);

/** One label set, in one of three styles; `style` says which, for the statistics. */
export interface LabelSet {
  style: 'clean' | 'mutated' | 'hostile';
  entries: Array<[string, string]>;
}

const labelSetCache = new Map<string, fc.Arbitrary<LabelSet>>();

/** Label sets under `prefix` (built once per prefix: building arbitraries is not cheap). */
export function labelSet(prefix = 'dockgate'): fc.Arbitrary<LabelSet> {
  let arb = labelSetCache.get(prefix);
  if (!arb) {
    arb = buildLabelSet(prefix);
    if (labelSetCache.size < 1000) labelSetCache.set(prefix, arb);
  }
  return arb;
}

function buildLabelSet(prefix: string): fc.Arbitrary<LabelSet> {
  const known = (name: KnownLabel): string => `${prefix}.${name}`;
  const cleanValue = (k: KnownLabel) => fc.oneof({ weight: 4, arbitrary: validValue[k] }, { weight: 1, arbitrary: structuredValue[k] });
  const clean = fc
    .record(
      { ports: cleanValue('ports'), from: cleanValue('from'), mode: cleanValue('mode'), egress: cleanValue('egress') },
      { requiredKeys: [] },
    )
    .map((r): LabelSet => ({ style: 'clean', entries: Object.entries(r).map(([k, v]) => [known(k as KnownLabel), v as string]) }));
  const mutatedSet = fc
    .tuple(
      fc.record(
        { ports: validValue.ports, from: validValue.from, mode: validValue.mode, egress: validValue.egress },
        { requiredKeys: [] },
      ),
      fc.constantFrom(...KNOWN),
      fc.array(mutation, { minLength: 1, maxLength: 2 }),
    )
    .map(([r, which, ms]): LabelSet => {
      const values: Record<string, string> = { ...(r as Record<string, string>) };
      values[which] = mutate(values[which] ?? '', ms);
      return { style: 'mutated', entries: Object.entries(values).map(([k, v]) => [known(k as KnownLabel), v]) };
    });
  const anyKey = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...KNOWN).map(known) },
    { weight: 2, arbitrary: fc.constantFrom(...nearMissKeys(prefix)) },
    { weight: 1, arbitrary: foreignKey },
  );
  const anyValue = fc.oneof(
    { weight: 3, arbitrary: hostileValue },
    { weight: 2, arbitrary: fc.oneof(...KNOWN.map((k) => structuredValue[k])) },
    { weight: 2, arbitrary: fc.oneof(...KNOWN.map((k) => mutated(structuredValue[k]))) },
  );
  const hostile = fc
    .array(fc.tuple(anyKey, anyValue), { minLength: 0, maxLength: 6 })
    .map((entries): LabelSet => ({ style: 'hostile', entries }));
  return fc.oneof({ weight: 5, arbitrary: clean }, { weight: 2, arbitrary: mutatedSet }, { weight: 3, arbitrary: hostile });
}

/** Own properties only, including '__proto__' (Object.fromEntries defines, never sets a prototype). */
export function labelsOf(set: LabelSet): Record<string, string> {
  return Object.fromEntries(set.entries);
}

// ---------------------------------------------------------------------------------------------
// Facts around the labels

export const network: fc.Arbitrary<NetworkFacts> = fc
  .record({
    id: dockerId,
    name: dockerName,
    bridge: interfaceName,
    subnets: fc.array(cidr4(8, 30), { maxLength: 2 }),
    subnets6: fc.array(fc.constantFrom('fd00:db8:1::/64', '2001:db8:5::/64', 'fd12:3456:789a::/48'), { maxLength: 1 }),
    internal: fc.boolean(),
  });

const binding: fc.Arbitrary<PortBinding> = fc.record({
  containerPort: port,
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  hostIp: fc.oneof(
    { weight: 4, arbitrary: fc.constant('0.0.0.0') },
    { weight: 2, arbitrary: fc.constant('::') },
    { weight: 1, arbitrary: fc.constantFrom('127.0.0.1', '10.0.0.5', '::1', '2001:db8::5') },
    { weight: 1, arbitrary: ipv4 },
  ),
  hostPort: port,
});

export interface Scenario {
  prefix: string;
  defaults: PolicyDefaults;
  networks: NetworkFacts[];
  containers: ContainerFacts[];
  /** The label set each container was built from, in the same order. */
  sets: LabelSet[];
}

const defaultsArb: fc.Arbitrary<PolicyDefaults> = fc.record({
  mode: fc.constantFrom('proxy' as const, 'dnat' as const),
  from: fc.oneof(
    fc.constant<Cidr[]>([
      { family: 4, text: '0.0.0.0/0' },
      { family: 6, text: '::/0' },
    ]),
    fc.array(cidr4(8, 32), { minLength: 1, maxLength: 3 }).map((l) => [...new Set(l)].map((text): Cidr => ({ family: 4, text }))),
    fc.constant<Cidr[]>([{ family: 6, text: '2001:db8::/32' }]),
  ),
  egress: fc.constantFrom<PolicyDefaults['egress']>({ kind: 'all' }, { kind: 'none' }),
});

const attachmentArb = fc.record({
  /** Which of the scenario's networks (modulo their number), or -1: a network dockgate does not manage. */
  net: fc.oneof({ weight: 5, arbitrary: fc.nat(5) }, { weight: 1, arbitrary: fc.constant(-1) }),
  unmanaged: network,
  ipv4: fc.option(ipv4, { freq: 7, nil: undefined }),
  ipv6: fc.option(fc.constantFrom('2001:db8::2', 'fd00:db8:1::5'), { freq: 3, nil: undefined }),
});

const containerArb = (set: fc.Arbitrary<LabelSet>) =>
  fc.record({
    id: dockerId,
    name: dockerName,
    set,
    attachments: fc.array(attachmentArb, { maxLength: 2 }),
    ports: fc.array(binding, { maxLength: 4 }),
    created: fc.constantFrom('2026-01-01T00:00:00.000000000Z', '2026-01-01T00:00:00.000000001Z', '2026-06-30T12:00:00.500000000Z'),
  });

type RawContainer = typeof containerArb extends (s: never) => fc.Arbitrary<infer C> ? C : never;

function assemble(prefix: string, defaults: PolicyDefaults, networks: NetworkFacts[], cs: RawContainer[]): Scenario {
  return {
    prefix,
    defaults,
    networks,
    sets: cs.map((c) => c.set),
    containers: cs.map((c) => {
      const attached = c.attachments.map((a) => ({
        net: a.net < 0 || networks.length === 0 ? a.unmanaged : networks[a.net % networks.length]!,
        ipv4: a.ipv4,
        ipv6: a.ipv6,
      }));
      // One attachment per network, as Docker reports them.
      const unique = attached.filter((a, i) => attached.findIndex((b) => b.net.id === a.net.id) === i);
      return {
        id: c.id,
        name: c.name,
        labels: labelsOf(c.set),
        image: { kind: 'inspected' as const, ref: 'dgbox:latest', sameAsImage: [] },
        networks: unique.map((a) => ({ networkId: a.net.id, networkName: a.net.name, ipv4: a.ipv4, ipv6: a.ipv6 })),
        ports: c.ports,
        created: c.created,
      };
    }),
  };
}

const networksArb = fc.uniqueArray(network, { maxLength: 3, selector: (n) => n.bridge });
const containersArb = (set: fc.Arbitrary<LabelSet>, max: number) =>
  fc.uniqueArray(containerArb(set), { minLength: 1, maxLength: max, selector: (c) => c.id.slice(0, 12) });
const defaultContainers = new Map<number, ReturnType<typeof containersArb>>();

/**
 * Containers (with hostile, mutated and clean label sets) on a few networks, as docker/ reports
 * them. With `prefix`, labels are written under prefixes drawn from it.
 */
export function scenario(options: { prefix?: fc.Arbitrary<string>; maxContainers?: number } = {}): fc.Arbitrary<Scenario> {
  const max = options.maxContainers ?? 4;
  if (options.prefix) {
    return fc
      .tuple(options.prefix, defaultsArb, networksArb)
      .chain(([prefix, defaults, networks]) => containersArb(labelSet(prefix), max).map((cs) => assemble(prefix, defaults, networks, cs)));
  }
  let containers = defaultContainers.get(max);
  if (!containers) defaultContainers.set(max, (containers = containersArb(labelSet('dockgate'), max)));
  return fc.tuple(defaultsArb, networksArb, containers).map(([defaults, networks, cs]) => assemble('dockgate', defaults, networks, cs));
}
