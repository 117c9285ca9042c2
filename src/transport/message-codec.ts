// Owns the wire form of one raft Message between our members: a compact binary layout (not etcd's
// raftpb: Go peers are out of scope) that keeps every field, every entry and the snapshot metadata,
// with 64-bit member ids carried as exact uint64s. Pure: no I/O.
//
// Layout (all integers big-endian or LEB128 varints of non-negative safe integers):
//   u8 format | u8 type | u8 flags (1 = reject, 2 = has snapshot) | u64 to | u64 from |
//   varint term, logTerm, index, commit, rejectHint | bytes context |
//   varint entry count, then per entry: varint term, index | u8 type | bytes data |
//   [snapshot: varint index, term | varint voter count, u64 each | varint learner count, u64 each | bytes data]
// where "bytes" is a varint length followed by that many bytes. An accepting AppResp carries
// selfCommit as rejectHint 1 (unused there), so that a member built before selfCommit, which
// closes a stream on a flag it does not know, reads it and ignores it.
import { MessageType, type ConfState, type Entry, type Message, type NodeId, type Snapshot } from '../raft/types.js';

const FORMAT_VERSION = 1;
const FLAG_REJECT = 1;
const FLAG_SNAPSHOT = 2;
const UINT64_MAX = (1n << 64n) - 1n;
/** A safe integer needs at most 53 bits: 8 varint bytes carry 56. */
const VARINT_BYTES_MAX = 8;
const MESSAGE_TYPE_MAX = Math.max(...Object.values(MessageType));

export class MessageCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MessageCodecError';
  }
}

function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function checkUint(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new MessageCodecError(`${field} is not a non-negative safe integer: ${value}`);
}

function checkId(id: NodeId, field: string): void {
  if (typeof id !== 'bigint' || id < 0n || id > UINT64_MAX) throw new MessageCodecError(`${field} is not a uint64: ${String(id)}`);
}

/** The varint size of a uint field, checked. */
function uintSize(value: number, field: string): number {
  checkUint(value, field);
  return varintSize(value);
}

function bytesSize(bytes: Uint8Array): number {
  return varintSize(bytes.length) + bytes.length;
}

function confStateSize(confState: ConfState): number {
  return varintSize(confState.voters.length) + 8 * confState.voters.length +
    varintSize(confState.learners.length) + 8 * confState.learners.length;
}

/** The exact number of bytes `encodeMessage` produces; also validates every field. */
/** An accepting AppResp's rejectHint on the wire: 1 for selfCommit (see the layout above). */
function rejectHintOnWire(message: Message): number {
  if (message.type === MessageType.AppResp && !message.reject) return message.selfCommit ? 1 : 0;
  return message.rejectHint;
}

export function encodedMessageSize(message: Message): number {
  if (!Number.isInteger(message.type) || message.type < 0 || message.type > MESSAGE_TYPE_MAX) {
    throw new MessageCodecError(`unknown message type ${message.type}`);
  }
  checkId(message.to, 'to');
  checkId(message.from, 'from');
  // Field by field: a loop over [name, value] pairs built six arrays per message sent.
  let size = 3 + 16 + uintSize(message.term, 'term') + uintSize(message.logTerm, 'logTerm') + uintSize(message.index, 'index') +
    uintSize(message.commit, 'commit') + uintSize(rejectHintOnWire(message), 'rejectHint');
  size += bytesSize(message.context);
  size += varintSize(message.entries.length);
  for (const entry of message.entries) {
    checkUint(entry.term, 'entry.term');
    checkUint(entry.index, 'entry.index');
    if (!Number.isInteger(entry.type) || entry.type < 0 || entry.type > 0xff) throw new MessageCodecError(`bad entry type ${entry.type}`);
    size += varintSize(entry.term) + varintSize(entry.index) + 1 + bytesSize(entry.data);
  }
  if (message.snapshot !== undefined) {
    const { metadata, data } = message.snapshot;
    checkUint(metadata.index, 'snapshot.index');
    checkUint(metadata.term, 'snapshot.term');
    for (const id of [...metadata.confState.voters, ...metadata.confState.learners]) checkId(id, 'snapshot member');
    size += varintSize(metadata.index) + varintSize(metadata.term) + confStateSize(metadata.confState) + bytesSize(data);
  }
  return size;
}

