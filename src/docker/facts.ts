// Docker's inspect answers → plain facts. Docker omits fields freely (no networks for
// --network none, null port lists, half-torn-down containers), and anything it returns may end
// up in a rule or a rule's comment, so every field is read defensively, checked against a
// grammar, and dropped (or replaced by the id) when it does not fit. Never throws.
import type { ContainerFacts, ContainerImage, NetworkAttachment, NetworkFacts, OtherNetwork, PortBinding } from '../model/types.js';
import { parseAddress, parseCidr, parseIPv4 } from '../net/address.js';
import { byText } from '../util/compare.js';
import { IFNAME } from '../net/ifname.js';

/** The subset of `docker inspect <container>` that dockgate reads (shape not guaranteed). */
export interface ContainerInspect {
  Id?: unknown;
  Name?: unknown;
  Created?: unknown;
  State?: unknown;
  Config?: unknown;
  Image?: unknown;
  NetworkSettings?: unknown;
  HostConfig?: unknown;
}

/** What `docker image inspect` said of a container's image: its labels, or why there are none to compare with. */
export type ImageAnswer = { kind: 'inspected'; labels: unknown } | { kind: 'unknown'; reason: string };

/** The subset of `docker network inspect` that dockgate reads (shape not guaranteed). */
export interface NetworkInspect {
  Id?: unknown;
  Name?: unknown;
  Driver?: unknown;
  Internal?: unknown;
  EnableIPv6?: unknown;
  Options?: unknown;
  IPAM?: unknown;
}

const BRIDGE_NAME_OPTION = 'com.docker.network.bridge.name';
const HEX_ID = /^[0-9a-f]{12,64}$/;
/** Docker's own name grammar, with a length cap so `name/shortid` stays far below the kernel's 255-byte comment limit. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

const CREATED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;
/** Docker's epoch for "unknown": sorts such a container after every dated one. */
export const UNKNOWN_CREATED = '9999-12-31T23:59:59.999999999Z';

