// Request ids: how a member finds, among the entries it applies, the outcome of its own proposals.
//
// In a log entry an id is 8 bytes, laid out as etcd's idutil lays out its own: the low 16 bits of
// the proposing member's id on top (its origin), a 48-bit counter below. In memory the two halves are
// two numbers, never one bigint: a bigint per put cost ~270 B of garbage to encode and decode, and as
// a Map key it hashed its digits on every lookup.
//
// The counter starts from the clock (milliseconds × 256), so that the ids of this incarnation do not
// repeat those of an earlier one whose entries may still be applied after a restart.

/** The counter's span: 48 bits. */
export const REQUEST_COUNTER_SPAN = 2 ** 48;
const ORIGIN_SPAN = 2 ** 16;
const CLOCK_SPAN_MS = 2 ** 40;

/** The origin of a member's requests: the low 16 bits of its id. */
export function requestOriginOf(memberId: bigint): number {
  return Number(memberId & 0xffffn);
}

/** The counter of one member's proposals: 1 and up, never 0 (which means "no request id"). */
export class RequestIdCounter {
  private last: number;

  constructor(nowMs = Date.now()) {
    this.last = (Math.floor(nowMs) % CLOCK_SPAN_MS) * 256;
  }

  next(): number {
    this.last = this.last + 1 === REQUEST_COUNTER_SPAN ? 1 : this.last + 1;
    return this.last;
  }
}

/** Whether `id` and `origin` fit their halves of the 8 bytes. */
export function isRequestId(id: number, origin: number): boolean {
  return Number.isInteger(id) && id >= 0 && id < REQUEST_COUNTER_SPAN
    && Number.isInteger(origin) && origin >= 0 && origin < ORIGIN_SPAN;
}

/** The 64-bit form, for the rare places that carry it as text (a membership change's context). */
export function requestIdToBigint(id: number, origin: number): bigint {
  return (BigInt(origin) << 48n) | BigInt(id);
}

/** The halves of a 64-bit request id. */
export function requestIdFromBigint(value: bigint): { requestId: number; requestOrigin: number } {
  return { requestId: Number(value & 0xffff_ffff_ffffn), requestOrigin: Number((value >> 48n) & 0xffffn) };
}
