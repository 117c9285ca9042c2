// The byte encoding of a ConfChange carried in a ConfChange log entry. It is raftpb.ConfChange's protobuf
// encoding (type=2, node_id=3, context=4), so a log entry means the same thing to etcd's tools; written by
// hand to keep src/raft free of dependencies.

import { type ConfChange, ConfChangeType } from './types.js';

/** A ConfChange context larger than this is refused when decoding: it would be a corrupt entry. */
export const confChangeContextBytesMax = 1024 * 1024;

function pushVarint(out: number[], value: bigint): void {
  if (value < 0n || value >= 1n << 64n) throw new Error(`raft: varint out of uint64 range: ${value}`);
  let rest = value;
  while (rest >= 0x80n) {
    out.push(Number(rest & 0x7fn) | 0x80);
    rest >>= 7n;
  }
  out.push(Number(rest));
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const head: number[] = [];
  head.push(0x10); // field 2, varint
  pushVarint(head, BigInt(cc.type));
  head.push(0x18); // field 3, varint
  pushVarint(head, cc.nodeId);
  if (cc.context.length > 0) {
    head.push(0x22); // field 4, length-delimited
    pushVarint(head, BigInt(cc.context.length));
  }
  const out = new Uint8Array(head.length + cc.context.length);
  out.set(head, 0);
  out.set(cc.context, head.length);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  let position = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (position >= data.length || shift > 63n) throw new Error('raft: malformed ConfChange varint');
      const byte = data[position++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  const cc: ConfChange = { type: ConfChangeType.AddNode, nodeId: 0n, context: new Uint8Array(0) };
  while (position < data.length) {
    const tag = Number(readVarint());
    const field = tag >> 3;
    const wireType = tag & 7;
    if (wireType === 0) {
      const value = readVarint();
      if (field === 2) cc.type = Number(value);
      else if (field === 3) cc.nodeId = value;
    } else if (wireType === 2) {
      const length = Number(readVarint());
      if (length > confChangeContextBytesMax || position + length > data.length) throw new Error('raft: malformed ConfChange bytes field');
      if (field === 4) cc.context = data.slice(position, position + length);
      position += length;
    } else {
      throw new Error(`raft: unsupported wire type ${wireType} in ConfChange`);
    }
  }
  if (cc.type < ConfChangeType.AddNode || cc.type > ConfChangeType.AddLearnerNode) {
    throw new Error(`raft: unknown ConfChange type ${cc.type}`);
  }
  return cc;
}
