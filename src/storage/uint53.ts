// Non-negative safe integers (below 2^53) as 8-byte unsigned 64-bit fields, from their two 32-bit
// halves: Node's writeBig(U)Int64* and readBig(U)Int64* make several bigints per call, and these
// fields are written on every write (revisions, Raft indexes and terms, request ids, leases).
// Callers check the range where a value can come from outside (see revision.ts).
const UINT32_SPAN = 0x1_0000_0000;

// Byte by byte rather than through Buffer's writeUInt32BE/LE, whose argument checks cost more than
// the stores on this path (~0.7% of a put's time at 100 conns/1000 clients). The range check they
// made is kept here: a value they refused is refused alike.
function checkUint53(value: number, target: Buffer, offset: number): void {
  if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`The value of "value" is out of range. It must be >= 0 and <= 2^53 - 1. Received ${value}`);
  }
  if (!(offset >= 0 && offset + 8 <= target.length)) {
    throw new RangeError(`The value of "offset" is out of range. It must be >= 0 and <= ${target.length - 8}. Received ${offset}`);
  }
}

export function writeUint53BE(target: Buffer, offset: number, value: number): void {
  checkUint53(value, target, offset);
  const high = Math.floor(value / UINT32_SPAN);
  const low = value >>> 0;
  target[offset] = high >>> 24;
  target[offset + 1] = high >>> 16;
  target[offset + 2] = high >>> 8;
  target[offset + 3] = high;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = low >>> 16;
  target[offset + 6] = low >>> 8;
  target[offset + 7] = low;
}

export function readUint53BE(source: Buffer, offset: number): number {
  return source.readUInt32BE(offset) * UINT32_SPAN + source.readUInt32BE(offset + 4);
}

export function writeUint53LE(target: Buffer, offset: number, value: number): void {
  checkUint53(value, target, offset);
  const high = Math.floor(value / UINT32_SPAN);
  const low = value >>> 0;
  target[offset] = low;
  target[offset + 1] = low >>> 8;
  target[offset + 2] = low >>> 16;
  target[offset + 3] = low >>> 24;
  target[offset + 4] = high;
  target[offset + 5] = high >>> 8;
  target[offset + 6] = high >>> 16;
  target[offset + 7] = high >>> 24;
}

export function readUint53LE(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset) + source.readUInt32LE(offset + 4) * UINT32_SPAN;
}
