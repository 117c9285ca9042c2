// Playing the client of our HTTP/2 server connection (src/api/h2) byte by byte: an in-memory socket
// that records what the server writes, the few client frames the tests send, and a reader for the
// server's frames (header blocks decoded, GOAWAY read).
import { Duplex } from 'node:stream';
import {
  flagEndHeaders, flagEndStream, frame, frameGoaway, frameHeaderBytes, frameHeaders,
} from '../../../src/api/h2/frame-types.js';
import { HpackDecoder } from '../../../src/api/h2/hpack-decoder.js';
import { encodeHeaderBlock } from '../../../src/api/h2/hpack-encoder.js';

export { settingsFrame, windowUpdateFrame } from './h2-test-peer.js';

export interface ReceivedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** The whole frames in `bytes`, in order; an incomplete last frame is an error (the server writes whole frames). */
export function parseFrames(bytes: Buffer): ReceivedFrame[] {
  const frames: ReceivedFrame[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (bytes.length - offset < frameHeaderBytes) throw new Error(`a partial frame header at ${offset}`);
    const lengthBytes = bytes.readUIntBE(offset, 3);
    const end = offset + frameHeaderBytes + lengthBytes;
    if (end > bytes.length) throw new Error(`a partial frame at ${offset}`);
    frames.push({
      type: bytes[offset + 3]!,
      flags: bytes[offset + 4]!,
      streamId: bytes.readUInt32BE(offset + 5) & 0x7fffffff,
      payload: bytes.subarray(offset + frameHeaderBytes, end),
    });
    offset = end;
  }
  return frames;
}

/** GOAWAY's payload: the last stream the server processed and the error code. */
export function goawayOf(received: ReceivedFrame): { lastStreamId: number; code: number } {
  if (received.type !== frameGoaway) throw new Error(`frame type ${received.type} is not GOAWAY`);
  return { lastStreamId: received.payload.readUInt32BE(0) & 0x7fffffff, code: received.payload.readUInt32BE(4) };
}

/**
 * The server's header blocks as name→value objects, decoded in order with one decoder (a block may
 * refer to the table earlier ones built). Only single-frame blocks: the tests' blocks are small.
 */
export function decodeHeaderBlocks(frames: readonly ReceivedFrame[]): Array<Record<string, string>> {
  const decoder = new HpackDecoder();
  return frames.filter((received) => received.type === frameHeaders).map((received) => {
    if (!(received.flags & flagEndHeaders)) throw new Error('a header block continued in CONTINUATION');
    return Object.fromEntries(decoder.decode(received.payload).map((field) => [field.name, field.value]));
  });
}

/** An in-memory socket for an H2Connection: records what the server writes; `receive` is a socket read. */
export class MemorySocket extends Duplex {
  readonly written: Buffer[] = [];

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written.push(chunk);
    callback();
  }

  /** Client bytes, delivered at once as one read of the socket. */
  receive(bytes: Buffer): void {
    this.emit('data', bytes);
  }

  frames(): ReceivedFrame[] {
    return parseFrames(Buffer.concat(this.written));
  }
}

/** A request HEADERS frame (one frame, END_HEADERS), the block literal without indexing. */
export function requestHeadersFrame(streamId: number, headers: Record<string, string>, endStream: boolean): Buffer {
  const block = encodeHeaderBlock(Object.entries(headers).map(([name, value]) => ({ name, value, neverIndexed: false })));
  return frame(frameHeaders, flagEndHeaders | (endStream ? flagEndStream : 0), streamId, block);
}

/** gRPC messages, each with its 5-byte length prefix, back to back. */
export function grpcMessages(...messages: Buffer[]): Buffer {
  return Buffer.concat(messages.flatMap((message) => {
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    return [prefix, message];
  }));
}
