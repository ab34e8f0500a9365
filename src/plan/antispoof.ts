// Anti-spoofing on the bridge ports: a container sends only from its own addresses. Every rule
// dockgate keys on a source address (egress accepts, the guards of containers without egress,
// DNAT's `from`) holds only if that is true, and a container has CAP_NET_RAW by default.
//
// Enforced in an nft table of the bridge family, `bridge dockgate`, owned whole by dockgate: its
// prerouting hook sees every frame as it enters a bridge port, before the bridge learns its MAC,
// forwards it to a neighbour or hands it to the host (proxy ports, DNAT, routing). No
// br_netfilter, no bridge-nf-call-* sysctl, nothing in iptables. The chain is fixed; what changes
// with containers lives in sets, so one container's start or stop is a few element writes.
//
// Pure: (containers, networks, the host ends of their interfaces) → BridgeFilter → nft text.
import type { BridgeFilter, BridgePort, ContainerFacts, NetworkFacts, PortOwner } from '../model/types.js';
import { formatIPv6, parseIPv6 } from '../net/address.js';
import { IFNAME } from '../net/ifname.js';
import { byText } from '../util/compare.js';
import { bridgeAttachments } from './openings.js';
import { type DropLogSettings, dropPrefix } from './drop-log.js';

export const BRIDGE_FAMILY = 'bridge';
export const BRIDGE_TABLE = 'dockgate';
export const BRIDGE_CHAIN = 'ports';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * The IPv6 link-local address the kernel gives an interface with this MAC (EUI-64, the default
 * addr_gen_mode, which Docker leaves alone): fe80::/64 with the MAC split by ff:fe and its
 * universal/local bit flipped. Anti-spoofing lets the container send from this one link-local
 * address, and the guards of a container without egress cover it.
 */
export function linkLocalOf(mac: string): string | undefined {
  if (!MAC.test(mac)) return undefined;
  const b = mac.split(':').map((h) => parseInt(h, 16));
  b[0] = b[0]! ^ 0x02;
  const iid = [b[0]!, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!].reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
  return formatIPv6((0xfe80n << 112n) | iid);
}

/**
 * One owner per container interface on a managed bridge (internal ones included: a forged
 * address inside them is as good as any). An interface whose MAC Docker did not report cannot be
 * held to anything and is left out; one whose host port is unknown still makes its addresses
 * known, so nobody else may send from them.
 */
export function bridgeFilter(
  containers: readonly ContainerFacts[],
  networks: ReadonlyMap<string, NetworkFacts>,
  ports: readonly BridgePort[],
  comment: (c: ContainerFacts) => string,
): BridgeFilter {
  const portOf = new Map(ports.map((p) => [`${p.containerId}/${p.networkId}`, p.port]));
  const owners: PortOwner[] = [];
  for (const c of containers) {
    const seen = new Set<string>();
    for (const family of [4, 6] as const) {
      for (const { attachment: a, network } of bridgeAttachments(c, networks, family)) {
        if (seen.has(a.networkId)) continue;
        seen.add(a.networkId);
        const ll = a.mac === undefined ? undefined : linkLocalOf(a.mac);
        if (a.mac === undefined || ll === undefined) continue;
        const port = portOf.get(`${c.id}/${a.networkId}`);
        owners.push({
          comment: comment(c),
          bridge: network.bridge,
          port: port !== undefined && IFNAME.test(port) ? port : undefined,
          mac: a.mac,
          ipv4: a.ipv4 === undefined ? [] : [a.ipv4],
          ipv6: [...(a.ipv6 === undefined ? [] : [a.ipv6]), ll],
        });
      }
    }
  }
  owners.sort((x, y) => byText(x.bridge, y.bridge) || byText(x.mac, y.mac) || byText(x.comment, y.comment));
  return { owners };
}

export type SetName = 'ports' | 'macs' | 'own4' | 'own6' | 'known4' | 'known6';

