// The planner with labels that may be the image's (issue 18, item 2): nothing opened or claimed
// for them, one warning naming the image and the labels, the typed list for status, and
// trust_image_labels restoring the old behaviour, also through the plan cache.
import { describe, expect, it } from 'vitest';
import type { ContainerImage, RuleSet } from '../../src/model/types.js';
import { renderPlan } from '../../src/plan/restore.js';
import { PlanCache, buildRuleSet } from '../../src/plan/ruleset.js';
import { BRIDGE, DEFAULTS, container, plan, shardLines } from './fixtures.js';
import { linesOf } from '../../src/plan/render.js';

const image = (...same: string[]): ContainerImage => ({ kind: 'inspected', ref: 'evil/app:1', sameAsImage: same });
const of = (p: RuleSet, name: string) => p.containers.find((c) => c.name === name)!;

/** `docker run -p 8080:80 evil/app:1` of an image with `LABEL dockgate.ports=80`. */
const ported = () => container('ported', { ip: '172.17.0.2', labels: { 'dockgate.ports': '80' }, image: image('dockgate.ports'), publish: ['0.0.0.0:8080:80/tcp'] });
/** `docker run evil/app:1` of an image with `LABEL dockgate.ports=31337:22 dockgate.mode=dnat`. */
const claimer = () =>
  container('claimer', { ip: '172.17.0.3', labels: { 'dockgate.ports': '31337:22', 'dockgate.mode': 'dnat' }, image: image('dockgate.mode', 'dockgate.ports') });

describe('labels from the image in the plan', () => {
  it('open nothing, claim nothing, and leave no rule of theirs', () => {
    const p = plan([ported(), claimer()]);
    expect(of(p, 'ported').openings).toEqual([]);
    expect(of(p, 'claimer').openings).toEqual([]);
    expect(of(p, 'claimer').mode).toBe('proxy');
    const text = renderPlan(p);
    expect(text).not.toMatch(/--dport (8080|31337)/);
    expect(shardLines(p, 'DOCKGATE-DNAT')).toEqual([]);
  });

  it('are listed, typed, and named in one warning', () => {
    const c = of(plan([claimer()]), 'claimer');
    expect(c.imageLabels).toEqual([
      { label: 'dockgate.mode', value: 'dnat', image: 'evil/app:1', why: 'same-value', effect: 'ignored' },
      { label: 'dockgate.ports', value: '31337:22', image: 'evil/app:1', why: 'same-value', effect: 'ignored' },
    ]);
    const mentions = c.warnings.filter((w) => w.includes('evil/app:1'));
    expect(mentions).toHaveLength(1);
    expect(mentions[0]).toContain('dockgate.mode="dnat", dockgate.ports="31337:22" ignored');
  });

  it('leave a container with labels of its own alone', () => {
    const own = container('own', { ip: '172.17.0.4', labels: { 'dockgate.ports': '80' }, publish: ['0.0.0.0:8081:80/tcp'] });
    const c = of(plan([own]), 'own');
    expect(c.openings).toHaveLength(1);
    expect(c.imageLabels).toEqual([]);
    expect(c.warnings.filter((w) => w.includes('image'))).toEqual([]);
  });

  it('do not cancel the admin\'s egress=false: the container keeps its guards', () => {
    const jailed = container('jailed', { ip: '172.17.0.5', labels: { 'dockgate.egress': 'false' }, image: image('dockgate.egress') });
    const p = plan([jailed]);
    expect(of(p, 'jailed').egress).toBe(false);
    expect(linesOf(p.chains.find((c) => c.name === 'DOCKGATE-INPUT')!).some((r) => r.startsWith('-s 172.17.0.5/32 -i docker0') && r.endsWith('-j RETURN'))).toBe(true);
  });

  it('with trust_image_labels they count as before', () => {
    const p = plan([ported(), claimer()], [BRIDGE], { trustImageLabels: true });
    expect(of(p, 'ported').openings.map((o) => o.hostPort)).toEqual([8080]);
    expect(of(p, 'claimer').openings.map((o) => [o.mode, o.hostPort, o.containerPort])).toEqual([['dnat', 31337, 22]]);
    expect(of(p, 'ported').imageLabels).toEqual([]);
  });

  it('an image that cannot be inspected opens nothing from any dockgate label', () => {
    const gone: ContainerImage = { kind: 'unknown', ref: 'evil/app:1', reason: 'image 0123456789ab no longer exists' };
    const orphan = container('orphan', { ip: '172.17.0.6', labels: { 'dockgate.ports': '80' }, image: gone, publish: ['0.0.0.0:8082:80/tcp'] });
    const c = of(plan([orphan]), 'orphan');
    expect(c.openings).toEqual([]);
    expect(c.warnings.some((w) => w.startsWith('image evil/app:1 cannot be inspected'))).toBe(true);
  });

  it('the plan cache follows trust_image_labels and a change of image', () => {
    const cache = new PlanCache();
    const build = (trust: boolean, containers = [ported()]) =>
      buildRuleSet({ labelPrefix: 'dockgate', defaults: DEFAULTS, containers, networks: [BRIDGE], trustImageLabels: trust }, cache);
    const a = ported();
    expect(of(build(false, [a]), 'ported').openings).toEqual([]);
    expect(of(build(true, [a]), 'ported').openings).toHaveLength(1);
    expect(of(build(false, [a]), 'ported').openings).toEqual([]);
    // Same labels, recreated from an image without them: now they are the admin's.
    const recreated = { ...a, image: image() };
    expect(of(build(false, [recreated]), 'ported').openings).toHaveLength(1);
  });
});
