// Rewrites the client→server half of one HTTP/2 connection: checks the preface, forwards every
// frame as it came except header blocks (HEADERS + CONTINUATION), which are decoded with the
// client's HPACK state, get a repaired :authority, and are re-encoded for the server without
// indexing. Frames that are forwarded cost one header parse and, inside one chunk, no copy.
// Header blocks also lose any client-sent verified-identity header and, on a TLS connection whose
// client certificate verified, gain one with its CN (see verified-identity.ts). When the listener
// answered the client's preface itself (first-request-probe.ts), the client's acknowledgement of
// those settings was never asked for by the server session, so the rewriter drops it.
import { repairAuthority } from './authority.js';
import { isVerifiedIdentityHeaderName, verifiedCommonNameHeader } from './verified-identity.js';
import { HpackDecoder, hpackDefaultTableSizeBytes } from './hpack-decoder.js';
import { encodeHeaderBlock } from './hpack-encoder.js';
import { Http2ParseError } from './hpack-error.js';
import {
  clientPreface,
  flagEndHeaders,
  flagEndStream,
  frameHeaderBytes,
  frameSizeMinMaxBytes,
  frameTypeContinuation,
  frameTypeHeaders,
  headersFragment,
  isSettingsAck,
  readFrameHeader,
  writeFrameHeader,
  type FrameHeader,
} from './http2-frames.js';

export interface ClientFrameRewriterOptions {
  /** A header block (all its fragments) larger than this ends the connection. */
  headerBlockBytesMax?: number;
  /** The server's SETTINGS_HEADER_TABLE_SIZE: the largest table the client's encoder may use. */
  hpackTableSizeMaxBytes?: number;
  /** The CN of the client certificate the TLS handshake verified; absent on plain connections. */
  verifiedCommonName?: string;
  /**
   * 1 when the listener sent its own SETTINGS and the client's ACK of them is still to come: the
   * first SETTINGS ACK is then removed, since the server session never sent those settings and
   * would take an unexpected ACK as a protocol error. Default 0.
   */
  settingsAcksToDrop?: 0 | 1;
}

/** grpc-js refuses metadata beyond 8 KiB by default; this leaves ample room and bounds memory. */
export const headerBlockBytesMaxDefault = 256 * 1024;

const enum State {
  Preface,
  FrameHeader,
  ForwardPayload,
  HeaderPayload,
}

interface OpenHeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Buffer[];
  totalBytes: number;
}

export class ClientFrameRewriter {
  private state = State.Preface;
  private prefaceBytesSeen = 0;
  /** A frame header split across chunks is gathered here. */
  private readonly headerCarry = Buffer.alloc(frameHeaderBytes);
  private headerCarryBytes = 0;
  private forwardBytesLeft = 0;
  /** The HEADERS/CONTINUATION payload being gathered across chunks. */
  private payload: Buffer | null = null;
  private payloadBytesFilled = 0;
  private payloadHeader: FrameHeader | null = null;
  private openBlock: OpenHeaderBlock | null = null;
  private readonly decoder: HpackDecoder;
  private readonly headerBlockBytesMax: number;
  private readonly verifiedCommonName: string | undefined;
  private settingsAcksToDrop: number;
  private failed = false;
  /** How many :authority values were changed, for logs and tests. */
  authorityRepairCount = 0;

  constructor(private readonly emit: (chunk: Buffer) => void, options: ClientFrameRewriterOptions = {}) {
    this.headerBlockBytesMax = options.headerBlockBytesMax ?? headerBlockBytesMaxDefault;
    this.verifiedCommonName = options.verifiedCommonName;
    this.settingsAcksToDrop = options.settingsAcksToDrop ?? 0;
    this.decoder = new HpackDecoder(options.hpackTableSizeMaxBytes ?? hpackDefaultTableSizeBytes);
  }

  /** Consumes the next bytes from the client; throws Http2ParseError, after which nothing is accepted. */
  write(chunk: Buffer): void {
    if (this.failed) throw new Http2ParseError('http2: connection already failed');
    try {
      this.consume(chunk);
    } catch (error) {
      this.failed = true;
      throw error;
    }
  }

