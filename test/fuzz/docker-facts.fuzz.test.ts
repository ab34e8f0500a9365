// Docker answers → facts (issue 5, "Docker API answers with missing fields"): toContainerFacts and
// toNetworkFacts over inspect answers with fields missing, null, empty, of the wrong type or full
// of hostile text. They must never throw, and whatever facts they return must be clean enough to
// go straight into the planner: hex ids, Docker-grammar names, valid addresses, ports in range,
// valid interface names — and the plan built from them must pass the strict restore grammar.
//
// Three generators, from tame to wild:
//   docker-shaped  what dockerd actually sends, including missing fields, null lists, host/none
//                  networks, empty addresses and a container that died between event and inspect;
//   any-string     every string field may hold any text (Docker's API is the only thing that
//                  keeps names and addresses sane today; dockgate should not depend on it);
//   any-json       every field may hold any JSON value of any type.
// All three hold. The other two found real bugs in src/docker/facts.ts (a network name could
// inject iptables-restore lines; over-long names made comments the kernel truncates); the
// cases below pin each one down.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ContainerInspect, type ImageAnswer, type NetworkInspect, toContainerFacts, toNetworkFacts } from '../../src/docker/facts.js';
import type { ContainerFacts, NetworkFacts, PolicyDefaults } from '../../src/model/types.js';
import { parseAddress, parseCidr } from '../../src/net/address.js';
import { renderPlan } from '../../src/plan/restore.js';
import { buildRuleSet, familyRuleSet } from '../../src/plan/ruleset.js';
import { COMMON_PORTS, cidr4, dockerName, hexString, hostileValue, interfaceName, ipv4, labelSet, labelsOf } from './arbitraries.js';
import { checkRestore, describeViolations } from '../../src/plan/restore-grammar.js';

const SCALE = Number(process.env.FUZZ_SCALE ?? 1) || 1;
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));

const HEX_ID = /^[0-9a-f]{12,64}$/;
/** Docker's name grammar (container names; dockgate holds network names to it as well). */
const DOCKER_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IFNAME = /^[A-Za-z0-9_.:@-]{1,15}$/;
const DEFAULTS: PolicyDefaults = { mode: 'dnat', from: [{ family: 4, text: '0.0.0.0/0' }], egress: { kind: 'all' } };
/** An image without labels: every label is the container's own. */
const NO_IMAGE_LABELS: ImageAnswer = { kind: 'inspected', labels: {} };

function check(condition: unknown, message: () => string): void {
  if (!condition) throw new Error(message());
}

const isPort = (n: unknown): boolean => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
/** A canonical IPv4 address (what parseIPv4 accepts and formatIPv4 prints). */
const isIPv4 = (ip: unknown): boolean => {
  if (typeof ip !== 'string') return false;
  const r = parseAddress(ip);
  return r.ok && r.value.family === 4 && r.value.text === ip;
};
const isAddress = (ip: unknown): boolean => typeof ip === 'string' && parseAddress(ip).ok;
const isIPv6 = (ip: unknown): boolean => typeof ip === 'string' && ip.includes(':') && parseAddress(ip).ok;