const SET_TYPES: Record<SetName, string> = {
  ports: 'ifname',
  macs: 'ifname . ether_addr',
  own4: 'ifname . ipv4_addr',
  own6: 'ifname . ipv6_addr',
  known4: 'ipv4_addr',
  known6: 'ipv6_addr',
};
export const SET_NAMES = Object.keys(SET_TYPES) as SetName[];

/** A set element: its key as nft prints it (`"veth1" . 172.17.0.2`), and the container it is for. */
export interface Element {
  key: string;
  comment: string;
}

export const quotedPort = (port: string): string => `"${port}"`;
/**
 * Memory of canonicalIPv6: the same few addresses per container are keyed at every sync (the
 * diff keys the old and the new table) and at every read of the kernel's table, and parsing and
 * formatting one costs ~10 µs: 100 ms per sync at 1,000 containers without it. Bounded: emptied
 * when full, so addresses of containers long gone do not pile up.
 */
const canonical6 = new Map<string, string>();
const CANONICAL6_MAX = 65_536;

/** nft prints IPv6 as RFC 5952; so must the keys compared with what it prints. */
export const canonicalIPv6 = (ip: string): string => {
  const known = canonical6.get(ip);
  if (known !== undefined) return known;
  const n = parseIPv6(ip);
  const text = n === undefined ? ip : formatIPv6(n);
  if (canonical6.size >= CANONICAL6_MAX) canonical6.clear();
  canonical6.set(ip, text);
  return text;
};

/** The elements of each set, deduplicated by key (first comment wins), in a stable order. */
export function elements(filter: BridgeFilter): Record<SetName, Element[]> {
  const out = Object.fromEntries(SET_NAMES.map((s) => [s, new Map<string, Element>()])) as Record<SetName, Map<string, Element>>;
  const add = (set: SetName, key: string, comment: string): void => {
    if (!out[set].has(key)) out[set].set(key, { key, comment });
  };
  for (const o of filter.owners) {
    for (const ip of o.ipv4) add('known4', ip, o.comment);
    for (const ip of o.ipv6) add('known6', canonicalIPv6(ip), o.comment);
    if (o.port === undefined) continue;
    const p = quotedPort(o.port);
    add('ports', p, o.comment);
    add('macs', `${p} . ${o.mac}`, o.comment);
    for (const ip of o.ipv4) add('own4', `${p} . ${ip}`, o.comment);
    for (const ip of o.ipv6) add('own6', `${p} . ${canonicalIPv6(ip)}`, o.comment);
  }
  return Object.fromEntries(SET_NAMES.map((s) => [s, [...out[s].values()].sort((a, b) => byText(a.key, b.key))])) as Record<SetName, Element[]>;
}

/**
 * The fixed chain. A known port (one dockgate found the container for) sends only with its
 * container's MAC, from its container's addresses, and only IPv4, IPv6 and ARP; an address dockgate
 * knows, from whatever port, is accepted only on its own port (so a container whose port is not
 * known yet, or not any more, can forge no one). `::` is let through for what needs it before an
 * address is usable: duplicate address detection and MLD reports. A drop here is final for the
 * frame; nothing here accepts anything that another table would drop.
 */
export const CHAIN_RULES: readonly string[] = [
  'iifname @ports iifname . ether saddr != @macs drop comment "dockgate port sends with a MAC not its own"',
  'ether type arp arp saddr ip @known4 iifname . arp saddr ip != @own4 drop comment "dockgate container address from another port"',
  'ether type arp iifname @ports arp saddr ip != 0.0.0.0 iifname . arp saddr ip != @own4 drop comment "dockgate port sends from an address not its own"',
  'ether type ip ip saddr @known4 iifname . ip saddr != @own4 drop comment "dockgate container address from another port"',
  'ether type ip iifname @ports iifname . ip saddr != @own4 drop comment "dockgate port sends from an address not its own"',
  'ether type ip6 ip6 saddr @known6 iifname . ip6 saddr != @own6 drop comment "dockgate container address from another port"',
  'ether type ip6 iifname @ports ip6 saddr :: icmpv6 type { nd-neighbor-solicit, mld-listener-report, mld2-listener-report } accept comment "dockgate address detection"',
  'ether type ip6 iifname @ports iifname . ip6 saddr != @own6 drop comment "dockgate port sends from an address not its own"',
  'iifname @ports ether type != { ip, ip6, arp } drop comment "dockgate port sends neither IP nor ARP"',
];

