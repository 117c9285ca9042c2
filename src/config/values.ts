// Owns turning one flag's raw text into a typed value by the flag's kind, with Go's parse rules
// (strconv.ParseBool, ParseInt/ParseUint base 0, time.ParseDuration) and etcd's URL rules.
import { parseGoDurationMs } from './duration.js';
import { parseEtcdUrl, parseUrlList } from './urls.js';
import type { FlagSpec } from './flag-table.js';

export type FlagValue = string | boolean | number | string[] | URL[];

const trueTexts = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const falseTexts = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export function parseGoBool(text: string): boolean {
  if (trueTexts.has(text)) return true;
  if (falseTexts.has(text)) return false;
  throw new Error('parse error');
}

/** Go's ParseInt with base 0: decimal, 0x hex, 0o / leading-0 octal, 0b binary, '_' separators. */
export function parseGoInteger(text: string, unsigned: boolean): number {
  const match = /^([+-]?)(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|0[0-7_]*|[1-9][0-9_]*)$/.exec(text);
  if (match === null) throw new Error('parse error');
  const sign = match[1] === '-' ? -1n : 1n;
  let digits = match[2]!.replaceAll('_', '');
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  const value = sign * BigInt(digits);
  if (unsigned && value < 0n) throw new Error('parse error');
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new Error('value out of range');
  }
  return Number(value);
}

/** Comma-separated lists as etcd's StringsValue reads them; empty text is an empty list. */
export function splitList(text: string): string[] {
  if (text === '') return [];
  return text.split(',').map((part) => part.trim());
}

export function parseFlagValue(spec: FlagSpec, text: string): FlagValue {
  switch (spec.kind) {
    case 'string':
    case 'ignored':
      return text;
    case 'bool':
      return parseGoBool(text);
    case 'int':
      return parseGoInteger(text, false);
    case 'uint':
      return parseGoInteger(text, true);
    case 'float': {
      const value = Number(text);
      if (text.trim() === '' || Number.isNaN(value)) throw new Error('parse error');
      return value;
    }
    case 'duration':
      return parseGoDurationMs(text);
    case 'urls':
      return text === '' ? [] : parseUrlList(text);
    case 'strings':
      return splitList(text);
    case 'origins':
      // etcd's UniqueURLs with "*" as the one exception: anything else must be URLs by its rules.
      if (text === '*') return ['*'];
      return text.split(',').map((part) => {
        parseEtcdUrl(part);
        const trimmed = part.trim();
        // As Go's url.URL prints it: the scheme lower-cased, the rest as written.
        const schemeEnd = trimmed.indexOf(':');
        return trimmed.slice(0, schemeEnd).toLowerCase() + trimmed.slice(schemeEnd);
      });
    case 'choice': {
      const choices = spec.choices ?? [];
      if (!choices.includes(text)) {
        throw new Error(`must be one of ${choices.filter((c) => c !== '').map((c) => `"${c}"`).join(', ')}`);
      }
      return text;
    }
  }
}