class Writer {
  offset = 0;
  constructor(readonly buffer: Buffer) {}
  u8(value: number): void {
    this.buffer[this.offset++] = value;
  }
  u64(value: bigint): void {
    this.buffer.writeBigUInt64BE(value, this.offset);
    this.offset += 8;
  }
  varint(value: number): void {
    while (value >= 0x80) {
      this.buffer[this.offset++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buffer[this.offset++] = value;
  }
  bytes(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.buffer.set(bytes, this.offset);
    this.offset += bytes.length;
  }
}

/** Writes `message` at `offset` of `target`, which must have `encodedMessageSize(message)` bytes free there. */
export function encodeMessageInto(message: Message, target: Buffer, offset: number, size = encodedMessageSize(message)): number {
  if (target.length - offset < size) throw new MessageCodecError('target buffer too small');
  const writer = new Writer(target);
  writer.offset = offset;
  writer.u8(FORMAT_VERSION);
  writer.u8(message.type);
  writer.u8((message.reject ? FLAG_REJECT : 0) | (message.snapshot !== undefined ? FLAG_SNAPSHOT : 0));
  writer.u64(message.to);
  writer.u64(message.from);
  writer.varint(message.term);
  writer.varint(message.logTerm);
  writer.varint(message.index);
  writer.varint(message.commit);
  writer.varint(rejectHintOnWire(message));
  writer.bytes(message.context);
  writer.varint(message.entries.length);
  for (const entry of message.entries) {
    writer.varint(entry.term);
    writer.varint(entry.index);
    writer.u8(entry.type);
    writer.bytes(entry.data);
  }
  if (message.snapshot !== undefined) {
    const { metadata, data } = message.snapshot;
    writer.varint(metadata.index);
    writer.varint(metadata.term);
    writer.varint(metadata.confState.voters.length);
    for (const id of metadata.confState.voters) writer.u64(id);
    writer.varint(metadata.confState.learners.length);
    for (const id of metadata.confState.learners) writer.u64(id);
    writer.bytes(data);
  }
  // A size function that disagrees with the writer would corrupt every following frame.
  if (writer.offset - offset !== size) throw new Error(`message codec size mismatch: wrote ${writer.offset - offset}, expected ${size}`);
  return size;
}

export function encodeMessage(message: Message): Buffer {
  const size = encodedMessageSize(message);
  const buffer = Buffer.allocUnsafe(size);
  encodeMessageInto(message, buffer, 0, size);
  return buffer;
}

class Reader {
  offset = 0;
  constructor(private readonly buffer: Buffer) {}
  private need(bytes: number): void {
    if (this.buffer.length - this.offset < bytes) throw new MessageCodecError('message truncated');
  }
  u8(): number {
    this.need(1);
    return this.buffer[this.offset++]!;
  }
  u64(): bigint {
    this.need(8);
    const value = this.buffer.readBigUInt64BE(this.offset);
    this.offset += 8;
    return value;
  }
  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < VARINT_BYTES_MAX; i++) {
      const byte = this.u8();
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (!Number.isSafeInteger(value)) throw new MessageCodecError('varint exceeds a safe integer');
        return value;
      }
      scale *= 0x80;
    }
    throw new MessageCodecError('varint too long');
  }
  /** A view into the input (no copy): the decoded message keeps the frame's buffer alive. */
  bytes(): Buffer {
    const length = this.varint();
    this.need(length);
    const view = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }
  count(elementBytesMin: number): number {
    const count = this.varint();
    // A forged count must not make us allocate more elements than the bytes could hold.
    if (count * elementBytesMin > this.buffer.length - this.offset) throw new MessageCodecError('element count exceeds message size');
    return count;
  }
  ids(): NodeId[] {
    const count = this.count(8);
    const ids: NodeId[] = [];
    for (let i = 0; i < count; i++) ids.push(this.u64());
    return ids;
  }
  get remaining(): number {
    return this.buffer.length - this.offset;
  }
}

/** Decodes exactly one message occupying all of `buffer`; throws MessageCodecError on anything malformed. */
export function decodeMessage(buffer: Buffer): Message {
  const reader = new Reader(buffer);
  const format = reader.u8();
  if (format !== FORMAT_VERSION) throw new MessageCodecError(`unknown message format ${format}`);
  const type = reader.u8();
  if (type > MESSAGE_TYPE_MAX) throw new MessageCodecError(`unknown message type ${type}`);
  const flags = reader.u8();
  if ((flags & ~(FLAG_REJECT | FLAG_SNAPSHOT)) !== 0) throw new MessageCodecError(`unknown message flags ${flags}`);
  const to = reader.u64();
  const from = reader.u64();
  const term = reader.varint();
  const logTerm = reader.varint();
  const index = reader.varint();
  const commit = reader.varint();
  const rejectHint = reader.varint();
  const context = reader.bytes();
  const entryCount = reader.count(4);
  const entries: Entry[] = [];
  for (let i = 0; i < entryCount; i++) {
    const entryTerm = reader.varint();
    const entryIndex = reader.varint();
    const entryType = reader.u8();
    entries.push({ term: entryTerm, index: entryIndex, type: entryType, data: reader.bytes() });
  }
  const message: Message = {
    type: type as MessageType, to, from, term, logTerm, index, entries, commit,
    reject: (flags & FLAG_REJECT) !== 0, rejectHint, selfCommit: false, context,
  };
  if (message.type === MessageType.AppResp && !message.reject) {
    message.selfCommit = rejectHint === 1;
    message.rejectHint = 0;
  }
  if ((flags & FLAG_SNAPSHOT) !== 0) {
    const snapshotIndex = reader.varint();
    const snapshotTerm = reader.varint();
    const voters = reader.ids();
    const learners = reader.ids();
    const snapshot: Snapshot = { metadata: { index: snapshotIndex, term: snapshotTerm, confState: { voters, learners } }, data: reader.bytes() };
    message.snapshot = snapshot;
  }
  if (reader.remaining !== 0) throw new MessageCodecError(`${reader.remaining} trailing bytes after message`);
  return message;
}
