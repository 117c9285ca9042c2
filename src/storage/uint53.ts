// Non-negative safe integers (below 2^53) as 8-byte unsigned 64-bit fields, from their two 32-bit
// halves: Node's writeBig(U)Int64* and readBig(U)Int64* make several bigints per call, and these
// fields are written on every write (revisions, Raft indexes and terms, request ids, leases).
// Callers check the range where a value can come from outside (see revision.ts).
const UINT32_SPAN = 0x1_0000_0000;

export function writeUint53BE(target: Buffer, offset: number, value: number): void {
  target.writeUInt32BE(Math.floor(value / UINT32_SPAN), offset);
  target.writeUInt32BE(value % UINT32_SPAN, offset + 4);
}

export function readUint53BE(source: Buffer, offset: number): number {
  return source.readUInt32BE(offset) * UINT32_SPAN + source.readUInt32BE(offset + 4);
}

export function writeUint53LE(target: Buffer, offset: number, value: number): void {
  target.writeUInt32LE(value % UINT32_SPAN, offset);
  target.writeUInt32LE(Math.floor(value / UINT32_SPAN), offset + 4);
}

export function readUint53LE(source: Buffer, offset: number): number {
  return source.readUInt32LE(offset) + source.readUInt32LE(offset + 4) * UINT32_SPAN;
}
