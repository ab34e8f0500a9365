// What the packet tracer is given and what it answers: the packet, the steps (rules that
// matched on the way), the outcomes of its uncertain matches, the verdict.
import type { Family } from '../model/types.js';
import type { KernelState } from '../plan/kernel-state.js';
import type { HostView } from './host.js';
import type { SetMembers } from './sets.js';

export interface TracePacket {
  family: Family;
  /** The client: one address, or a CIDR for a range of clients ("from anywhere" is 0.0.0.0/0). */
  src: string;
  /** The address the client connects to. */
  dst: string;
  protocol: 'tcp' | 'udp';
  dport: number;
  /** The interface the packet arrives on; unknown when absent (rules testing -i become uncertain). */
  inInterface?: string;
}

export interface TraceInput {
  /** One family's tables, as parseSave read iptables-save or ip6tables-save. */
  state: KernelState;
  host: HostView;
  packet: TracePacket;
  /** How many outcomes of uncertain matches are followed before giving up (default 64). */
  maxOutcomes?: number;
  /** The kernel's ipsets (`ipset save`), so `-m set` matches are decided; absent: uncertain. */
  sets?: SetMembers;
}

export type StepAction = 'jump' | 'goto' | 'return' | 'accept' | 'drop' | 'reject' | 'dnat' | 'redirect' | 'continue' | 'policy';

/** One rule that matched on the way (or a built-in chain's policy that applied). */
export interface Step {
  table: string;
  chain: string;
  /** 1-based position in the chain, as `iptables -L --line-numbers` counts. */
  rule?: number;
  /** The rule as iptables-save prints it after `-A CHAIN `. */
  line?: string;
  /** For action 'policy': ACCEPT or DROP. */
  policy?: string;
  action: StepAction;
  /** The match was uncertain and this outcome assumes it matched: why it was uncertain. */
  assumed?: string;
}

/** A rule (or a situation) the tracer could not decide. */
export interface Uncertain {
  table?: string;
  chain?: string;
  rule?: number;
  line?: string;
  why: string;
}

export interface Outcome {
  verdict: 'accept' | 'drop' | 'unknown';
  steps: Step[];
  /** Every uncertain match this outcome went through, and which way it assumed. */
  assumptions: Array<Uncertain & { matched: boolean }>;
  /** The step that decided: the DROP/REJECT (or policy DROP), or the filter table's accept. */
  decidedBy?: Step;
  /** What made this outcome unknown (a target the tracer does not model, an unreadable table). */
  unknown?: Uncertain;
  dnat?: { dst: string; dport: number; step: Step };
  route?: 'INPUT' | 'FORWARD';
  outInterface?: string;
  /** The decisions (false: did not match) taken at each uncertain match, in order. */
  decisions: boolean[];
}

export interface TraceResult {
  verdict: 'accept' | 'drop' | 'unknown';
  /** The path shown: the outcome in which every uncertain match was taken as not matching. */
  steps: Step[];
  decidedBy?: Step;
  dnat?: { dst: string; dport: number; step: Step };
  route?: 'INPUT' | 'FORWARD';
  outInterface?: string;
  /** When the verdict is unknown: the rule where the possible outcomes part (or why nothing could be said). */
  unknownAt?: Uncertain;
  /** What the tracer assumed or could not know, in words. */
  notes: string[];
  /** Every outcome followed (one when no match was uncertain). */
  outcomes: Outcome[];
}
