// Owns the length-prefixed framing used on peer streams and snapshot bodies: u32 big-endian length
// then that many bytes. A zero-length frame carries nothing and serves as a keep-alive (streams) or
// as the end marker (snapshot data), so a truncated body can always be told from a complete one.
export const FRAME_HEADER_BYTES = 4;

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameError';
  }
}

export function frameHeader(payloadBytes: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(payloadBytes);
  return header;
}

export const EMPTY_FRAME: Buffer = frameHeader(0);

/**
 * Splits a byte stream, fed chunk by chunk, into frame payloads. A frame whose declared length is
 * over `frameBytesMax` is refused before anything is buffered, so a peer cannot make us hold an
 * arbitrary amount of memory.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly frameBytesMax: number) {}

  /** Returns the payloads completed by `chunk`, in order (empty payloads included). */
  push(chunk: Buffer): Buffer[] {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    const frames: Buffer[] = [];
    let buffer = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let offset = 0;
    while (buffer.length - offset >= FRAME_HEADER_BYTES) {
      const length = buffer.readUInt32BE(offset);
      if (length > this.frameBytesMax) throw new FrameError(`frame of ${length} bytes exceeds the maximum of ${this.frameBytesMax}`);
      if (buffer.length - offset - FRAME_HEADER_BYTES < length) break;
      frames.push(buffer.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length));
      offset += FRAME_HEADER_BYTES + length;
    }
    buffer = buffer.subarray(offset);
    this.pending = buffer.length > 0 ? [buffer] : [];
    this.pendingBytes = buffer.length;
    return frames;
  }

  /** Bytes of an incomplete frame still held: non-zero at end of stream means truncation. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }
}
