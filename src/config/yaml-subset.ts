// Owns a small YAML reader for the subset etcd's config files use (etcd.conf.yml.sample): nested
// block mappings, block and one-line flow sequences, plain and quoted scalars, comments. Anything
// beyond that (anchors, block scalars, flow mappings, multi-document files) is refused with a
// line number rather than guessed at. Scalars stay strings; the flag parser gives them types.

export type YamlValue = string | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  lineNumber: number;
}

/** Bounds the nesting so a hostile file cannot exhaust the stack. */
const nestingDepthMax = 32;

function stripComment(raw: string): string {
  let quote: string | null = null;
  for (let i = 0; i < raw.length; i += 1) {
    const ch = raw[i]!;
    if (quote !== null) {
      if (ch === '\\' && quote === '"') i += 1;
      else if (ch === quote) quote = null;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === '#' && (i === 0 || raw[i - 1] === ' ' || raw[i - 1] === '\t')) {
      return raw.slice(0, i);
    }
  }
  return raw;
}

function toLines(source: string): Line[] {
  const lines: Line[] = [];
  source.split(/\r?\n/).forEach((raw, index) => {
    const text = stripComment(raw).trimEnd();
    if (text.trim() === '') return;
    if (/^\t/.test(text)) throw new Error(`yaml: line ${index + 1}: tabs are not allowed for indentation`);
    if (text === '---' && lines.length === 0) return;
    if (text === '---' || text === '...') throw new Error(`yaml: line ${index + 1}: only one document is supported`);
    const indent = text.length - text.trimStart().length;
    lines.push({ indent, text: text.trimStart(), lineNumber: index + 1 });
  });
  return lines;
}

function unquote(text: string, lineNumber: number): string {
  if (text.startsWith('"')) {
    if (!text.endsWith('"') || text.length < 2) throw new Error(`yaml: line ${lineNumber}: unterminated string`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!text.endsWith("'") || text.length < 2) throw new Error(`yaml: line ${lineNumber}: unterminated string`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  return text;
}

function splitFlow(inner: string, lineNumber: number): string[] {
  const items: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (const ch of inner) {
    if (quote !== null) {
      if (ch === quote) quote = null;
      current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === ',') {
      items.push(current.trim());
      current = '';
    } else if (ch === '[' || ch === '{') {
      throw new Error(`yaml: line ${lineNumber}: nested flow collections are not supported`);
    } else {
      current += ch;
    }
  }
  if (current.trim() !== '') items.push(current.trim());
  return items;
}

function parseScalar(text: string, lineNumber: number): YamlValue {
  if (text === '' || text === '~' || text === 'null' || text === 'Null' || text === 'NULL') return null;
  if (text.startsWith('[')) {
    if (!text.endsWith(']')) throw new Error(`yaml: line ${lineNumber}: unterminated flow sequence`);
    return splitFlow(text.slice(1, -1), lineNumber).map((item) => parseScalar(item, lineNumber));
  }
  if (/^[{&*|>!%@`]/.test(text)) {
    throw new Error(`yaml: line ${lineNumber}: unsupported YAML construct "${text[0]}"`);
  }
  return unquote(text, lineNumber);
}

/** Finds the ": " (or trailing ":") that ends a mapping key, outside quotes. */
function keySeparatorAt(text: string): number {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i += 1) {
    const ch = text[i]!;
    if (quote !== null) {
      if (ch === quote) quote = null;
    } else if ((ch === '"' || ch === "'") && i === 0) {
      quote = ch;
    } else if (ch === ':' && (i === text.length - 1 || text[i + 1] === ' ')) {
      return i;
    }
  }
  return -1;
}

class BlockParser {
  private position = 0;

  constructor(private readonly lines: Line[]) {}

  parseDocument(): YamlValue {
    if (this.lines.length === 0) return null;
    const value = this.parseBlock(this.lines[0]!.indent, 0);
    if (this.position < this.lines.length) {
      const line = this.lines[this.position]!;
      throw new Error(`yaml: line ${line.lineNumber}: unexpected indentation`);
    }
    return value;
  }

  private parseBlock(indent: number, depth: number): YamlValue {
    if (depth > nestingDepthMax) throw new Error('yaml: nesting too deep');
    const first = this.lines[this.position]!;
    return first.text === '-' || first.text.startsWith('- ')
      ? this.parseSequence(indent, depth)
      : this.parseMapping(indent, depth);
  }

  private parseNested(parentIndent: number, depth: number): YamlValue {
    const next = this.lines[this.position];
    if (next === undefined || next.indent <= parentIndent) return null;
    return this.parseBlock(next.indent, depth + 1);
  }

  private parseMapping(indent: number, depth: number): YamlValue {
    const mapping: { [key: string]: YamlValue } = {};
    while (this.position < this.lines.length) {
      const line = this.lines[this.position]!;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new Error(`yaml: line ${line.lineNumber}: unexpected indentation`);
      if (line.text.startsWith('- ')) throw new Error(`yaml: line ${line.lineNumber}: sequence item in a mapping`);
      const separatorAt = keySeparatorAt(line.text);
      if (separatorAt === -1) throw new Error(`yaml: line ${line.lineNumber}: expected "key: value"`);
      const key = unquote(line.text.slice(0, separatorAt).trim(), line.lineNumber);
      if (Object.hasOwn(mapping, key)) throw new Error(`yaml: line ${line.lineNumber}: duplicate key "${key}"`);
      const rest = line.text.slice(separatorAt + 1).trim();
      this.position += 1;
      mapping[key] = rest === '' ? this.parseNested(indent, depth) : parseScalar(rest, line.lineNumber);
    }
    return mapping;
  }

  private parseSequence(indent: number, depth: number): YamlValue {
    const items: YamlValue[] = [];
    while (this.position < this.lines.length) {
      const line = this.lines[this.position]!;
      if (line.indent < indent) break;
      if (line.indent > indent) throw new Error(`yaml: line ${line.lineNumber}: unexpected indentation`);
      if (!(line.text === '-' || line.text.startsWith('- '))) break;
      const rest = line.text.slice(1).trim();
      if (rest === '') {
        this.position += 1;
        items.push(this.parseNested(indent, depth));
      } else if (keySeparatorAt(rest) !== -1 && !/^["'[]/.test(rest)) {
        // "- key: value": the item is a mapping whose keys line up two columns further in.
        this.lines[this.position] = { indent: indent + 2, text: rest, lineNumber: line.lineNumber };
        items.push(this.parseMapping(indent + 2, depth + 1));
      } else {
        this.position += 1;
        items.push(parseScalar(rest, line.lineNumber));
      }
    }
    return items;
  }
}

export function parseYamlSubset(source: string): YamlValue {
  return new BlockParser(toLines(source)).parseDocument();
}
