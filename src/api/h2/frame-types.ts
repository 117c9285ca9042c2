// HTTP/2 (RFC 9113) frame types, flags, settings and error codes: what the server connection
// (h2-connection.ts) reads and writes.

export const frameHeaderBytes = 9;

export const frameData = 0x0;
export const frameHeaders = 0x1;
export const framePriority = 0x2;
export const frameRstStream = 0x3;
export const frameSettings = 0x4;
export const framePushPromise = 0x5;
export const framePing = 0x6;
export const frameGoaway = 0x7;
export const frameWindowUpdate = 0x8;
export const frameContinuation = 0x9;

export const flagEndStream = 0x1;
export const flagAck = 0x1;
export const flagEndHeaders = 0x4;
export const flagPadded = 0x8;
export const flagPriority = 0x20;

export const settingHeaderTableSize = 0x1;
export const settingEnablePush = 0x2;
export const settingMaxConcurrentStreams = 0x3;
export const settingInitialWindowSize = 0x4;
export const settingMaxFrameSize = 0x5;
export const settingMaxHeaderListSize = 0x6;

export const errorNoError = 0x0;
export const errorProtocol = 0x1;
export const errorInternal = 0x2;
export const errorFlowControl = 0x3;
export const errorStreamClosed = 0x5;
export const errorFrameSize = 0x6;
export const errorRefusedStream = 0x7;
export const errorCancel = 0x8;
export const errorCompression = 0x9;
export const errorEnhanceYourCalm = 0xb;

/** §6.9.1: windows never exceed 2^31-1. */
export const windowSizeMax = 0x7fffffff;
/** §6.5.2: the default and smallest SETTINGS_MAX_FRAME_SIZE, and its largest value. */
export const frameSizeDefault = 16_384;
export const frameSizeMax = 16_777_215;
/** §6.9.2: every window starts at this until SETTINGS say otherwise. */
export const initialWindowDefault = 65_535;

export function writeFrameHeader(target: Buffer, offset: number, lengthBytes: number, type: number, flags: number, streamId: number): void {
  target[offset] = lengthBytes >>> 16;
  target[offset + 1] = (lengthBytes >>> 8) & 0xff;
  target[offset + 2] = lengthBytes & 0xff;
  target[offset + 3] = type;
  target[offset + 4] = flags;
  target.writeUInt32BE(streamId, offset + 5);
}

/** One frame with its payload, in a buffer of its own. */
export function frame(type: number, flags: number, streamId: number, payload?: Buffer): Buffer {
  const length = payload?.length ?? 0;
  const bytes = Buffer.allocUnsafe(frameHeaderBytes + length);
  writeFrameHeader(bytes, 0, length, type, flags, streamId);
  payload?.copy(bytes, frameHeaderBytes);
  return bytes;
}

/** A frame whose payload is one 32-bit number: RST_STREAM's error code, WINDOW_UPDATE's increment. */
export function uint32Frame(type: number, streamId: number, value: number): Buffer {
  const bytes = Buffer.allocUnsafe(frameHeaderBytes + 4);
  writeFrameHeader(bytes, 0, 4, type, 0, streamId);
  bytes.writeUInt32BE(value, frameHeaderBytes);
  return bytes;
}

/** §3.4: what every client connection opens with. */
export const clientPreface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A DATA frame's header for `lengthBytes` of payload; with endStream, it ends the stream. */
export function dataFrameHeader(streamId: number, lengthBytes: number, endStream: boolean): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderBytes);
  writeFrameHeader(header, 0, lengthBytes, frameData, endStream ? flagEndStream : 0, streamId);
  return header;
}

/** A HEADERS frame header for a block that fits one frame. */
export function headersFrameHeader(target: Buffer, offset: number, streamId: number, blockBytes: number, endStream: boolean): void {
  writeFrameHeader(target, offset, blockBytes, frameHeaders, flagEndHeaders | (endStream ? flagEndStream : 0), streamId);
}
