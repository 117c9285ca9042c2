// The linearizability checker against hand-made histories with known answers, and a property:
// any history produced by really running ops one after another on the model is linearizable, and
// a read answering a value nobody wrote never is.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { checkKvHistory, checkRegister, type KvInput, type KvOperation, type KvOutput } from './linearizability.js';

let clock = 0;
function op(clientId: number, invokeMs: number, completeMs: number, input: KvInput, output: KvOutput | undefined, key = 'k'): KvOperation {
  return { clientId, key, input, output, invokeMs, completeMs };
}
const get = (value: string | null): [KvInput, KvOutput] => [{ kind: 'get' }, { kind: 'get', value }];
const put = (value: string): [KvInput, KvOutput] => [{ kind: 'put', value }, { kind: 'put' }];
const cas = (expected: string | null, value: string, succeeded: boolean): [KvInput, KvOutput] =>
  [{ kind: 'cas', expected, value }, { kind: 'cas', succeeded }];

describe('checkRegister', () => {
  test('sequential put then get is linearizable; a stale get after the put is not', () => {
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(2, 2, 3, ...get('a'))])).toBe(true);
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 3, ...put('b')), op(2, 4, 5, ...get('a'))])).toBe(false);
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(2, 2, 3, ...get(null))])).toBe(false);
  });

  test('a get concurrent with a put may see either value, but two reads cannot go back in time', () => {
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 10, ...put('b')), op(2, 3, 4, ...get('b')), op(3, 5, 6, ...get('a'))])).toBe(false);
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 10, ...put('b')), op(2, 3, 4, ...get('a')), op(3, 5, 6, ...get('b'))])).toBe(true);
  });

  test('an unknown put may take effect later or never, but not before it was invoked', () => {
    const unknownPut = (invokeMs: number, value: string): KvOperation => op(1, invokeMs, 0, { kind: 'put', value }, undefined);
    expect(checkRegister([unknownPut(0, 'a'), op(2, 50, 51, ...get('a'))])).toBe(true);
    expect(checkRegister([unknownPut(0, 'a'), op(2, 50, 51, ...get(null))])).toBe(true);
    expect(checkRegister([op(2, 0, 1, ...get('a')), unknownPut(5, 'a')])).toBe(false);
    // Once observed it stays (no second effect): a, then b, then a again is impossible.
    expect(checkRegister([unknownPut(0, 'a'), op(2, 10, 11, ...get('a')), op(2, 12, 13, ...put('b')), op(2, 14, 15, ...get('a'))])).toBe(false);
  });

  test('compare-and-swap succeeds exactly when the value matches; an unknown CAS applies only on a match', () => {
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 3, ...cas('a', 'b', true)), op(1, 4, 5, ...get('b'))])).toBe(true);
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 3, ...cas('x', 'b', true))])).toBe(false);
    expect(checkRegister([op(1, 0, 1, ...put('a')), op(1, 2, 3, ...cas('a', 'b', false))])).toBe(false);
    expect(checkRegister([op(1, 0, 1, ...cas(null, 'a', true)), op(2, 2, 3, ...get('a'))])).toBe(true);
    const unknownCas = op(1, 2, 0, { kind: 'cas', expected: 'x', value: 'b' }, undefined);
    expect(checkRegister([op(1, 0, 1, ...put('a')), unknownCas, op(2, 5, 6, ...get('b'))])).toBe(false);
  });
});

describe('checkKvHistory', () => {
  test('keys are independent; the failing key and its history are reported', () => {
    const history = [
      op(1, 0, 1, ...put('a'), 'x'), op(2, 2, 3, ...get('a'), 'x'),
      op(1, 0, 1, ...put('a'), 'y'), op(1, 2, 3, ...put('b'), 'y'), op(2, 4, 5, ...get('a'), 'y'),
      op(3, 6, 0, { kind: 'get' }, undefined, 'y'),
    ];
    const result = checkKvHistory(history);
    expect(result.ok).toBe(false);
    expect(result.failedKey).toBe('y');
    expect(result.failedHistory).toHaveLength(3);
    expect(result.operationsChecked).toBe(5);
  });

  test('property: histories run one op at a time on the model are linearizable; a read of an unwritten value is not', () => {
    const opArbitrary = fc.oneof(
      fc.record({ kind: fc.constant('get' as const) }),
      fc.record({ kind: fc.constant('put' as const), value: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ kind: fc.constant('cas' as const), expected: fc.constantFrom('a', 'b', null), value: fc.constantFrom('a', 'b', 'c') }),
    );
    fc.assert(fc.property(fc.array(fc.tuple(fc.constantFrom('k1', 'k2'), opArbitrary), { minLength: 1, maxLength: 40 }), fc.nat(), (steps, corruptSeed) => {
      const state = new Map<string, string | null>();
      clock = 0;
      const history: KvOperation[] = steps.map(([key, input], index) => {
        const current = state.get(key) ?? null;
        let output: KvOutput;
        if (input.kind === 'get') output = { kind: 'get', value: current };
        else if (input.kind === 'put') { state.set(key, input.value); output = { kind: 'put' }; }
        else {
          const succeeded = current === input.expected;
          if (succeeded) state.set(key, input.value);
          output = { kind: 'cas', succeeded };
        }
        clock += 2;
        return op(index % 3, clock, clock + 1, input, output, key);
      });
      expect(checkKvHistory(history).ok).toBe(true);
      const reads = history.filter((entry) => entry.input.kind === 'get');
      const corrupted = reads[corruptSeed % Math.max(1, reads.length)];
      if (corrupted) {
        corrupted.output = { kind: 'get', value: 'never-written' };
        expect(checkKvHistory(history).ok).toBe(false);
      }
    }), { numRuns: 200, seed: 42 });
  });
});