/** Everything a ContainerFacts must be, whatever the input was. */
function checkContainer(input: unknown, f: ContainerFacts): void {
  const show = () => `\n  input: ${JSON.stringify(input)}\n  facts: ${JSON.stringify(f)}`;
  check((input as { State?: { Running?: unknown } }).State?.Running === true, () => `facts for a container that is not running${show()}`);
  check(typeof f.id === 'string' && HEX_ID.test(f.id), () => `id is not hex${show()}`);
  check(typeof f.name === 'string' && DOCKER_NAME.test(f.name), () => `name outside Docker's grammar${show()}`);
  check(typeof f.labels === 'object' && f.labels !== null && !Array.isArray(f.labels), () => `labels not a mapping${show()}`);
  for (const [k, v] of Object.entries(f.labels)) check(typeof v === 'string', () => `label ${JSON.stringify(k)} is not a string${show()}`);
  // The image's name reaches log lines and status: plain printable text only.
  check(/^[A-Za-z0-9(][A-Za-z0-9_./:@()-]*$/.test(f.image.ref), () => `image ref ${JSON.stringify(f.image.ref)} is not plain text${show()}`);
  check(Array.isArray(f.networks) && Array.isArray(f.ports), () => `networks/ports not lists${show()}`);
  for (const n of f.networks) {
    check(typeof n.networkId === 'string' && HEX_ID.test(n.networkId), () => `network id ${JSON.stringify(n.networkId)} is not hex${show()}`);
    check(typeof n.networkName === 'string' && n.networkName !== '', () => `network name${show()}`);
    check(n.ipv4 === undefined || isIPv4(n.ipv4), () => `ipv4 ${JSON.stringify(n.ipv4)} is not a canonical IPv4 address${show()}`);
    check(n.ipv6 === undefined || isIPv6(n.ipv6), () => `ipv6 ${JSON.stringify(n.ipv6)} is not an IPv6 address${show()}`);
  }
  for (const p of f.ports) {
    check(isPort(p.containerPort) && isPort(p.hostPort), () => `port out of range ${JSON.stringify(p)}${show()}`);
    check(p.protocol === 'tcp' || p.protocol === 'udp', () => `protocol ${JSON.stringify(p)}${show()}`);
    check(isAddress(p.hostIp), () => `host IP ${JSON.stringify(p.hostIp)} is not an address${show()}`);
  }
}

/** Everything a NetworkFacts must be. */
function checkNetwork(input: unknown, f: NetworkFacts): void {
  const show = () => `\n  input: ${JSON.stringify(input)}\n  facts: ${JSON.stringify(f)}`;
  check((input as NetworkInspect).Driver === 'bridge', () => `facts for a non-bridge network${show()}`);
  check(typeof f.id === 'string' && HEX_ID.test(f.id), () => `id is not hex${show()}`);
  check(typeof f.name === 'string' && DOCKER_NAME.test(f.name), () => `name ${JSON.stringify(f.name)} outside Docker's name grammar${show()}`);
  check(typeof f.bridge === 'string' && IFNAME.test(f.bridge) && f.bridge !== '.' && f.bridge !== '..', () => `bridge ${JSON.stringify(f.bridge)} is not an interface name${show()}`);
  check(Array.isArray(f.subnets), () => `subnets not a list${show()}`);
  for (const s of f.subnets) {
    const r = parseCidr(s);
    check(r.ok && r.value.family === 4 && r.value.text === s, () => `subnet ${JSON.stringify(s)} is not a canonical IPv4 CIDR${show()}`);
  }
}

/** Runs both conversions on a batch, checks each result, then plans with them and checks the text. */
function checkBatch(containers: readonly unknown[], networks: readonly unknown[]): void {
  const cfacts: ContainerFacts[] = [];
  for (const c of containers) {
    const f = toContainerFacts(c as ContainerInspect, NO_IMAGE_LABELS);
    if (f) {
      checkContainer(c, f);
      cfacts.push(f);
    }
  }
  const nfacts: NetworkFacts[] = [];
  for (const n of networks) {
    const f = toNetworkFacts(n as NetworkInspect);
    if (f) {
      checkNetwork(n, f);
      nfacts.push(f);
    }
  }
  // Docker never reports two networks with one id or one bridge, or two containers with one id.
  const uniqueNets = nfacts.filter((n, i) => nfacts.findIndex((m) => m.id === n.id || m.bridge === n.bridge) === i);
  const uniqueContainers = cfacts.filter((c, i) => cfacts.findIndex((d) => d.id.slice(0, 12) === c.id.slice(0, 12)) === i);
  const plan = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: uniqueContainers, networks: uniqueNets });
  const text = renderPlan(plan);
  const v6 = familyRuleSet(plan, 6);
  const violations = [...checkRestore(text), ...(v6 ? checkRestore(renderPlan(v6), { family: 6 }) : [])];
  check(violations.length === 0, () => `plan from these facts breaks the restore grammar:\n${describeViolations(violations)}\n--- facts ---\n${JSON.stringify({ uniqueContainers, uniqueNets })}`);
}

