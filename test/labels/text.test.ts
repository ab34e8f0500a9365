// Label text on its way to a terminal: whoever runs a container writes its labels, so a key or a
// value may carry escape sequences (clear the screen, rewrite a line, fake a log line). Every
// character a terminal would act on must come out as a visible escape.
import { describe, expect, it } from 'vitest';
import { escapeControls, escapeText, labelText, quote, terminalJson } from '../../src/labels/text.js';

/** Any character a terminal acts on: C0, DEL, C1, and the bidi and line-separator format characters. */
const RAW_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('escapeText', () => {
  it('escapes ESC, CR, LF, TAB, DEL and C1 visibly, and the backslash itself', () => {
    expect(escapeText('80\u001b[2J')).toBe('80\\u001b[2J');
    expect(escapeText('dockgate.po\rrts')).toBe('dockgate.po\\rrts');
    expect(escapeText('a\nb\tc')).toBe('a\\nb\\tc');
    expect(escapeText('\u007f\u009b')).toBe('\\u007f\\u009b');
    expect(escapeText('a\\u001b')).toBe('a\\\\u001b');
  });

  it('leaves printable ASCII alone', () => {
    expect(escapeText('dockgate.ports')).toBe('dockgate.ports');
    expect(escapeText('10.0.0.5:8080:80/tcp, [2001:db8::1]:53:53/udp')).toBe('10.0.0.5:8080:80/tcp, [2001:db8::1]:53:53/udp');
  });

  it('escapes bidi overrides and every non-ASCII character, astral ones whole', () => {
    expect(escapeText('a\u202eb')).toBe('a\\u202eb');
    expect(escapeText('é😀')).toBe('\\u00e9\\u{1f600}');
  });

  it('quote is escapeText in double quotes, with quotes escaped', () => {
    expect(quote('80\u001b[2J')).toBe('"80\\u001b[2J"');
    expect(quote('a"b')).toBe('"a\\"b"');
  });
});

describe('labelText', () => {
  it('KEY="VALUE" with both escaped: nothing raw reaches the terminal', () => {
    const text = labelText('dockgate.po\rrts', '80\u001b[2J');
    expect(text).toBe('dockgate.po\\rrts="80\\u001b[2J"');
    expect(text).not.toMatch(RAW_CONTROL);
  });

  it('keeps a reported value whole up to the 200 characters a LabelError holds', () => {
    const value = '8'.repeat(200);
    expect(labelText('dockgate.ports', value)).toBe(`dockgate.ports="${value}"`);
  });
});

describe('escapeControls', () => {
  it('escapes only what a terminal acts on: free text keeps its backslashes and its Unicode', () => {
    expect(escapeControls('web: label dockgate.x\r\u001b[2J: nope')).toBe('web: label dockgate.x\\r\\u001b[2J: nope');
    expect(escapeControls('a\nb\u009bc\u2028d\u2066e')).toBe('a\\nb\\u009bc\\u2028d\\u2066e');
    expect(escapeControls('C:\\path → é')).toBe('C:\\path → é');
  });

  it('is idempotent on text escapeText already made safe', () => {
    const once = escapeText('x\u001by');
    expect(escapeControls(once)).toBe(once);
  });
});

describe('terminalJson', () => {
  it('JSON that reads back equal, with DEL, C1 and bidi characters escaped too (JSON.stringify leaves them raw)', () => {
    const value = { errors: [{ label: 'dockgate.po\rrts', value: '80\u001b[2J\u007f\u009b2J\u202e' }], name: 'é' };
    expect(JSON.stringify(value)).toMatch(RAW_CONTROL);
    const text = terminalJson(value);
    // The newlines are the indentation's; every other control character is escaped.
    expect(text.replaceAll('\n', '')).not.toMatch(RAW_CONTROL);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('\\u009b2J\\u202e');
    expect(text).toContain('"name": "é"');
  });
});
