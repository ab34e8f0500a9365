// errorMessage: whatever a catch receives, a message to show, never `undefined`.
import { describe, expect, it } from 'vitest';
import { errorMessage } from '../../src/util/errors.js';

describe('errorMessage', () => {
  it('an Error gives its message', () => {
    expect(errorMessage(new TypeError('bad input'))).toBe('bad input');
  });

  it('a thrown string, object, undefined or null is shown as text, not as undefined', () => {
    expect(errorMessage('plain text')).toBe('plain text');
    expect(errorMessage({ code: 'EPIPE' })).toBe('{"code":"EPIPE"}');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(errorMessage(null)).toBe('null');
  });

  it('a value JSON cannot show (a cycle, a bigint) still gives text', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorMessage(cyclic)).toBe('[object Object]');
    expect(errorMessage(10n)).toBe('10');
  });
});