// ---------------------------------------------------------------------------------------------
// Generators. `field(good, bad)` leaves a field out, sets it to null, or to good or bad values.

type Level = 'docker' | 'strings' | 'json';

const anyJson = fc.anything({ maxDepth: 2, maxKeys: 4, withNullPrototype: true });
const anyText = fc.oneof(fc.string({ unit: 'binary', maxLength: 30 }), hostileValue, fc.string({ maxLength: 300 }));

function gen(level: Level) {
  /** A field that Docker types as a string. */
  const str = (good: fc.Arbitrary<string>): fc.Arbitrary<unknown> =>
    level === 'docker' ? good : level === 'strings' ? fc.oneof({ weight: 3, arbitrary: good }, { weight: 2, arbitrary: anyText }) : fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: anyText }, { weight: 1, arbitrary: anyJson });
  /** Any other field: of its Docker type, or (json) anything at all. */
  const val = <T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> => (level === 'json' ? fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: anyJson }) : good);
  const nullable = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.oneof({ weight: 5, arbitrary: a }, { weight: 1, arbitrary: fc.constant(null) });
  const record = <T extends Record<string, fc.Arbitrary<unknown>>>(shape: T) => fc.record(shape, { requiredKeys: [] });

  const id = str(fc.oneof({ weight: 8, arbitrary: hexString(32) }, { weight: 1, arbitrary: fc.constantFrom('', 'abc', 'ABCDEF0123456789'.repeat(4), `sha256:${'a'.repeat(64)}`, 'a'.repeat(65)) }, { weight: 1, arbitrary: hexString(6) }));
  const portKey = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...COMMON_PORTS), fc.constantFrom('tcp', 'udp')).map(([p, pr]) => `${p}/${pr}`) },
    { weight: 1, arbitrary: fc.constantFrom('80/sctp', '0/tcp', '65536/udp', '99999/tcp', '80', 'tcp/80', '080/tcp', '') },
  );
  // Docker writes `"80/tcp": null` for an exposed but unpublished port, never a null binding.
  const hostBinding = (level === 'json' ? nullable : <T>(a: fc.Arbitrary<T>) => a)(
    val(
      record({
        HostIp: str(fc.constantFrom('', '0.0.0.0', '::', '127.0.0.1', '::1', '10.0.0.5', '2001:db8::5')),
        HostPort: str(fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...COMMON_PORTS).map(String) }, { weight: 1, arbitrary: fc.constantFrom('', '0', '65536', '1e3', ' 80', '80.5', '-1') })),
      }),
    ),
  );
  const ports = nullable(val(fc.dictionary(portKey, nullable(val(fc.array(hostBinding, { maxLength: 3 }))), { maxKeys: 4 })));
  const attachment = nullable(
    val(
      record({
        NetworkID: str(fc.oneof({ weight: 8, arbitrary: hexString(32) }, { weight: 1, arbitrary: fc.constant('') })),
        IPAddress: str(fc.oneof({ weight: 6, arbitrary: ipv4 }, { weight: 2, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constantFrom('172.17.0.02', '1.2.3', '::1') })),
        GlobalIPv6Address: str(fc.constantFrom('', '', '2001:db8::2', 'fd00::1')),
      }),
    ),
  );
  const networks = nullable(val(fc.dictionary(fc.oneof(dockerName, fc.constantFrom('bridge', 'host', 'none')), attachment, { maxKeys: 3 })));
  const labels = nullable(val(fc.oneof(labelSet('dockgate').map(labelsOf), fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }))));
  const state = val(record({ Running: val(fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.boolean() })), Paused: val(fc.boolean()), Restarting: val(fc.boolean()) }));

  const containerName = str(
    fc.oneof(
      { weight: 8, arbitrary: dockerName.map((n) => `/${n}`) },
      { weight: 1, arbitrary: fc.constantFrom('', '/', '/-x', '/a b', '/x/y', 'plain', '/_x', '/.x') },
    ),
  );
  const container: fc.Arbitrary<unknown> = record({
    Id: id,
    Name: containerName,
    State: state,
    Config: nullable(val(record({ Labels: labels }))),
    NetworkSettings: nullable(val(record({ Ports: ports, Networks: networks }))),
  });

  const bridgeOption = str(fc.oneof({ weight: 4, arbitrary: interfaceName }, { weight: 1, arbitrary: fc.constantFrom('', 'x'.repeat(16), 'a b', 'br0\n') }));
  const network: fc.Arbitrary<unknown> = record({
    Id: id,
    Name: str(fc.oneof({ weight: 8, arbitrary: dockerName }, { weight: 1, arbitrary: fc.constantFrom('bridge', 'my_net', 'compose_default') })),
    Driver: str(fc.oneof({ weight: 6, arbitrary: fc.constant('bridge') }, { weight: 1, arbitrary: fc.constantFrom('host', 'null', 'overlay', 'macvlan', '') })),
    Options: nullable(val(fc.oneof(record({ 'com.docker.network.bridge.name': bridgeOption }), fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 2 })))),
    IPAM: nullable(
      val(
        record({
          Config: nullable(
            val(
              fc.array(
                val(record({ Subnet: str(fc.oneof({ weight: 6, arbitrary: cidr4(8, 30) }, { weight: 1, arbitrary: fc.constantFrom('', '2001:db8::/64', '172.17.0.1/16', '10.0.0.0', 'x') })), Gateway: str(ipv4) })),
                { maxLength: 3 },
              ),
            ),
          ),
        }),
      ),
    ),
  });
  const top = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<unknown> => (level === 'json' ? fc.oneof({ weight: 8, arbitrary: a }, { weight: 1, arbitrary: anyJson }) : a);
  return {
    containers: fc.array(top(container), { maxLength: 4 }),
    networks: fc.array(top(network), { maxLength: 3 }),
  };
}