/** RFC 3339 UTC with exactly nine fraction digits, so that comparing the text compares the time. */
export function normaliseCreated(v: unknown): string {
  const m = typeof v === 'string' ? CREATED.exec(v) : null;
  if (!m) return UNKNOWN_CREATED;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
/** A MAC reaches an nft set element: only the canonical form, else none (the interface is then not held to one). */
const macOf = (v: unknown): { mac?: string } => {
  const mac = str(v).toLowerCase();
  return MAC.test(mac) ? { mac } : {};
};
const pidOf = (v: unknown): { pid?: number } => (typeof v === 'number' && Number.isInteger(v) && v > 1 ? { pid: v } : {});

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
/** An image reference as `docker run` takes it (name[:tag][@digest], or an id), capped for log lines. */
const IMAGE_REF = /^[A-Za-z0-9][A-Za-z0-9_./:@-]{0,199}$/;

/** The id of the container's image, by which its labels can be looked up; undefined when Docker names none. */
export function imageIdOf(info: unknown): string | undefined {
  const id = obj(info).Image;
  return typeof id === 'string' && IMAGE_ID.test(id) ? id : undefined;
}

/** Which labels may be the image's: those whose value equals the image's own. */
function containerImage(root: Obj, labels: Record<string, string>, answer: ImageAnswer): ContainerImage {
  const named = str(obj(root.Config).Image);
  const id = imageIdOf(root);
  const ref = IMAGE_REF.test(named) ? named : id !== undefined ? id.slice(7, 19) : '(unnamed)';
  if (answer.kind === 'unknown') return { kind: 'unknown', ref, reason: answer.reason };
  const own = obj(answer.labels);
  const sameAsImage = Object.keys(labels)
    .filter((k) => Object.hasOwn(own, k) && own[k] === labels[k])
    .sort();
  return { kind: 'inspected', ref, sameAsImage };
}

function toBinding(key: string, hostIpRaw: unknown, hostPortRaw: unknown): PortBinding | undefined {
  const m = /^([1-9][0-9]{0,4})\/(tcp|udp)$/.exec(key);
  const hostPortText = str(hostPortRaw);
  if (!m || !/^[1-9][0-9]{0,4}$/.test(hostPortText)) return undefined;
  const containerPort = Number(m[1]);
  const hostPort = Number(hostPortText);
  if (containerPort > 65535 || hostPort > 65535) return undefined;
  const hostIpText = str(hostIpRaw);
  let hostIp = '0.0.0.0';
  if (hostIpText !== '') {
    const parsed = parseAddress(hostIpText);
    if (!parsed.ok) return undefined;
    hostIp = parsed.value.text;
  }
  return { containerPort, protocol: m[2] as 'tcp' | 'udp', hostIp, hostPort };
}

/**
 * Undefined when the answer is not a usable running container. `image` is what image inspect
 * said of the image `imageIdOf(info)` names.
 */
export function toContainerFacts(info: unknown, image: ImageAnswer): ContainerFacts | undefined {
  const root = obj(info);
  const id = str(root.Id);
  if (!HEX_ID.test(id) || obj(root.State).Running !== true) return undefined;
  const rawName = str(root.Name).replace(/^\//, '');
  const settings = obj(root.NetworkSettings);

  const ports: PortBinding[] = [];
  for (const [key, bindings] of Object.entries(obj(settings.Ports))) {
    for (const b of list(bindings)) {
      const binding = toBinding(key, obj(b).HostIp, obj(b).HostPort);
      if (binding) ports.push(binding);
    }
  }

  const networks: NetworkAttachment[] = [];
  for (const [networkName, raw] of Object.entries(obj(settings.Networks))) {
    const n = obj(raw);
    const networkId = str(n.NetworkID);
    if (!HEX_ID.test(networkId)) continue;
    const ip = str(n.IPAddress);
    const ip6 = str(n.GlobalIPv6Address);
    const v6 = ip6 === '' ? undefined : parseAddress(ip6);
    networks.push({
      networkId,
      networkName: NAME.test(networkName) ? networkName : networkId.slice(0, 12),
      ...(parseIPv4(ip) !== undefined ? { ipv4: ip } : {}),
      ...(v6?.ok && v6.value.family === 6 ? { ipv6: v6.value.text } : {}),
      ...macOf(n.MacAddress),
    });
  }
  networks.sort((a, b) => byText(a.networkName, b.networkName));

  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(obj(root.Config).Labels))) if (typeof v === 'string') labels[k] = v;

  const started = normaliseCreated(obj(root.State).StartedAt);
  return {
    id,
    name: NAME.test(rawName) ? rawName : id.slice(0, 12),
    labels,
    image: containerImage(root, labels, image),
    networks,
    ports,
    created: normaliseCreated(root.Created),
    ...pidOf(obj(root.State).Pid),
    ...(started === UNKNOWN_CREATED ? {} : { started }),
    // Docker lists a `host` network for it, with no address: what marks it is the mode.
    ...(obj(root.HostConfig).NetworkMode === 'host' ? { hostNetwork: true as const } : {}),
  };
}

/** Undefined for anything that is not a Linux bridge network dockgate can manage. */
export function toNetworkFacts(info: unknown): NetworkFacts | undefined {
  const root = obj(info);
  const id = str(root.Id);
  if (root.Driver !== 'bridge' || !HEX_ID.test(id)) return undefined;
  const option = str(obj(root.Options)[BRIDGE_NAME_OPTION]);
  const bridge = option || `br-${id.slice(0, 12)}`;
  if (!IFNAME.test(bridge)) return undefined;
  const subnets: string[] = [];
  const subnets6: string[] = [];
  for (const c of list(obj(root.IPAM).Config)) {
    const subnet = str(obj(c).Subnet);
    const parsed = subnet ? parseCidr(subnet) : undefined;
    if (parsed?.ok && parsed.value.family === 4) subnets.push(parsed.value.text);
    // Docker lists an IPv6 pool only for networks created with --ipv6 (EnableIPv6).
    if (parsed?.ok && parsed.value.family === 6 && root.EnableIPv6 === true) subnets6.push(parsed.value.text);
  }
  const name = str(root.Name);
  return { id, name: NAME.test(name) ? name : id.slice(0, 12), bridge, subnets, subnets6, internal: root.Internal === true };
}

const DRIVER = /^[A-Za-z0-9_.-]{1,64}$/;

/** Networks of any driver but `bridge` (and Docker's `none`), so that their containers can be reported. */
export function toOtherNetwork(info: unknown): OtherNetwork | undefined {
  const root = obj(info);
  const id = str(root.Id);
  const driver = str(root.Driver);
  if (!HEX_ID.test(id) || driver === 'bridge' || driver === 'null' || !DRIVER.test(driver)) return undefined;
  const name = str(root.Name);
  return { id, name: NAME.test(name) ? name : id.slice(0, 12), driver };
}
