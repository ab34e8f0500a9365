// `dockgate explain` prints label keys and values that whoever ran the container wrote: a key
// with a CR or a value with an escape sequence must reach the terminal as visible escapes.
import { describe, expect, it } from 'vitest';
import type { ContainerFacts, Family, RuleSet } from '../../src/model/types.js';
import type { KernelState } from '../../src/plan/kernel-state.js';
import { buildRuleSet } from '../../src/plan/ruleset.js';
import { type ExplainContext, type ForeignInput, explainContainer, explainPacket } from '../../src/trace/explain.js';
import { renderContainer, renderExplanation } from '../../src/trace/explain-text.js';
import { BRIDGE, DEFAULTS, container } from '../plan/fixtures.js';
import { HAND_KEPT, HOST, kernelOf, tcp } from './helpers.js';

const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const NO_NFT: ForeignInput = { ruleset: { tables: [], chains: [], sets: [] } as never, marksInPlace: false };

const facts: ContainerFacts[] = [
  // A bad value and an unknown key carrying a CR: both are label errors, nothing opened.
  container('hostile', {
    id: 'c0ffee000901'.padEnd(64, '0'),
    ip: '172.17.0.2',
    labels: { 'dockgate.ports': '8000\u001b[2J', 'dockgate.po\rrts': 'x\u009b31m' },
    publish: ['10.0.0.5:8000:8000/tcp'],
  }),
  // Opens its port, and its from label carries DEL and a C1 CSI that JSON.stringify leaves raw.
  container('opened', { id: 'c0ffee000902'.padEnd(64, '0'), ip: '172.17.0.3', labels: { 'dockgate.ports': '8001', 'dockgate.from': '192.168.77.0/24,\u007f\u009b2J' }, publish: ['10.0.0.5:8001:8001/tcp'] }),
];
const plan: RuleSet = buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers: facts, networks: [BRIDGE] });

function ctx(): ExplainContext {
  const states = new Map<Family, KernelState>([
    [4, kernelOf(plan, 4, HAND_KEPT)],
    [6, kernelOf(plan, 6, HAND_KEPT)],
  ]);
  return { plan, facts, labelPrefix: 'dockgate', states, host: HOST, foreign: NO_NFT };
}

describe('explain escapes label text', () => {
  it('explain CONTAINER: the errors show the key and the value escaped', () => {
    const c = plan.containers.find((x) => x.name === 'hostile')!;
    const text = renderContainer(explainContainer(ctx(), c), 'dockgate');
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('dockgate.po\\rrts="x\\u009b31m"');
    expect(text).toContain('dockgate.ports="8000\\u001b[2J"');
  });

  it('explain SRC HOST:PORT: the -p without a working label names the label escaped', () => {
    const e = explainPacket(ctx(), tcp('203.0.113.9', '10.0.0.5', 8000), 'test');
    const text = renderExplanation(e, 'dockgate');
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('label error dockgate.po\\rrts="x\\u009b31m"');
  });

  it('the owner line escapes what JSON.stringify would leave raw (DEL, C1)', () => {
    const c = plan.containers.find((x) => x.name === 'opened')!;
    const text = renderContainer(explainContainer(ctx(), c), 'dockgate');
    expect(text).not.toMatch(RAW_CONTROL);
  });
});
