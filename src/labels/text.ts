// Small text helpers shared by the label parsers: list splitting, character checks and
// quoting of untrusted text for error messages.

/** The outcome of parsing one token: a value, or a reason that names the token. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const EDGE_SPACES = /^ +| +$/g;

/** Removes ASCII spaces (only spaces: no tabs, no newlines) from both ends. */
export function trimSpaces(text: string): string {
  return text.replace(EDGE_SPACES, '');
}

/**
 * Splits a comma list. ASCII spaces directly around a comma and at the ends of the whole value
 * are dropped; everything else stays in the token, so the token checks can refuse it.
 * Empty tokens ('80,,81', '80,') are kept as '' for the caller to report.
 */
export function splitList(value: string): string[] {
  return value.split(',').map(trimSpaces);
}

/**
 * Why a token holds a character no label grammar allows, or undefined when it is plain
 * printable ASCII without spaces.
 */
export function badCharacter(token: string): string | undefined {
  if (/[ \t\n\r\v\f]/.test(token)) return 'contains whitespace (entries are separated by commas)';
  if (/[^\x00-\x7f]/.test(token)) return 'contains a non-ASCII character';
  if (/[\x00-\x1f\x7f]/.test(token)) return 'contains a control character';
  return undefined;
}

/**
 * Double-quotes untrusted text for a log line: quotes, backslashes, control and non-ASCII
 * characters are escaped (so nothing can break a terminal or fake a log line), and long text
 * is cut to `max` characters with a trailing '...'.
 */
export function quote(text: string, max = 80): string {
  const chars = Array.from(text.length > max * 2 ? text.slice(0, max * 2) : text);
  const cut = chars.length > max;
  let out = '"';
  for (const ch of cut ? chars.slice(0, max) : chars) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || c >= 0x7f) {
      out += c <= 0xffff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\u{${c.toString(16)}}`;
    } else out += ch;
  }
  return `${out}"${cut ? '...' : ''}`;
}

/** The first `max` characters (code points) of a value, for LabelError.value. */
export function cutValue(value: string, max = 200): string {
  // 'max' code points fit in the first 2*max UTF-16 units, so slicing first is safe and cheap.
  return Array.from(value.slice(0, max * 2)).slice(0, max).join('');
}
