// Finds where keys and values sit in a TOML document, so that problems found after parsing (unknown keys, bad
// values) can point at a line and column. smol-toml returns plain values without positions, hence this scanner.
//
// It runs only on text smol-toml has already accepted, so it can assume valid TOML. It is still written to be
// safe on anything: one linear pass, every step advances, nesting is bounded, and it never throws. It knows
// table headers ([a.b]), arrays of tables ([[a]]), dotted keys (a.b = 1), quoted keys, inline tables, arrays
// (recording each element by index), all four string forms and comments.

export type PathSegment = string | number;

export interface SourcePosition {
  /** 1-based line. */
  readonly line: number;
  /** 1-based column, in UTF-16 code units. */
  readonly column: number;
}

const MAX_DEPTH = 64;
const BARE_KEY = /[A-Za-z0-9_-]/;

function encode(path: readonly PathSegment[]): string {
  return JSON.stringify(path);
}

export class SourceLocator {
  readonly #text: string;
  readonly #lineStarts: number[] = [0];
  /** Offset of each key's first definition, by encoded path. */
  readonly #keys = new Map<string, number>();
  /** Offset of each value (or table header), by encoded path. */
  readonly #values = new Map<string, number>();

  constructor(text: string) {
    this.#text = text;
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.#lineStarts.push(i + 1);
    this.#scanDocument();
  }

  /**
   * Position of the value at `path` (or of its key, with `prefer: 'key'`). Falls back to the key when there is
   * no value, then to the nearest enclosing key or table found, then to the start of the file.
   */
  locate(path: readonly PathSegment[], prefer: 'key' | 'value' = 'value'): SourcePosition {
    for (let length = path.length; length > 0; length--) {
      const key = encode(path.slice(0, length));
      const first = prefer === 'key' || length < path.length ? this.#keys : this.#values;
      const second = first === this.#keys ? this.#values : this.#keys;
      const offset = first.get(key) ?? second.get(key);
      if (offset !== undefined) return this.position(offset);
    }
    return { line: 1, column: 1 };
  }

  /** Line and column of a character offset. */
  position(offset: number): SourcePosition {
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.#lineStarts[middle] ?? 0) <= offset) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (this.#lineStarts[low] ?? 0) + 1 };
  }

  #recordKey(path: readonly PathSegment[], offset: number): void {
    const key = encode(path);
    if (!this.#keys.has(key)) this.#keys.set(key, offset);
  }

  #recordValue(path: readonly PathSegment[], offset: number): void {
    const key = encode(path);
    if (!this.#values.has(key)) this.#values.set(key, offset);
  }

  #scanDocument(): void {
    const text = this.#text;
    let table: PathSegment[] = [];
    const arrayTableCounts = new Map<string, number>();
    let i = 0;
    while (i < text.length) {
      i = this.#skipBlank(i, true);
      if (i >= text.length) break;
      const start = i;
      if (text[i] === '[') {
        const arrayTable = text[i + 1] === '[';
        const key = this.#readKey(i + (arrayTable ? 2 : 1));
        key.parts.forEach((_, index) => this.#recordKey(key.parts.slice(0, index + 1), key.offsets[index] ?? start));
        if (arrayTable) {
          const encoded = encode(key.parts);
          const index = arrayTableCounts.get(encoded) ?? 0;
          arrayTableCounts.set(encoded, index + 1);
          table = [...key.parts, index];
          this.#recordValue(key.parts, start);
        } else {
          table = key.parts;
        }
        this.#recordValue(table, start);
        i = this.#skipLine(key.end);
      } else {
        const key = this.#readKey(i);
        key.parts.forEach((_, index) => this.#recordKey([...table, ...key.parts.slice(0, index + 1)], key.offsets[index] ?? start));
        i = this.#skipBlank(key.end, false);
        if (text[i] === '=') i = this.#skipBlank(i + 1, false);
        i = this.#readValue(i, [...table, ...key.parts], 0);
        i = this.#skipLine(i);
      }
      if (i <= start) i = start + 1;
    }
  }

  /** Skips spaces and tabs (and, with `newlines`, line breaks and comments). */
  #skipBlank(from: number, newlines: boolean): number {
    const text = this.#text;
    let i = from;
    while (i < text.length) {
      const c = text[i];
      if (c === ' ' || c === '\t') i++;
      else if (newlines && (c === '\n' || c === '\r')) i++;
      else if (newlines && c === '#') i = this.#skipComment(i);
      else break;
    }
    return i;
  }

