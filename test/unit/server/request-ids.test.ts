// Request ids: a counter per member that never hands out 0 ("no id"), wraps within 48 bits, and
// starts from the clock so that a restarted member does not reuse its earlier incarnation's ids.
import { describe, expect, it } from 'vitest';
import {
  isRequestId, REQUEST_COUNTER_SPAN, RequestIdCounter, requestIdFromBigint, requestIdToBigint, requestOriginOf,
} from '../../../src/server/request-ids.js';

describe('request ids', () => {
  it('counts up from the clock, skips 0 when it wraps, and stays within 48 bits', () => {
    const early = new RequestIdCounter(1_000);
    const later = new RequestIdCounter(2_000);
    expect(early.next()).toBe(256_001);
    expect(later.next()).toBeGreaterThan(early.next() + 1000);
    // 2^40 ms after the epoch the clock part starts over: the last value below the span wraps to 1.
    const top = new RequestIdCounter(2 ** 40 - 1);
    const seen = Array.from({ length: 300 }, () => top.next());
    expect(seen.slice(254, 257)).toEqual([REQUEST_COUNTER_SPAN - 1, 1, 2]);
    expect(seen.every((id) => isRequestId(id, 0) && id !== 0)).toBe(true);
  });

  it('splits a 64-bit id into origin and counter, and joins them back', () => {
    for (const value of [0n, 1n, (1n << 48n) - 1n, 1n << 48n, (1n << 64n) - 1n, 0xabcd_0000_1234_5678n]) {
      const { requestId, requestOrigin } = requestIdFromBigint(value);
      expect(isRequestId(requestId, requestOrigin)).toBe(true);
      expect(requestIdToBigint(requestId, requestOrigin)).toBe(value);
    }
    expect(requestOriginOf(0x1234_5678_9abc_def0n)).toBe(0xdef0);
    expect(isRequestId(REQUEST_COUNTER_SPAN, 0)).toBe(false);
    expect(isRequestId(1, 0x1_0000)).toBe(false);
    expect(isRequestId(-1, 0)).toBe(false);
  });
});
