// Reads the start of a client's HTTP/2 connection, before any server session exists, to choose how
// grpc-js will be fed: NATIVE (nghttp2 reads the socket itself) when the first request needs no
// repair, REWRITTEN (through a RewritingConnection) otherwise. Go clients send no request before
// they have the server's SETTINGS, so the listener sends an empty SETTINGS first and this probe
// removes the client's ACK of it: nghttp2 never sent those settings and would take that ACK as a
// protocol error. Every other byte is kept as it came, to be handed to whichever path is chosen.
// Pure: bytes in, a verdict out; the socket, the timer and the handover live in probing-socket.ts.
import { isValidAuthority } from './authority.js';
import { HpackDecoder, hpackDefaultTableSizeBytes } from './hpack-decoder.js';
import { Http2ParseError } from './hpack-error.js';
import {
  clientPreface,
  flagEndHeaders,
  frameHeaderBytes,
  frameTypeContinuation,
  frameTypeHeaders,
  headersFragment,
  isSettingsAck,
  readFrameHeader,
} from './http2-frames.js';
import { isVerifiedIdentityHeaderName } from './verified-identity.js';

/** How a client HTTP/2 connection reaches grpc-js. */
export type ClientConnectionPath = 'native' | 'rewritten';

export interface ProbeVerdict {
  path: ClientConnectionPath;
  /** Why, for the debug log. */
  reason: string;
}

export interface FirstRequestProbeOptions {
  /** The first header block (all its fragments) may not be larger than this; as the rewriter's. */
  headerBlockBytesMax: number;
  /** The server's SETTINGS_HEADER_TABLE_SIZE, as the rewriter's. */
  hpackTableSizeMaxBytes?: number;
}

export class FirstRequestProbe {
  /** Whole frames (and the preface) already parsed, minus the SETTINGS ACK: handed over as they are. */
  private readonly kept: Buffer[] = [];
  /** Bytes not yet parsed: the start of a frame whose end has not arrived. */
  private pending: Buffer = Buffer.alloc(0);
  private prefaceParsed = false;
  private ackSeen = false;
  /** The first header block's fragments, while its CONTINUATIONs are still coming. */
  private firstBlock: { streamId: number; fragments: Buffer[]; totalBytes: number } | null = null;
  /** The verdict the first header block asks for, once it is complete. */
  private firstBlockVerdict: ProbeVerdict | null = null;
  private verdict: ProbeVerdict | null = null;
  private readonly decoder: HpackDecoder;
  /** Every byte written so far, the ACK included: the bound on what a probe holds. */
  receivedBytes = 0;

  constructor(private readonly options: FirstRequestProbeOptions) {
    this.decoder = new HpackDecoder(options.hpackTableSizeMaxBytes ?? hpackDefaultTableSizeBytes);
  }

  /** True once the client's ACK of our SETTINGS was seen, and removed from the bytes. */
  get settingsAckSeen(): boolean {
    return this.ackSeen;
  }

  /**
   * Consumes the next client bytes; returns the verdict once both the ACK and the first complete
   * header block were seen (and on every later call). Throws Http2ParseError on a broken stream.
   */
  write(chunk: Buffer): ProbeVerdict | undefined {
    this.receivedBytes += chunk.length;
    if (this.verdict !== null) {
      this.kept.push(chunk);
      return this.verdict;
    }
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    this.parse();
    if (this.verdict === null) return undefined;
    // Bytes after the verdict are not parsed; kept keeps them in order with later chunks.
    if (this.pending.length > 0) this.keep(this.pending.length);
    return this.verdict;
  }

  /** What to hand over: every byte received, in order, without the ACK of our SETTINGS. */
  takeBytes(): Buffer {
    const bytes = Buffer.concat([...this.kept, this.pending]);
    this.kept.length = 0;
    this.pending = Buffer.alloc(0);
    return bytes;
  }

  private parse(): void {
    if (!this.prefaceParsed) {
      const compared = Math.min(this.pending.length, clientPreface.length);
      if (this.pending.compare(clientPreface, 0, compared, 0, compared) !== 0) throw new Http2ParseError('http2: bad client connection preface');
      if (compared < clientPreface.length) return;
      this.keep(clientPreface.length);
      this.prefaceParsed = true;
    }
    while (this.verdict === null && this.pending.length >= frameHeaderBytes) {
      const header = readFrameHeader(this.pending, 0);
      const frameBytes = frameHeaderBytes + header.lengthBytes;
      if (this.firstBlock !== null && header.type !== frameTypeContinuation) {
        // RFC 9113 §6.10: nothing may come between HEADERS and its last CONTINUATION.
        throw new Http2ParseError(`http2: frame type ${header.type} inside a header block`);
      }
      if (!this.ackSeen && isSettingsAck(header)) {
        if (header.lengthBytes !== 0) throw new Http2ParseError('http2: SETTINGS ACK with a payload');
        this.pending = this.pending.subarray(frameHeaderBytes);
        this.ackSeen = true;
      } else if (this.firstBlockVerdict === null && (header.type === frameTypeHeaders || header.type === frameTypeContinuation)) {
        const blockBytesSoFar = this.firstBlock?.totalBytes ?? 0;
        if (blockBytesSoFar + header.lengthBytes > this.options.headerBlockBytesMax) {
          throw new Http2ParseError(`http2: header block exceeds ${this.options.headerBlockBytesMax} bytes`);
        }
        if (this.pending.length < frameBytes) return;
        this.onHeaderFrame(header.type, header.flags, header.streamId, header.lengthBytes);
      } else {
        // After the first block, frames are only walked over, to find the ACK.
        if (this.pending.length < frameBytes) return;
        this.keep(frameBytes);
      }
      if (this.ackSeen && this.firstBlockVerdict !== null) this.verdict = this.firstBlockVerdict;
    }
  }

  private onHeaderFrame(type: number, flags: number, streamId: number, lengthBytes: number): void {
    const payload = this.pending.subarray(frameHeaderBytes, frameHeaderBytes + lengthBytes);
    if (streamId === 0) throw new Http2ParseError('http2: header frame on stream 0');
    if (type === frameTypeHeaders) {
      const fragment = headersFragment({ lengthBytes, type, flags, streamId }, payload);
      this.firstBlock = { streamId, fragments: [fragment], totalBytes: lengthBytes };
    } else {
      const block = this.firstBlock;
      if (block === null || block.streamId !== streamId) throw new Http2ParseError('http2: CONTINUATION without a matching HEADERS');
      block.fragments.push(payload);
      block.totalBytes += lengthBytes;
    }
    this.keep(frameHeaderBytes + lengthBytes);
    if (flags & flagEndHeaders) {
      const fragments = this.firstBlock!.fragments;
      this.firstBlock = null;
      this.firstBlockVerdict = this.judge(this.decoder.decode(Buffer.concat(fragments)));
    }
  }

  /** NATIVE only when the rewriter would change nothing: a valid :authority and no identity claim. */
  private judge(fields: Array<{ name: string; value: string }>): ProbeVerdict {
    for (const field of fields) {
      if (isVerifiedIdentityHeaderName(field.name)) return { path: 'rewritten', reason: 'the first request claims a verified identity' };
      if (field.name === ':authority' && !isValidAuthority(field.value)) return { path: 'rewritten', reason: 'the first request has an invalid :authority' };
    }
    return { path: 'native', reason: 'the first request needs no repair' };
  }

  /** Moves the first `byteCount` pending bytes to the kept ones. */
  private keep(byteCount: number): void {
    this.kept.push(this.pending.subarray(0, byteCount));
    this.pending = this.pending.subarray(byteCount);
  }
}
