// The parts of the HTTP/2 framing layer (RFC 9113 §3.4, §4.1, §6) the listener reads and writes:
// the client connection preface, the 9-octet frame header, frame types and flags.

export const clientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const frameHeaderBytes = 9;
/** SETTINGS_MAX_FRAME_SIZE can never be below this, so frames we write never exceed it. */
export const frameSizeMinMaxBytes = 16_384;

export const frameTypeHeaders = 0x1;
export const frameTypeContinuation = 0x9;

export const flagEndStream = 0x1;
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
