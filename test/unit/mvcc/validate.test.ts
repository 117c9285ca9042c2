import { describe, expect, it } from 'vitest';
import { isEtcdError } from '../../../src/errors.js';
import { validateDeleteRange, validatePut, validateRange, validateTxn } from '../../../src/mvcc/validate.js';
import type { RequestOp, TxnRequest } from '../../../src/mvcc/types.js';
import { CompareResult, CompareTarget } from '../../../src/mvcc/types.js';
import { FROM_KEY, cmp, del, get, put, txn } from './helpers.js';

function errorName(fn: () => void): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    if (isEtcdError(error)) return error.errorName;
    throw error;
  }
}

const ops = (n: number, make: (i: number) => RequestOp): RequestOp[] => Array.from({ length: n }, (_, i) => make(i));

describe('validate', () => {
  it('range: empty key and sort enums', () => {
    expect(errorName(() => validateRange(get('')))).toBe('EmptyKey');
    expect(errorName(() => validateRange(get('a', '', { sortOrder: 3 })))).toBe('InvalidSortOption');
    expect(errorName(() => validateRange(get('a', '', { sortTarget: 5 })))).toBe('InvalidSortOption');
    expect(errorName(() => validateRange(get('a', '', { sortOrder: 2, sortTarget: 4 })))).toBeUndefined();
  });

  it('put: empty key, value with ignore_value, lease with ignore_lease', () => {
    expect(errorName(() => validatePut(put('', 'v')))).toBe('EmptyKey');
    expect(errorName(() => validatePut(put('k', 'v', { ignoreValue: true })))).toBe('ValueProvided');
    expect(errorName(() => validatePut(put('k', '', { ignoreValue: true })))).toBeUndefined();
    expect(errorName(() => validatePut(put('k', 'v', { ignoreLease: true, lease: 5n })))).toBe('LeaseProvided');
    expect(errorName(() => validatePut(put('k', 'v', { ignoreLease: true })))).toBeUndefined();
  });

  it('delete: empty key', () => {
    expect(errorName(() => validateDeleteRange(del('')))).toBe('EmptyKey');
    expect(errorName(() => validateDeleteRange(del('a', 'b')))).toBeUndefined();
  });

  it('txn: op budget per level, nested txns against what is left', () => {
    const max = 4;
    expect(errorName(() => validateTxn(txn([], ops(4, (i) => ({ put: put(`k${i}`, 'v') }))), max))).toBeUndefined();
    expect(errorName(() => validateTxn(txn([], ops(5, (i) => ({ put: put(`k${i}`, 'v') }))), max))).toBe('TooManyOps');
    expect(errorName(() => validateTxn(txn(Array.from({ length: 5 }, () => cmp('a', 0, 0)), []), max))).toBe('TooManyOps');
    expect(errorName(() => validateTxn(txn([], [], ops(5, () => ({ range: get('a') }))), max))).toBe('TooManyOps');
    // Level 1 uses 2 of 4; the nested txn may use 2 but not 3.
    const nested = (n: number): TxnRequest => txn([], [
      { put: put('x', 'v') },
      { txn: txn([], ops(n, (i) => ({ put: put(`n${i}`, 'v') }))) },
    ]);
    expect(errorName(() => validateTxn(nested(2), max))).toBeUndefined();
    expect(errorName(() => validateTxn(nested(3), max))).toBe('TooManyOps');
  });

  it('txn: empty keys anywhere', () => {
    expect(errorName(() => validateTxn(txn([cmp('', 0, 0)], []), 128))).toBe('EmptyKey');
    expect(errorName(() => validateTxn(txn([], [{ txn: txn([], [], [{ deleteRange: del('') }]) }]), 128))).toBe('EmptyKey');
    expect(errorName(() => validateTxn(txn([], [{ put: put('k', 'v', { ignoreValue: true }) }]), 128))).toBe('ValueProvided');
  });

  it('txn: duplicate keys per branch, recursively', () => {
    const check = (request: TxnRequest): string | undefined => errorName(() => validateTxn(request, 128));
    expect(check(txn([], [{ put: put('x', '1') }, { put: put('x', '2') }]))).toBe('DuplicateKey');
    // One put per branch of the same txn is fine: only one branch runs.
    expect(check(txn([], [{ put: put('x', '1') }], [{ put: put('x', '2') }]))).toBeUndefined();
    expect(check(txn([], [{ deleteRange: del('a', 'c') }, { put: put('b', '1') }]))).toBe('DuplicateKey');
    expect(check(txn([], [{ deleteRange: del('a', 'c') }, { put: put('c', '1') }]))).toBeUndefined();
    expect(check(txn([], [{ deleteRange: del('b') }, { put: put('b', '1') }]))).toBe('DuplicateKey');
    // Two deletes over the same keys, and reads of written keys, are fine.
    expect(check(txn([], [{ deleteRange: del('a', 'z') }, { deleteRange: del('b') }, { range: get('b') }]))).toBeUndefined();
    // etcd 3.4 treats a from-key delete as the empty interval [key, "\0"): no conflict.
    expect(check(txn([], [{ deleteRange: del('a', FROM_KEY) }, { put: put('c', '1') }]))).toBeUndefined();
    // Nested: a put in a nested txn conflicts with a put or delete of the enclosing branch.
    expect(check(txn([], [{ put: put('x', '1') }, { txn: txn([], [{ put: put('x', '2') }]) }]))).toBe('DuplicateKey');
    expect(check(txn([], [{ deleteRange: del('w', 'y') }, { txn: txn([], [], [{ put: put('x', '2') }]) }]))).toBe('DuplicateKey');
    expect(check(txn([], [{ txn: txn([], [{ deleteRange: del('x') }]) }, { put: put('x', '2') }]))).toBe('DuplicateKey');
    // The two branches of one nested txn may touch the same key...
    expect(check(txn([], [{ txn: txn([], [{ put: put('x', '1') }], [{ put: put('x', '2') }]) }]))).toBeUndefined();
    // ...but two nested txns of one branch may not.
    expect(check(txn([], [
      { txn: txn([], [{ put: put('x', '1') }]) },
      { txn: txn([], [], [{ put: put('x', '2') }]) },
    ]))).toBe('DuplicateKey');
    expect(check(txn([cmp('a', CompareTarget.VALUE, CompareResult.EQUAL, { value: 'v' })], [{ put: put('a', '1') }]))).toBeUndefined();
  });
});
