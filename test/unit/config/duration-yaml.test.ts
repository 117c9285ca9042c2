// Tests the Go duration reader against Go's own examples, and the YAML subset reader on the
// shapes etcd config files and compose files use, including what it must refuse.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatGoDuration, parseGoDurationMs } from '../../../src/config/duration.js';
import { parseYamlSubset } from '../../../src/config/yaml-subset.js';

describe('Go durations', () => {
  it('reads units, compounds, fractions and signs', () => {
    expect(parseGoDurationMs('10m')).toBe(600_000);
    expect(parseGoDurationMs('1h30m')).toBe(5_400_000);
    expect(parseGoDurationMs('5s')).toBe(5000);
    expect(parseGoDurationMs('100ms')).toBe(100);
    expect(parseGoDurationMs('1.5h')).toBe(5_400_000);
    expect(parseGoDurationMs('-2s')).toBe(-2000);
    expect(parseGoDurationMs('1500us')).toBeCloseTo(1.5);
    expect(parseGoDurationMs('0')).toBe(0);
  });

  it('refuses a bare number, an unknown unit and garbage', () => {
    expect(() => parseGoDurationMs('10')).toThrow('missing unit');
    expect(() => parseGoDurationMs('10d')).toThrow('invalid duration');
    expect(() => parseGoDurationMs('')).toThrow('invalid duration');
    expect(() => parseGoDurationMs('h')).toThrow('invalid duration');
  });

  it('formats as Go prints and reads back what it prints', () => {
    expect(formatGoDuration(5_400_000)).toBe('1h30m0s');
    expect(formatGoDuration(0)).toBe('0s');
    expect(formatGoDuration(250)).toBe('250ms');
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e9 }), (durationMs) => {
        expect(parseGoDurationMs(formatGoDuration(durationMs))).toBeCloseTo(durationMs, 6);
      }),
      { numRuns: 200 },
    );
  });
});

describe('YAML subset', () => {
  it('reads nested mappings, sequences, quotes and comments', () => {
    const doc = parseYamlSubset(`
# comment
name: "a # not a comment"
empty:
list:
  - one
  - 'two'
flow: [x, "y, z"]
nested:
  inner: 1   # trailing
  deeper:
    k: v
items:
  - key: a
    other: b
  - key: c
`);
    expect(doc).toEqual({
      name: 'a # not a comment',
      empty: null,
      list: ['one', 'two'],
      flow: ['x', 'y, z'],
      nested: { inner: '1', deeper: { k: 'v' } },
      items: [{ key: 'a', other: 'b' }, { key: 'c' }],
    });
  });

  it('keeps URLs with colons as plain scalars', () => {
    expect(parseYamlSubset('initial-cluster: a=http://1.2.3.4:2380,b=http://1.2.3.5:2380\n')).toEqual({
      'initial-cluster': 'a=http://1.2.3.4:2380,b=http://1.2.3.5:2380',
    });
  });

  it('refuses what it does not understand, with a line number', () => {
    expect(() => parseYamlSubset('a: &anchor 1\n')).toThrow('line 1');
    expect(() => parseYamlSubset('a: |\n  text\n')).toThrow('unsupported');
    expect(() => parseYamlSubset('a: 1\na: 2\n')).toThrow('duplicate key');
    expect(() => parseYamlSubset('a: 1\n   b: 2\n')).toThrow('line 2');
    expect(() => parseYamlSubset('just text\n')).toThrow('expected "key: value"');
  });
});
