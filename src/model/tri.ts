// Three-valued answers, for the evaluators that judge a whole class of packets at once (the
// packet tracer over iptables-save, the nft evaluator over other firewalls' chains): a match
// holds for every such packet, for none, or for some of them.
export type Tri = 'yes' | 'no' | 'maybe';

export const and = (a: Tri, b: Tri): Tri => (a === 'no' || b === 'no' ? 'no' : a === 'yes' && b === 'yes' ? 'yes' : 'maybe');
export const not = (a: Tri): Tri => (a === 'yes' ? 'no' : a === 'no' ? 'yes' : 'maybe');
export const anyOf = (list: readonly Tri[]): Tri => (list.includes('yes') ? 'yes' : list.every((t) => t === 'no') ? 'no' : 'maybe');
export const tri = (b: boolean): Tri => (b ? 'yes' : 'no');
