// A strict JSON reader that remembers where each top-level member sits in the text, and edits
// that change one member while leaving every other byte alone. daemon.json belongs to the admin:
// re-serialising it would throw away their layout, and JSON.parse on Node 20 does not say where a
// syntax error is.

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

class Reader {
  i = 0;
  constructor(readonly text: string) {}

  fail(reason: string, at = this.i): never {
    const { line, column } = position(this.text, at);
    throw new JsonSyntaxError(line, column, at, reason);
  }

  describeHere(): string {
    if (this.i >= this.text.length) return 'the end of the file';
    return JSON.stringify(this.text[this.i]);
  }

  ws(): void {
    while (this.i < this.text.length) {
      const c = this.text[this.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') this.i++;
      else break;
    }
  }

  value(): JsonValue {
    this.ws();
    const c = this.text[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"') return this.string();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
    for (const [word, v] of [['true', true], ['false', false], ['null', null]] as const) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    if (c === "'") this.fail('strings must use double quotes');
    return this.fail(`expected a value, found ${this.describeHere()}`);
  }

  object(members?: MemberSpan[]): { [key: string]: JsonValue } {
    const out: { [key: string]: JsonValue } = {};
    this.i++; // {
    let leadStart = this.i;
    this.ws();
    if (this.text[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] !== '"') {
        this.fail(this.text[this.i] === '}' ? 'trailing comma before "}"' : `expected a key in double quotes, found ${this.describeHere()}`);
      }
      const keyStart = this.i;
      const key = this.string();
      const keyEnd = this.i;
      this.ws();
      if (this.text[this.i] !== ':') this.fail(`expected ":" after key ${JSON.stringify(key)}, found ${this.describeHere()}`);
      this.i++;
      this.ws();
      const valueStart = this.i;
      const v = this.value();
      const valueEnd = this.i;
      // defineProperty: a key named "__proto__" must stay a plain key
      Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
      members?.push({ key, leadStart, keyStart, keyEnd, valueStart, valueEnd, value: v });
      this.ws();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        leadStart = this.i;
        continue;
      }
      if (c === '}') {
        this.i++;
        return out;
      }
      this.fail(`expected "," or "}" after the value of ${JSON.stringify(key)}, found ${this.describeHere()}`);
    }
  }

  array(): JsonValue[] {
    const out: JsonValue[] = [];
    this.i++; // [
    this.ws();
    if (this.text[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      if (this.text[this.i] === ']') this.fail('trailing comma before "]"');
      out.push(this.value());
      this.ws();
      const c = this.text[this.i];
      if (c === ',') {
        this.i++;
        continue;
      }
      if (c === ']') {
        this.i++;
        return out;
      }
      this.fail(`expected "," or "]" in a list, found ${this.describeHere()}`);
    }
  }

  string(): string {
    const start = this.i;
    this.i++; // "
    for (;;) {
      if (this.i >= this.text.length) this.fail('unterminated string', start);
      const c = this.text.charCodeAt(this.i);
      if (c === 0x22) {
        this.i++;
        break;
      }
      if (c < 0x20) this.fail('control character inside a string (write it as an escape)');
      if (c === 0x5c) {
        const e = this.text[this.i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.text.slice(this.i + 2, this.i + 6))) this.fail('bad \\u escape');
          this.i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) this.fail('bad escape in a string');
        this.i += 2;
        continue;
      }
      this.i++;
    }
    return JSON.parse(this.text.slice(start, this.i)) as string;
  }

  number(): number {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.text.slice(this.i, this.i + 400));
    if (!m) this.fail('bad number');
    this.i += m[0].length;
    return Number(m[0]);
  }
}

/** Parses text that must hold one JSON object; throws JsonSyntaxError with line and column. */
export function parseObjectText(text: string): ObjectText {
  const r = new Reader(text);
  r.ws();
  if (text.charCodeAt(0) === 0xfeff) r.fail('byte order mark at the start (Docker refuses it too)');
  if (r.text[r.i] !== '{') r.fail(r.i >= text.length ? 'the file is empty (an empty settings file is "{}")' : `expected "{" (the file must hold one JSON object), found ${r.describeHere()}`);
  const open = r.i;
  const members: MemberSpan[] = [];
  r.object(members);
  const close = r.i - 1;
  r.ws();
  if (r.i < text.length) r.fail(`unexpected ${r.describeHere()} after the closing "}"`);
  return { text, members, open, close };
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
