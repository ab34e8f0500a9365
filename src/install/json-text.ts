// Where each top-level member of daemon.json sits in the text (parsed by jsonc-parser), and edits
// that change one member while leaving every other byte alone. daemon.json belongs to the admin:
// re-serialising it would throw away their layout, and JSON.parse on Node 20 does not say where a
// syntax error is. The project's own part: strictness as Docker reads the file (no BOM, no
// comments, no trailing commas, no duplicate keys) and byte-exact undo for uninstall.
import { type Node, type ParseError, parseTree, printParseErrorCode } from 'jsonc-parser';

export class JsonSyntaxError extends Error {
  override readonly name = 'JsonSyntaxError';
  constructor(
    readonly line: number,
    readonly column: number,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`invalid JSON at line ${line}, column ${column}: ${reason}`);
  }
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One `"key": value` pair of the top-level object, by text offsets. */
export interface MemberSpan {
  key: string;
  /** Just after the `{` or `,` that precedes the member (its leading whitespace starts here). */
  leadStart: number;
  keyStart: number;
  /** Just after the key's closing quote. */
  keyEnd: number;
  valueStart: number;
  /** Just after the value. */
  valueEnd: number;
  value: JsonValue;
}

export interface ObjectText {
  text: string;
  members: MemberSpan[];
  /** Offset of the top-level `{` and `}`. */
  open: number;
  close: number;
}

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function fail(text: string, at: number, reason: string): never {
  const { line, column } = position(text, at);
  throw new JsonSyntaxError(line, column, at, reason);
}

/** jsonc-parser's error codes, in the words an admin reads. */
const REASONS: Partial<Record<string, string>> = {
  InvalidSymbol: 'unexpected character',
  InvalidNumberFormat: 'bad number',
  PropertyNameExpected: 'expected a key in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":" after the key',
  CommaExpected: 'expected "," between members',
  CloseBraceExpected: 'expected "," or "}"',
  CloseBracketExpected: 'expected "," or "]"',
  EndOfFileExpected: 'unexpected text after the closing "}"',
  InvalidCommentToken: 'comments are not allowed (Docker refuses them too)',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'bad number',
  InvalidUnicode: 'bad \\u escape',
  InvalidEscapeCharacter: 'bad escape in a string',
  InvalidCharacter: 'control character inside a string (write it as an escape)',
};

const found = (text: string, at: number): string => (at >= text.length ? 'the end of the file' : JSON.stringify(text[at]));

/** jsonc-parser's error, said the way an admin fixing the file by hand needs it. */
function explain(text: string, code: string, at: number, root: Node | undefined): never {
  if (code === 'UnexpectedEndOfString' || code === 'InvalidCharacter') {
    // A raw control character: point at it, not at the string.
    for (let i = text[at] === '"' ? at + 1 : at; i < text.length && text[i] !== '"'; i++) {
      if (text.charCodeAt(i) < 0x20) fail(text, i, 'control character inside a string (write it as an escape)');
    }
  }
  const before = text.slice(0, at).replace(/\s+$/, '');
  const prev = before[before.length - 1];
  const lastKey = /"((?:[^"\\]|\\.)*)"\s*:[^:]*$/.exec(before)?.[1];
  const after = lastKey === undefined ? '' : ` after the value of ${JSON.stringify(lastKey)}`;
  if (root && at > root.offset + root.length - 1 && code !== 'CommaExpected' && code !== 'CloseBraceExpected') {
    fail(text, at, `unexpected ${found(text, at)} after the closing "}"`);
  }
  switch (code) {
    case 'PropertyNameExpected':
      if (text[at] === '}' && prev === ',') fail(text, at, 'trailing comma before "}"');
      fail(text, at, `expected a key in double quotes, found ${found(text, at)}`);
      break;
    case 'CommaExpected':
    case 'CloseBraceExpected':
      fail(text, at, `expected "," or "}"${after}, found ${found(text, at)}`);
      break;
    case 'ValueExpected':
      if (text[at] === ']' && prev === ',') fail(text, at, 'trailing comma before "]"');
      fail(text, at, `expected a value, found ${found(text, at)}`);
      break;
    case 'InvalidSymbol':
      if (prev === '{' || prev === ',') fail(text, at, `expected a key in double quotes, found ${found(text, at)}`);
      fail(text, at, `expected a value, found ${found(text, at)}`);
      break;
  }
  fail(text, at, REASONS[code] ?? code);
}