  private consume(chunk: Buffer): void {
    let position = 0;
    // Start of the bytes in this chunk that are forwarded unchanged and not yet emitted.
    let forwardStart = -1;
    const flushForward = (end: number) => {
      if (forwardStart >= 0 && end > forwardStart) this.emit(chunk.subarray(forwardStart, end));
      forwardStart = -1;
    };
    while (position < chunk.length) {
      const available = chunk.length - position;
      switch (this.state) {
        case State.Preface: {
          const count = Math.min(clientPreface.length - this.prefaceBytesSeen, available);
          if (chunk.compare(clientPreface, this.prefaceBytesSeen, this.prefaceBytesSeen + count, position, position + count) !== 0) {
            throw new Http2ParseError('http2: bad client connection preface');
          }
          if (forwardStart < 0) forwardStart = position;
          position += count;
          this.prefaceBytesSeen += count;
          if (this.prefaceBytesSeen === clientPreface.length) this.state = State.FrameHeader;
          break;
        }
        case State.FrameHeader: {
          if (this.headerCarryBytes === 0 && available >= frameHeaderBytes) {
            const headerStart = position;
            position += frameHeaderBytes;
            const header = readFrameHeader(chunk, headerStart);
            if (this.isDropped(header)) {
              flushForward(headerStart);
            } else if (this.isForwarded(header)) {
              if (forwardStart < 0) forwardStart = headerStart;
              this.startForward(header);
            } else {
              flushForward(headerStart);
              position = this.startHeaderPayload(header, chunk, position);
            }
          } else {
            if (this.headerCarryBytes === 0) flushForward(position);
            const count = Math.min(frameHeaderBytes - this.headerCarryBytes, available);
            chunk.copy(this.headerCarry, this.headerCarryBytes, position, position + count);
            position += count;
            this.headerCarryBytes += count;
            if (this.headerCarryBytes === frameHeaderBytes) {
              this.headerCarryBytes = 0;
              const header = readFrameHeader(this.headerCarry, 0);
              if (this.isDropped(header)) {
                // Nothing of it was emitted: the carried header bytes are simply not forwarded.
              } else if (this.isForwarded(header)) {
                this.emit(Buffer.from(this.headerCarry));
                this.startForward(header);
              } else {
                position = this.startHeaderPayload(header, chunk, position);
              }
            }
          }
          break;
        }
        case State.ForwardPayload: {
          const count = Math.min(this.forwardBytesLeft, available);
          if (forwardStart < 0) forwardStart = position;
          position += count;
          this.forwardBytesLeft -= count;
          if (this.forwardBytesLeft === 0) this.state = State.FrameHeader;
          break;
        }
        case State.HeaderPayload: {
          const payload = this.payload!;
          const count = Math.min(payload.length - this.payloadBytesFilled, available);
          chunk.copy(payload, this.payloadBytesFilled, position, position + count);
          position += count;
          this.payloadBytesFilled += count;
          if (this.payloadBytesFilled === payload.length) {
            const header = this.payloadHeader!;
            this.payload = null;
            this.payloadHeader = null;
            this.state = State.FrameHeader;
            this.onHeaderFrame(header, payload);
          }
          break;
        }
      }
    }
    flushForward(position);
  }

  /** The owed SETTINGS ACK (a header with no payload) is consumed here and never forwarded. */
  private isDropped(header: FrameHeader): boolean {
    if (this.settingsAcksToDrop === 0 || !isSettingsAck(header)) return false;
    if (header.lengthBytes !== 0) throw new Http2ParseError('http2: SETTINGS ACK with a payload');
    if (this.openBlock !== null) throw new Http2ParseError(`http2: frame type ${header.type} inside a header block`);
    this.settingsAcksToDrop--;
    return true;
  }

  private isForwarded(header: FrameHeader): boolean {
    if (header.type === frameTypeHeaders || header.type === frameTypeContinuation) return false;
    // RFC 9113 §6.10: nothing may come between HEADERS and its last CONTINUATION.
    if (this.openBlock !== null) throw new Http2ParseError(`http2: frame type ${header.type} inside a header block`);
    return true;
  }