const DOCKER = gen('docker');
const STRINGS = gen('strings');
const JSONISH = gen('json');

/** How many generated answers turned into facts, so the properties are known not to be vacuous. */
function property(g: ReturnType<typeof gen>) {
  const seen = { containers: 0, containerFacts: 0, networks: 0, networkFacts: 0 };
  const prop = fc.property(g.containers, g.networks, (containers, networks) => {
    seen.containers += containers.length;
    seen.networks += networks.length;
    seen.containerFacts += containers.filter((c) => toContainerFacts(c as ContainerInspect, NO_IMAGE_LABELS) !== undefined).length;
    seen.networkFacts += networks.filter((n) => toNetworkFacts(n as NetworkInspect) !== undefined).length;
    checkBatch(containers, networks);
  });
  return { prop, seen };
}

describe('docker facts fuzz', () => {
  it('Docker-shaped answers (missing fields, nulls, host/none networks, dead containers): never a throw, clean facts, a valid plan', () => {
    const { prop, seen } = property(DOCKER);
    fc.assert(prop, { numRuns: runs(2500) });
    // Not vacuous: most answers become facts.
    expect(seen.containerFacts / seen.containers).toBeGreaterThan(0.3);
    expect(seen.networkFacts / seen.networks).toBeGreaterThan(0.3);
  });

  it('containers that are not running, or not containers at all, give no facts', () => {
    const id = 'ab'.repeat(32);
    for (const info of [{}, { Id: id }, { Id: id, State: {} }, { Id: id, State: { Running: false } }, { Id: id, State: null }, { Id: '', State: { Running: true } }]) {
      expect(toContainerFacts(info as ContainerInspect, NO_IMAGE_LABELS), JSON.stringify(info)).toBeUndefined();
    }
    for (const info of [{}, { Id: id }, { Id: id, Driver: 'host' }, { Id: 'xyz', Driver: 'bridge' }]) {
      expect(toNetworkFacts(info as NetworkInspect), JSON.stringify(info)).toBeUndefined();
    }
  });

  it('any text in any string field: names and addresses are checked, never passed through', () => {
    fc.assert(property(STRINGS).prop, { numRuns: runs(2000) });
  });

  it('any JSON type in any field: no TypeError, no non-string id or bridge', () => {
    fc.assert(property(JSONISH).prop, { numRuns: runs(2000) });
  });
});