/** A node's value; keys are defined, not assigned, so that "__proto__" stays a plain key. */
function valueOf(node: Node): JsonValue {
  switch (node.type) {
    case 'object': {
      const out: { [key: string]: JsonValue } = {};
      for (const p of node.children ?? []) {
        const [k, v] = p.children ?? [];
        if (k && v) Object.defineProperty(out, k.value as string, { value: valueOf(v), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case 'array':
      return (node.children ?? []).map(valueOf);
    default:
      return node.value as JsonValue;
  }
}

/**
 * Parses text that must hold one JSON object; throws JsonSyntaxError with line and column.
 * Strict JSON as Docker reads it: no comments, no trailing commas, no byte order mark.
 */
export function parseObjectText(text: string): ObjectText {
  if (text.charCodeAt(0) === 0xfeff) fail(text, 0, 'byte order mark at the start (Docker refuses it too)');
  const start = text.search(/\S/);
  if (start < 0) fail(text, text.length, 'the file is empty (an empty settings file is "{}")');
  if (text[start] !== '{') fail(text, start, `expected "{" (the file must hold one JSON object), found ${JSON.stringify(text[start])}`);
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first || !root) explain(text, first ? printParseErrorCode(first.error) : 'ValueExpected', first?.offset ?? start, root);
  const members: MemberSpan[] = [];
  let leadStart = root.offset + 1;
  for (const property of root.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    if (!keyNode || !valueNode) continue;
    const valueEnd = valueNode.offset + valueNode.length;
    members.push({
      key: keyNode.value as string,
      leadStart,
      keyStart: keyNode.offset,
      keyEnd: keyNode.offset + keyNode.length,
      valueStart: valueNode.offset,
      valueEnd,
      value: valueOf(valueNode),
    });
    // The next member's leading whitespace starts just after the comma that follows this value.
    leadStart = text.indexOf(',', valueEnd) + 1;
  }
  return { text, members, open: root.offset, close: root.offset + root.length - 1 };
}

/** The member named `key`; a key given twice is an error (Docker would silently take the last). */
export function findMember(obj: ObjectText, key: string): MemberSpan | undefined {
  const found = obj.members.filter((m) => m.key === key);
  if (found.length > 1) {
    const second = found[1]!;
    const { line, column } = position(obj.text, second.keyStart);
    throw new JsonSyntaxError(line, column, second.keyStart, `key ${JSON.stringify(key)} appears more than once`);
  }
  return found[0];
}

/** The raw text of a top-level member's value, or undefined when the key is absent. */
export function memberText(text: string, key: string): string | undefined {
  const obj = parseObjectText(text);
  const m = findMember(obj, key);
  return m ? text.slice(m.valueStart, m.valueEnd) : undefined;
}

/**
 * Sets a top-level key to `valueText` (JSON text). An existing value is replaced in place; a new
 * key is appended after the last member in that member's own layout (indentation and `: `), or
 * on its own 2-space-indented line in an empty object.
 */
export function setMember(text: string, key: string, valueText: string): string {
  const obj = parseObjectText(text);
  const existing = findMember(obj, key);
  if (existing) return text.slice(0, existing.valueStart) + valueText + text.slice(existing.valueEnd);
  const keyText = JSON.stringify(key);
  const last = obj.members[obj.members.length - 1];
  if (!last) {
    return `${text.slice(0, obj.open + 1)}\n  ${keyText}: ${valueText}\n${text.slice(obj.close)}`;
  }
  const lead = text.slice(last.leadStart, last.keyStart);
  const colon = text.slice(last.keyEnd, last.valueStart);
  return `${text.slice(0, last.valueEnd)},${lead}${keyText}${colon}${valueText}${text.slice(last.valueEnd)}`;
}

/** Removes a top-level key with its comma and leading whitespace; the exact inverse of an append by setMember. */
export function removeMember(text: string, key: string): string {
  const obj = parseObjectText(text);
  const m = findMember(obj, key);
  if (!m) return text;
  const index = obj.members.indexOf(m);
  const next = obj.members[index + 1];
  if (next) return text.slice(0, m.leadStart) + text.slice(next.leadStart);
  if (index > 0) return text.slice(0, m.leadStart - 1) + text.slice(m.valueEnd); // the comma before it
  return text.slice(0, m.leadStart) + text.slice(m.valueEnd);
}

/** Structural equality of two JSON values (object key order ignored). */
export function jsonEqual(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  }
  if (typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}
