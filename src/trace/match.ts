// Does a rule's condition hold for the packet being traced? yes, no, or maybe (with why). Maybe
// is what the tracer cannot know: an interface it was not told, the client's source port, a part
// of a source range, an option it does not understand. The tracer then follows both outcomes.
import type { Tri } from '../model/tri.js';
import { type Net, relation } from '../net/address.js';
import { type Iface, ifaceMatches } from '../net/iface.js';
import { type HostView, isLocal } from './host.js';
import type { Cond } from './rule.js';
import { type SetMembers, judgeSet } from './sets.js';

export interface Judged {
  tri: Tri;
  /** Why it is a maybe. */
  why?: string;
}

export type Hook = 'PREROUTING' | 'INPUT' | 'FORWARD';

export interface MatchContext {
  hook: Hook;
  table: string;
  src: Net;
  dst: Net;
  protocol: 'tcp' | 'udp';
  dport: number;
  inIf: Iface;
  /** None at PREROUTING and INPUT. */
  outIf: Iface;
  host: HostView;
  /** Before conntrack (raw PREROUTING) a packet has no connection: its state is INVALID. */
  tracked: boolean;
  /** nat PREROUTING DNATed this connection. */
  dnat: boolean;
  /** The kernel's ipsets, for `-m set`; absent: their members are not known. */
  sets?: SetMembers;
}

const YES: Judged = { tri: 'yes' };
const NO: Judged = { tri: 'no' };
const maybe = (why: string): Judged => ({ tri: 'maybe', why });
const flip = (j: Judged, neg: boolean): Judged => (!neg || j.tri === 'maybe' ? j : j.tri === 'yes' ? NO : YES);
const bool = (b: boolean): Judged => (b ? YES : NO);

const inRanges = (ranges: ReadonlyArray<readonly [number, number]>, port: number): boolean => ranges.some(([lo, hi]) => lo <= port && port <= hi);

const PROTO_NUMBERS: Record<string, string> = { '6': 'tcp', '17': 'udp' };

function judge(c: Cond, x: MatchContext): Judged {
  switch (c.kind) {
    case 'src':
    case 'dst': {
      const addr = c.kind === 'src' ? x.src : x.dst;
      const r = relation(c.net, addr);
      if (r === 'maybe') return maybe(`${c.kind === 'src' ? 'source' : 'destination'} ${addr.text} is partly inside ${c.net.text}`);
      return flip(bool(r === 'yes'), c.neg);
    }
    case 'in':
    case 'out': {
      // iptables compares an absent interface as "": `! -o eth0` holds at INPUT.
      const t = ifaceMatches(c.kind === 'in' ? x.inIf : x.outIf, [c.name], '+');
      if (t === 'maybe') return maybe(`the interface the packet ${c.kind === 'in' ? 'arrives on' : 'leaves by'} is not known (${c.text})`);
      return flip(bool(t === 'yes'), c.neg);
    }
    case 'proto': {
      const p = PROTO_NUMBERS[c.proto] ?? c.proto;
      return flip(bool(p === 'all' || p === '0' || p === x.protocol), c.neg);
    }
    case 'module-proto':
      return bool(c.proto === x.protocol);
    case 'dport':
      return flip(bool(inRanges(c.ranges, x.dport)), c.neg);
    case 'sport':
      return maybe(`the client's source port is not known (${c.text})`);
    case 'anyport':
      if (inRanges(c.ranges, x.dport)) return flip(YES, c.neg);
      return maybe(`the client's source port is not known (${c.text})`);
    case 'tcpflags': {
      if (x.protocol !== 'tcp') return NO;
      // The first packet of a new TCP connection carries SYN alone.
      const flags = new Set(['SYN']);
      const ok = [...c.mask].every((f) => flags.has(f) === c.comp.has(f));
      return flip(bool(ok), c.neg);
    }
    case 'ctstate': {
      const bits = new Set(x.tracked ? ['NEW', ...(x.dnat ? ['DNAT'] : [])] : ['INVALID']);
      return flip(bool(c.states.some((s) => bits.has(s))), c.neg);
    }
    case 'ctdir':
      // Without a connection (raw) the kernel's conntrack match fails every direction test.
      if (!x.tracked) return NO;
      return flip(bool(c.dir === 'ORIGINAL'), c.neg);
    case 'addrtype': {
      const addr = c.which === 'dst' ? x.dst : x.src;
      const local = isLocal(x.host, addr);
      const others = c.types.filter((t) => t !== 'LOCAL');
      if (local === 'yes') return flip(bool(c.types.includes('LOCAL')), c.neg);
      if (local === 'no' && others.length === 0) return flip(NO, c.neg);
      if (local === 'maybe') return maybe(`${addr.text} is partly made of this host's own addresses (${c.text})`);
      return maybe(`address types other than LOCAL are not modelled (${c.text})`);
    }
    case 'set': {
      const j = judgeSet(c, x.src, x.dst, x.sets);
      return j.tri === 'maybe' ? maybe(j.why!) : flip(bool(j.tri === 'yes'), c.neg);
    }
    case 'unknown':
      return maybe(`option not understood by the tracer: ${c.text}`);
  }
}

/** All conditions of a rule: no as soon as one surely fails, else maybe if one is uncertain. */
export function judgeAll(conds: readonly Cond[], x: MatchContext): Judged {
  const whys: string[] = [];
  for (const c of conds) {
    const j = judge(c, x);
    if (j.tri === 'no') return NO;
    if (j.tri === 'maybe') whys.push(j.why!);
  }
  return whys.length > 0 ? maybe(whys.join('; ')) : YES;
}