// ---------------------------------------------------------------------------------------------
// The bugs the wider generators find, one exact input each. Change it.fails to it once fixed.

const ID = 'ab'.repeat(32);
const RUNNING = { Running: true };

function planText(containers: ContainerFacts[], networks: NetworkFacts[]): string {
  return renderPlan(buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks }));
}

describe('bugs the fuzz found in src/docker/facts.ts, now fixed', () => {
  it('a network Name is not checked: a newline in it writes arbitrary lines into iptables-restore', () => {
    // Docker accepts any non-empty network name (moby#45985), e.g. `docker network create "$(printf 'x\nCOMMIT\n...')"`.
    const name = 'x"\nCOMMIT\n*filter\n-I INPUT 1 -s 203.0.113.0/24 -j ACCEPT\nCOMMIT\n*raw\n#';
    const net = toNetworkFacts({ Id: ID, Name: name, Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.30.0.0/16' }] } });
    expect(net).toBeDefined();
    // Today the text holds `-I INPUT 1 -s 203.0.113.0/24 -j ACCEPT` as a line of its own, and
    // iptables-restore commits it to the host's filter table before failing on a later line.
    expect(describeViolations(checkRestore(planText([], [net!])))).toBe('');
    expect(net!.name, 'name held to Docker name grammar').toMatch(DOCKER_NAME);
  });

  it('a long network name makes comments longer than xt_comment keeps (255), so the rules never read back equal', () => {
    const net = toNetworkFacts({ Id: ID, Name: 'n'.repeat(240), Driver: 'bridge', IPAM: { Config: [{ Subnet: '172.30.0.0/16' }] } });
    expect(describeViolations(checkRestore(planText([], [net!])))).toBe('');
  });

  it('a long container name (valid in Docker) makes the name/shortid comment longer than 255', () => {
    const facts = toContainerFacts({ Id: ID, Name: `/${'c'.repeat(250)}`, State: RUNNING, Config: { Labels: { 'dockgate.ports': '80', 'dockgate.egress': 'true' } }, NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] }, Networks: { b: { NetworkID: 'cd'.repeat(32), IPAddress: '172.17.0.2' } } } }, NO_IMAGE_LABELS);
    const net: NetworkFacts = { id: 'cd'.repeat(32), name: 'b', bridge: 'docker0', subnets: ['172.17.0.0/16'], subnets6: [], internal: false };
    expect(describeViolations(checkRestore(planText([facts!], [net])))).toBe('');
  });

  it('a port binding HostIp is not checked: its text reaches the -d option of an ACCEPT rule', () => {
    const facts = toContainerFacts({ Id: ID, Name: '/web', State: RUNNING, Config: { Labels: { 'dockgate.ports': '80' } }, NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '10.0.0.1/0 -p udp', HostPort: '8080' }] } } }, NO_IMAGE_LABELS);
    // Dropped, not repaired: a binding whose address is not an address opens nothing.
    for (const b of facts!.ports) expect(b.hostIp, 'host IP is an address').toSatisfy(isAddress);
    expect(describeViolations(checkRestore(planText([facts!], [])))).toBe('');
  });

  it('GlobalIPv6Address and NetworkID are not checked', () => {
    const facts = toContainerFacts({ Id: ID, Name: '/web', State: RUNNING, NetworkSettings: { Networks: { b: { NetworkID: 'not an id', IPAddress: '172.17.0.2', GlobalIPv6Address: 'hello' } } } }, NO_IMAGE_LABELS);
    for (const n of facts!.networks) {
      expect(n.ipv6).toSatisfy((v: string | undefined) => v === undefined || isIPv6(v));
      expect(n.networkId).toMatch(HEX_ID);
    }
    const v6 = toContainerFacts({ Id: ID, Name: '/web', State: RUNNING, NetworkSettings: { Networks: { b: { NetworkID: ID, IPAddress: '172.17.0.2', GlobalIPv6Address: 'hello' } } } }, NO_IMAGE_LABELS);
    expect(v6!.networks[0]!.ipv6).toBeUndefined();
  });

  const THROWS: Array<[string, () => unknown]> = [
    ['Ports entry that is not a list: {"80/tcp": {}}', () => toContainerFacts({ Id: ID, State: RUNNING, NetworkSettings: { Ports: { '80/tcp': {} } } } as unknown as ContainerInspect, NO_IMAGE_LABELS)],
    ['null binding in a Ports list: {"80/tcp": [null]}', () => toContainerFacts({ Id: ID, State: RUNNING, NetworkSettings: { Ports: { '80/tcp': [null] } } } as unknown as ContainerInspect, NO_IMAGE_LABELS)],
    ['IPAddress that is not a string: 5', () => toContainerFacts({ Id: ID, State: RUNNING, NetworkSettings: { Networks: { n: { NetworkID: ID, IPAddress: 5 } } } } as unknown as ContainerInspect, NO_IMAGE_LABELS)],
    ['Name that is not a string: 5', () => toContainerFacts({ Id: ID, State: RUNNING, Name: 5 } as unknown as ContainerInspect, NO_IMAGE_LABELS)],
    ['the answer itself is null', () => toContainerFacts(null as unknown as ContainerInspect, NO_IMAGE_LABELS)],
    ['IPAM.Config that is not a list: {}', () => toNetworkFacts({ Id: ID, Driver: 'bridge', IPAM: { Config: {} } } as unknown as NetworkInspect)],
    ['null entry in IPAM.Config: [null]', () => toNetworkFacts({ Id: ID, Driver: 'bridge', IPAM: { Config: [null] } } as unknown as NetworkInspect)],
    ['Subnet that is not a string: 5', () => toNetworkFacts({ Id: ID, Driver: 'bridge', IPAM: { Config: [{ Subnet: 5 }] } } as unknown as NetworkInspect)],
  ];
  for (const [what, call] of THROWS) {
    it(`does not throw on a wrongly typed answer — ${what}`, () => {
      expect(call).not.toThrow();
    });
  }

  it('wrongly typed fields pass through as facts: Id ["<hex>"] becomes an array id, bridge option 12345 a number', () => {
    const c = toContainerFacts({ Id: [ID], State: RUNNING } as unknown as ContainerInspect, NO_IMAGE_LABELS);
    const n = toNetworkFacts({ Id: ID, Driver: 'bridge', Options: { 'com.docker.network.bridge.name': 12345 } } as unknown as NetworkInspect);
    expect(c === undefined || typeof c.id === 'string').toBe(true);
    expect(n === undefined || typeof n.bridge === 'string').toBe(true);
  });

  it('bridge names "." and ".." are accepted (Linux refuses them; the config schema refuses them too)', () => {
    const n = toNetworkFacts({ Id: ID, Driver: 'bridge', Options: { 'com.docker.network.bridge.name': '..' } });
    expect(n === undefined || (n.bridge !== '.' && n.bridge !== '..')).toBe(true);
  });

  it('non-string label values pass through into ContainerFacts.labels', () => {
    const c = toContainerFacts({ Id: ID, State: RUNNING, Config: { Labels: { 'dockgate.ports': 80 } } } as unknown as ContainerInspect, NO_IMAGE_LABELS);
    expect(Object.values(c!.labels).every((v) => typeof v === 'string')).toBe(true);
  });
});
