// The parts of the HTTP/2 framing layer (RFC 9113 §3.4, §4.1, §6) the listener reads and writes:
// the client connection preface, the 9-octet frame header, frame types and flags, and the few
// frames the listener writes itself before a server session exists.
import { Http2ParseError } from './hpack-error.js';

export const clientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const frameHeaderBytes = 9;
/** SETTINGS_MAX_FRAME_SIZE can never be below this, so frames we write never exceed it. */
export const frameSizeMinMaxBytes = 16_384;

export const frameTypeHeaders = 0x1;
export const frameTypeSettings = 0x4;
export const frameTypeGoaway = 0x7;
export const frameTypeContinuation = 0x9;

export const flagEndStream = 0x1;
/** On SETTINGS (and PING): this frame acknowledges the peer's. */
export const flagAck = 0x1;
export const flagEndHeaders = 0x4;
export const flagPadded = 0x8;
export const flagPriority = 0x20;
export const priorityFieldBytes = 5;

export interface FrameHeader {
  lengthBytes: number;
  type: number;
  flags: number;
  streamId: number;
}

export function readFrameHeader(source: Buffer, offset: number): FrameHeader {
  return {
    lengthBytes: (source[offset]! << 16) | (source[offset + 1]! << 8) | source[offset + 2]!,
    type: source[offset + 3]!,
    flags: source[offset + 4]!,
    // The top bit is reserved and must be ignored on receipt.
    streamId: source.readUInt32BE(offset + 5) & 0x7fffffff,
  };
}

export function writeFrameHeader(target: Buffer, offset: number, header: FrameHeader): void {
  if (header.lengthBytes > 0xffffff) throw new Error(`frame length ${header.lengthBytes} does not fit 24 bits`);
  target[offset] = header.lengthBytes >>> 16;
  target[offset + 1] = (header.lengthBytes >>> 8) & 0xff;
  target[offset + 2] = header.lengthBytes & 0xff;
  target[offset + 3] = header.type;
  target[offset + 4] = header.flags;
  target.writeUInt32BE(header.streamId, offset + 5);
}

/** An empty SETTINGS frame: a server connection preface that keeps every setting at its default (§3.4). */
export const emptySettingsFrame = Buffer.from([0, 0, 0, frameTypeSettings, 0, 0, 0, 0, 0]);

/** GOAWAY with last-stream-id 0 and NO_ERROR: "nothing you sent was processed; retry elsewhere" (§6.8). */
export const goawayNothingProcessedFrame = Buffer.from([0, 0, 8, frameTypeGoaway, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

export function isSettingsAck(header: FrameHeader): boolean {
  return header.type === frameTypeSettings && (header.flags & flagAck) !== 0;
}

/** The header block fragment of a HEADERS payload, without its padding and priority fields. */
export function headersFragment(header: FrameHeader, payload: Buffer): Buffer {
  let start = 0;
  let end = payload.length;
  if (header.flags & flagPadded) {
    if (payload.length < 1) throw new Http2ParseError('http2: PADDED HEADERS without a pad length');
    const padBytes = payload[0]!;
    start = 1;
    end -= padBytes;
  }
  if (header.flags & flagPriority) start += priorityFieldBytes;
  if (end < start) throw new Http2ParseError('http2: HEADERS padding exceeds the payload');
  return payload.subarray(start, end);
}
