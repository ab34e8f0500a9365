// Small text helpers shared by the label parsers: list splitting, character checks, and the
// escaping of untrusted text (labels are the container owner's) wherever it is shown.

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

/** One character as a visible escape: `\n`, `\r`, `\t`, else `\u001b`, `\u{1f600}`. */
function escapeChar(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  const c = ch.codePointAt(0) ?? 0;
  return c <= 0xffff ? `\\u${c.toString(16).padStart(4, '0')}` : `\\u{${c.toString(16)}}`;
}

// Anything outside printable ASCII, and the backslash so that an escape in the text cannot pass
// for one of ours. The `u` flag keeps an astral character (a surrogate pair) one escape.
const NOT_PLAIN = /[^\x20-\x5b\x5d-\x7e]/gu;

/**
 * Label text (a key, a value: whatever whoever ran the container wrote) for a terminal or a log
 * line: every control character (C0, DEL, C1), every non-ASCII character (bidi overrides
 * included) and the backslash become visible escapes, so nothing can move the cursor, clear the
 * screen or fake a line. Unquoted; `quote` for a value.
 */
export function escapeText(text: string): string {
  return text.replace(NOT_PLAIN, (ch) => (ch === '\\' ? '\\\\' : escapeChar(ch)));
}

/**
 * Double-quotes untrusted text for a log line: quotes, backslashes, control and non-ASCII
 * characters are escaped (so nothing can break a terminal or fake a log line), and long text
 * is cut to `max` characters with a trailing '...'.
 */
export function quote(text: string, max = 80): string {
  const chars = Array.from(text.length > max * 2 ? text.slice(0, max * 2) : text);
  const cut = chars.length > max;
  const shown = cut ? chars.slice(0, max).join('') : chars.join('');
  return `"${escapeText(shown).replaceAll('"', '\\"')}"${cut ? '...' : ''}`;
}

/** `KEY="VALUE"` for one label, both escaped; the value whole up to the 200 characters a LabelError keeps. */
export function labelText(key: string, value: string): string {
  return `${escapeText(key)}=${quote(value, 200)}`;
}

// What a terminal acts on: C0 (newlines too: one message, one line), DEL, C1, and the Unicode
// format characters that reorder or break lines.
const TERMINAL_CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Free text that may hold label text (a warning, a log message) made safe for a terminal: only
 * the characters a terminal acts on are escaped, so readable Unicode and backslashes stay and
 * text that escapeText or quote already made safe comes out unchanged.
 */
export function escapeControls(text: string): string {
  return text.replace(TERMINAL_CONTROL, escapeChar);
}

// TERMINAL_CONTROL without C0: the newlines of the indentation are JSON's own.
const JSON_UNESCAPED_CONTROL = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `--json` output, indented, that a terminal shows safely: JSON.stringify escapes C0 itself, the
 * rest of what escapeControls covers is escaped here. Those characters only occur inside JSON
 * strings, so the text reads back equal.
 */
export function terminalJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(JSON_UNESCAPED_CONTROL, escapeChar);
}

/** The first `max` characters (code points) of a value, for LabelError.value. */
export function cutValue(value: string, max = 200): string {
  // 'max' code points fit in the first 2*max UTF-16 units, so slicing first is safe and cheap.
  return Array.from(value.slice(0, max * 2)).slice(0, max).join('');
}
