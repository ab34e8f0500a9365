// Which of a container's labels may be its image's: those whose value equals the image's own, as
// image inspect reports them; all of them when the image cannot be inspected.
import { describe, expect, it } from 'vitest';
import { type ImageAnswer, imageIdOf, toContainerFacts } from '../../src/docker/facts.js';

const ID = 'ab'.repeat(32);
const IMAGE_ID = `sha256:${'cd'.repeat(32)}`;
const running = (labels: Record<string, unknown>, more: Record<string, unknown> = {}) => ({
  Id: ID,
  Name: '/web',
  Image: IMAGE_ID,
  State: { Running: true },
  Config: { Image: 'evil/app:1', Labels: labels },
  ...more,
});
const inspected = (labels: unknown): ImageAnswer => ({ kind: 'inspected', labels });

describe('toContainerFacts: the image', () => {
  it('names the labels whose value equals the image\'s, sorted', () => {
    const f = toContainerFacts(
      running({ 'dockgate.ports': '8080', 'dockgate.mode': 'dnat', 'dockgate.from': '10.0.0.0/8', team: 'web' }),
      inspected({ 'dockgate.ports': '8080', 'dockgate.mode': 'dnat', 'dockgate.from': '0.0.0.0/0', other: 'x' }),
    );
    expect(f?.image).toEqual({ kind: 'inspected', ref: 'evil/app:1', sameAsImage: ['dockgate.mode', 'dockgate.ports'] });
    // The labels themselves stay as Docker reported them: which count is the planner's choice.
    expect(f?.labels['dockgate.ports']).toBe('8080');
  });

  it.each([
    ['null (Docker\'s "no labels")', null],
    ['absent', undefined],
    ['not a mapping', ['dockgate.ports']],
  ])('image labels %s: none are the image\'s', (_what, labels) => {
    expect(toContainerFacts(running({ 'dockgate.ports': '80' }), inspected(labels))?.image).toEqual({ kind: 'inspected', ref: 'evil/app:1', sameAsImage: [] });
  });

  it('a label inherited from Object.prototype is not the image\'s', () => {
    expect(toContainerFacts(running({ toString: 'x' }), inspected({}))?.image).toMatchObject({ sameAsImage: [] });
  });

  it('an image that cannot be inspected carries the reason', () => {
    const f = toContainerFacts(running({ 'dockgate.ports': '80' }), { kind: 'unknown', reason: 'image cdcdcdcdcdcd no longer exists' });
    expect(f?.image).toEqual({ kind: 'unknown', ref: 'evil/app:1', reason: 'image cdcdcdcdcdcd no longer exists' });
  });

  it.each([
    ['a name outside the reference grammar: the short id', { Config: { Image: 'evil app"\n', Labels: {} } }, 'cdcdcdcdcdcd'],
    ['no name: the short id', { Config: { Labels: {} } }, 'cdcdcdcdcdcd'],
    ['neither', { Config: {}, Image: 5 }, '(unnamed)'],
    ['run by id', { Config: { Image: IMAGE_ID } }, IMAGE_ID],
  ])('ref for %s', (_what, more, ref) => {
    expect(toContainerFacts(running({}, more), inspected({}))?.image.ref).toBe(ref);
  });
});

describe('imageIdOf', () => {
  it.each([
    [{ Image: IMAGE_ID }, IMAGE_ID],
    [{ Image: 'cd'.repeat(32) }, undefined],
    [{ Image: `${IMAGE_ID}/../x` }, undefined],
    [{}, undefined],
    [null, undefined],
  ])('%j → %s', (info, id) => {
    expect(imageIdOf(info)).toBe(id);
  });
});