const TABLE_REF = `${BRIDGE_FAMILY} ${BRIDGE_TABLE}`;

/** The named limit all spoofed-log rules share: one bucket for the reason, as hashlimit's dg-REASON in iptables. */
export const SPOOF_LIMIT = 'dg-spoofed';
const DROP_VERDICT = ' drop comment ';

/**
 * The chain with the drop log on: in front of each drop, a rule with its matches that logs to
 * the NFLOG group through the shared limit. Made from CHAIN_RULES, dockgate's own constant, so
 * the two cannot drift apart. The reader attributes these by source MAC (the IP-spoofing rules
 * come after the MAC check, so the frame carries the container's own).
 */
export function chainRules(log: DropLogSettings | undefined): string[] {
  if (log === undefined) return [...CHAIN_RULES];
  return CHAIN_RULES.flatMap((r) => {
    const at = r.indexOf(DROP_VERDICT);
    if (at < 0) return [r];
    return [`${r.slice(0, at)} limit name "${SPOOF_LIMIT}" log prefix "${dropPrefix('spoofed', undefined)}" group ${log.group}`, r];
  });
}

function elementText(e: Element): string {
  return `${e.key} comment "${e.comment.replace(/[^A-Za-z0-9_./: -]/g, '_')}"`;
}

/** The skeleton: sets without elements and the chain (what the scratch namespace canonicalises). */
function skeleton(withElements?: Record<SetName, Element[]>, log?: DropLogSettings): string[] {
  const lines = [`table ${TABLE_REF} {`];
  if (log) lines.push(`  limit ${SPOOF_LIMIT} { rate ${log.ratePerSecond}/second burst ${log.burst} packets }`);
  for (const s of SET_NAMES) {
    const els = withElements?.[s] ?? [];
    const body = els.length === 0 ? '' : ` elements = { ${els.map(elementText).join(', ')} };`;
    lines.push(`  set ${s} { type ${SET_TYPES[s]};${body} }`);
  }
  lines.push(`  chain ${BRIDGE_CHAIN} {`, '    type filter hook prerouting priority -200; policy accept;');
  for (const r of chainRules(log)) lines.push(`    ${r}`);
  lines.push('  }', '}');
  return lines;
}

/** The table with no elements: compared, once listed by nft, with the kernel's sets and chain. */
export function renderSkeleton(log?: DropLogSettings): string {
  return `${skeleton(undefined, log).join('\n')}\n`;
}

/**
 * The whole table in one transaction (start-up, repair): created when missing, deleted and made
 * again, so nothing anyone added to it survives and no frame ever sees half of it.
 */
export function renderBridgeTable(filter: BridgeFilter): string {
  return [`table ${TABLE_REF}`, `delete table ${TABLE_REF}`, ...skeleton(elements(filter), filter.log)].join('\n') + '\n';
}

/** What turns `before` into `after`: element deletes, then adds; '' when nothing changes. */
export function renderBridgeDiff(before: BridgeFilter, after: BridgeFilter): string {
  const a = elements(before);
  const b = elements(after);
  const lines: string[] = [];
  for (const s of SET_NAMES) {
    const keep = new Set(b[s].map((e) => e.key));
    const gone = a[s].filter((e) => !keep.has(e.key));
    if (gone.length > 0) lines.push(`delete element ${TABLE_REF} ${s} { ${gone.map((e) => e.key).join(', ')} }`);
  }
  for (const s of SET_NAMES) {
    const had = new Set(a[s].map((e) => e.key));
    const fresh = b[s].filter((e) => !had.has(e.key));
    if (fresh.length > 0) lines.push(`add element ${TABLE_REF} ${s} { ${fresh.map(elementText).join(', ')} }`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

export function renderBridgeFlush(): string {
  return `delete table ${TABLE_REF}\n`;
}
