// Parses request JSON for the gateway. JSON.parse would turn a 64-bit id such as
// `"lease": 7587867539435395073` into a rounded double before we could see its digits, so numbers
// stay as their source text (JsonNumber) and the proto codec converts them by field type. Error
// messages follow Go's encoding/json, which is what etcd's gateway answers with.

/** A JSON number kept as written; the proto codec decides whether it is an int64, int32 or double. */
export class JsonNumber {
  constructor(readonly text: string) {}
}

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };

export class JsonSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JsonSyntaxError';
  }
}

/** Nested txns are at most 64 deep and each level is 4 JSON levels; anything deeper is hostile. */
export const jsonNestingDepthMax = 512;

const numberPattern = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

class Parser {
  private position = 0;

  constructor(private readonly text: string) {}

  parseDocument(): JsonValue {
    this.skipSpace();
    if (this.position >= this.text.length) throw new JsonSyntaxError('unexpected end of JSON input');
    const value = this.parseValue(0);
    this.skipSpace();
    if (this.position < this.text.length) throw this.unexpected('after top-level value');
    return value;
  }

  private skipSpace(): void {
    const text = this.text;
    while (this.position < text.length) {
      const c = text.charCodeAt(this.position);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
      this.position++;
    }
  }

  private unexpected(context: string): JsonSyntaxError {
    if (this.position >= this.text.length) return new JsonSyntaxError('unexpected end of JSON input');
    return new JsonSyntaxError(`invalid character ${quoteChar(this.text[this.position]!)} ${context}`);
  }

  private parseValue(depth: number): JsonValue {
    if (depth > jsonNestingDepthMax) throw new JsonSyntaxError(`exceeded max depth of ${jsonNestingDepthMax}`);
    const c = this.text[this.position];
    if (c === '{') return this.parseObject(depth);
    if (c === '[') return this.parseArray(depth);
    if (c === '"') return this.parseString();
    if (c === 't') return this.parseLiteral('true', true);
    if (c === 'f') return this.parseLiteral('false', false);
    if (c === 'n') return this.parseLiteral('null', null);
    numberPattern.lastIndex = this.position;
    const match = numberPattern.exec(this.text);
    if (match && match[0] !== '-') {
      this.position += match[0].length;
      return new JsonNumber(match[0]);
    }
    throw this.unexpected('looking for beginning of value');
  }

  private parseLiteral<T>(word: string, value: T): T {
    for (let i = 0; i < word.length; i++) {
      if (this.text[this.position + i] !== word[i]) {
        this.position += i;
        throw this.unexpected(`in literal ${word} (expecting ${quoteChar(word[i]!)})`);
      }
    }
    this.position += word.length;
    return value;
  }

  private parseObject(depth: number): { [key: string]: JsonValue } {
    const result: { [key: string]: JsonValue } = Object.create(null) as { [key: string]: JsonValue };
    this.position++;
    this.skipSpace();
    if (this.text[this.position] === '}') {
      this.position++;
      return result;
    }
    for (;;) {
      this.skipSpace();
      if (this.text[this.position] !== '"') throw this.unexpected('looking for beginning of object key string');
      const key = this.parseString();
      this.skipSpace();
      if (this.text[this.position] !== ':') throw this.unexpected('after object key');
      this.position++;
      this.skipSpace();
      result[key] = this.parseValue(depth + 1);
      this.skipSpace();
      const next = this.text[this.position];
      this.position++;
      if (next === '}') return result;
      if (next !== ',') {
        this.position--;
        throw this.unexpected('after object key:value pair');
      }
    }
  }

  private parseArray(depth: number): JsonValue[] {
    const result: JsonValue[] = [];
    this.position++;
    this.skipSpace();
    if (this.text[this.position] === ']') {
      this.position++;
      return result;
    }
    for (;;) {
      this.skipSpace();
      result.push(this.parseValue(depth + 1));
      this.skipSpace();
      const next = this.text[this.position];
      this.position++;
      if (next === ']') return result;
      if (next !== ',') {
        this.position--;
        throw this.unexpected('after array element');
      }
    }
  }

  private parseString(): string {
    const text = this.text;
    const start = this.position + 1;
    // Fast path: base64 values are long and never escaped.
    const quote = text.indexOf('"', start);
    if (quote < 0) throw new JsonSyntaxError('unexpected end of JSON input');
    const backslash = text.indexOf('\\', start);
    if (backslash < 0 || backslash > quote) {
      const plain = text.slice(start, quote);
      if (hasControlCharacter(plain)) throw new JsonSyntaxError('invalid character in string literal');
      this.position = quote + 1;
      return plain;
    }
    let end = start;
    for (;;) {
      if (end >= text.length) throw new JsonSyntaxError('unexpected end of JSON input');
      const c = text[end];
      if (c === '"') break;
      if (c === '\\') end++;
      end++;
    }
    this.position = end + 1;
    try {
      return JSON.parse(text.slice(start - 1, end + 1)) as string;
    } catch {
      throw new JsonSyntaxError('invalid character in string escape code');
    }
  }
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

function quoteChar(c: string): string {
  return c === "'" ? "'\\''" : `'${c}'`;
}

export function parseJsonText(text: string): JsonValue {
  return new Parser(text).parseDocument();
}