  #skipComment(from: number): number {
    const end = this.#text.indexOf('\n', from);
    return end < 0 ? this.#text.length : end;
  }

  /** Skips to the next line: trailing blanks, a comment and anything left on the line. */
  #skipLine(from: number): number {
    const end = this.#text.indexOf('\n', from);
    return end < 0 ? this.#text.length : end + 1;
  }

  /** Reads a (possibly dotted, possibly quoted) key, stopping before `=`, `]` or anything else. */
  #readKey(from: number): { parts: string[]; offsets: number[]; end: number } {
    const text = this.#text;
    const parts: string[] = [];
    const offsets: number[] = [];
    let i = this.#skipBlank(from, false);
    while (i < text.length) {
      const start = i;
      const c = text[i];
      if (c === '"' || c === "'") {
        const end = this.#skipSingleLineString(i);
        parts.push(c === '"' ? decodeBasicString(text.slice(i + 1, end - 1)) : text.slice(i + 1, end - 1));
        i = end;
      } else {
        while (i < text.length && BARE_KEY.test(text[i] ?? '')) i++;
        if (i === start) break;
        parts.push(text.slice(start, i));
      }
      offsets.push(start);
      i = this.#skipBlank(i, false);
      if (text[i] !== '.') break;
      i = this.#skipBlank(i + 1, false);
    }
    return { parts, offsets, end: i };
  }

  /** Reads one value at `from`, recording its position and those of anything nested in it; returns its end. */
  #readValue(from: number, path: readonly PathSegment[], depth: number): number {
    const text = this.#text;
    this.#recordValue(path, from);
    const c = text[from];
    if (c === '"' || c === "'") {
      if (text.startsWith(c.repeat(3), from)) return this.#skipMultiLineString(from, c);
      return this.#skipSingleLineString(from);
    }
    if (depth >= MAX_DEPTH) return this.#skipScalar(from);
    if (c === '[') {
      let i = from + 1;
      let index = 0;
      while (i < text.length) {
        i = this.#skipBlank(i, true);
        const d = text[i];
        if (d === undefined) break;
        if (d === ']') return i + 1;
        if (d === ',') {
          index++;
          i++;
          continue;
        }
        const next = this.#readValue(i, [...path, index], depth + 1);
        i = next > i ? next : i + 1;
      }
      return i;
    }
    if (c === '{') {
      let i = from + 1;
      while (i < text.length) {
        i = this.#skipBlank(i, true);
        const d = text[i];
        if (d === undefined) break;
        if (d === '}') return i + 1;
        if (d === ',') {
          i++;
          continue;
        }
        const key = this.#readKey(i);
        if (key.parts.length === 0) {
          i++;
          continue;
        }
        key.parts.forEach((_, index) => this.#recordKey([...path, ...key.parts.slice(0, index + 1)], key.offsets[index] ?? i));
        i = this.#skipBlank(key.end, true);
        if (text[i] === '=') i = this.#skipBlank(i + 1, true);
        const next = this.#readValue(i, [...path, ...key.parts], depth + 1);
        i = next > i ? next : i + 1;
      }
      return i;
    }
    return this.#skipScalar(from);
  }

  /** Numbers, booleans, dates: everything up to a delimiter. */
  #skipScalar(from: number): number {
    const text = this.#text;
    let i = from;
    while (i < text.length && !',]}\n\r#'.includes(text[i] ?? '')) i++;
    return i;
  }

  #skipSingleLineString(from: number): number {
    const text = this.#text;
    const quote = text[from];
    let i = from + 1;
    while (i < text.length) {
      const c = text[i];
      if (c === '\n') return i;
      if (c === '\\' && quote === '"') i += 2;
      else if (c === quote) return i + 1;
      else i++;
    }
    return text.length;
  }

  #skipMultiLineString(from: number, quote: '"' | "'"): number {
    const text = this.#text;
    const delimiter = quote.repeat(3);
    let i = from + 3;
    while (i < text.length) {
      if (quote === '"' && text[i] === '\\') {
        i += 2;
        continue;
      }
      if (text.startsWith(delimiter, i)) {
        // Up to two more quotes may close the string as part of its content ("""a"""" is `a"`).
        let end = i + 3;
        while (end < i + 5 && text[end] === quote) end++;
        return end;
      }
      i++;
    }
    return text.length;
  }
}

/** Decodes the escapes of a TOML basic string (keys only, so anything odd is kept as written). */
function decodeBasicString(raw: string): string {
  if (!raw.includes('\\')) return raw;
  const simple: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    if (c !== '\\') {
      out += c;
      continue;
    }
    const kind = raw[i + 1] ?? '';
    const width = kind === 'u' ? 4 : kind === 'U' ? 8 : kind === 'x' ? 2 : 0;
    if (width > 0) {
      const code = Number.parseInt(raw.slice(i + 2, i + 2 + width), 16);
      out += Number.isInteger(code) && code <= 0x10ffff ? String.fromCodePoint(code) : '';
      i += 1 + width;
    } else {
      out += simple[kind] ?? kind;
      i += 1;
    }
  }
  return out;
}