  private startForward(header: FrameHeader): void {
    this.forwardBytesLeft = header.lengthBytes;
    this.state = header.lengthBytes > 0 ? State.ForwardPayload : State.FrameHeader;
  }

  /** Takes the payload from the chunk when it is all there, else starts gathering it. */
  private startHeaderPayload(header: FrameHeader, chunk: Buffer, position: number): number {
    const blockBytesSoFar = this.openBlock?.totalBytes ?? 0;
    if (blockBytesSoFar + header.lengthBytes > this.headerBlockBytesMax) {
      throw new Http2ParseError(`http2: header block exceeds ${this.headerBlockBytesMax} bytes`);
    }
    if (chunk.length - position >= header.lengthBytes) {
      this.onHeaderFrame(header, chunk.subarray(position, position + header.lengthBytes));
      return position + header.lengthBytes;
    }
    this.payload = Buffer.allocUnsafe(header.lengthBytes);
    this.payloadBytesFilled = 0;
    this.payloadHeader = header;
    this.state = State.HeaderPayload;
    return position;
  }

  private onHeaderFrame(header: FrameHeader, payload: Buffer): void {
    if (header.streamId === 0) throw new Http2ParseError('http2: header frame on stream 0');
    if (header.type === frameTypeHeaders) {
      if (this.openBlock !== null) throw new Http2ParseError('http2: HEADERS inside a header block');
      this.openBlock = {
        streamId: header.streamId,
        endStream: (header.flags & flagEndStream) !== 0,
        fragments: [headersFragment(header, payload)],
        totalBytes: payload.length,
      };
    } else {
      const block = this.openBlock;
      if (block === null || block.streamId !== header.streamId) {
        throw new Http2ParseError('http2: CONTINUATION without a matching HEADERS');
      }
      block.fragments.push(payload);
      block.totalBytes += payload.length;
    }
    if (header.flags & flagEndHeaders) this.finishHeaderBlock();
  }

  private finishHeaderBlock(): void {
    const block = this.openBlock!;
    this.openBlock = null;
    const encoded = block.fragments.length === 1 ? block.fragments[0]! : Buffer.concat(block.fragments);
    // Whatever the client claims never passes, under any name with our prefix; only the handshake's verdict is added.
    const fields = this.decoder.decode(encoded).filter((field) => !isVerifiedIdentityHeaderName(field.name));
    if (this.verifiedCommonName !== undefined) {
      fields.push({ name: verifiedCommonNameHeader, value: this.verifiedCommonName, neverIndexed: true });
    }
    for (const field of fields) {
      if (field.name !== ':authority') continue;
      const repaired = repairAuthority(field.value);
      if (repaired !== field.value) {
        field.value = repaired;
        this.authorityRepairCount++;
      }
    }
    this.emit(frameHeaderBlock(block.streamId, block.endStream, encodeHeaderBlock(fields)));
  }
}

/** One HEADERS frame, plus CONTINUATION frames when the block is larger than any server accepts. */
export function frameHeaderBlock(streamId: number, endStream: boolean, block: Buffer): Buffer {
  const frameCount = Math.max(1, Math.ceil(block.length / frameSizeMinMaxBytes));
  const out = Buffer.allocUnsafe(block.length + frameCount * frameHeaderBytes);
  let outOffset = 0;
  for (let i = 0; i < frameCount; i++) {
    const fragment = block.subarray(i * frameSizeMinMaxBytes, (i + 1) * frameSizeMinMaxBytes);
    const last = i === frameCount - 1;
    writeFrameHeader(out, outOffset, {
      lengthBytes: fragment.length,
      type: i === 0 ? frameTypeHeaders : frameTypeContinuation,
      flags: (i === 0 && endStream ? flagEndStream : 0) | (last ? flagEndHeaders : 0),
      streamId,
    });
    outOffset += frameHeaderBytes;
    fragment.copy(out, outOffset);
    outOffset += fragment.length;
  }
  return out;
}
