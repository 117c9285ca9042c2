// One request stream of a server connection (h2-connection.ts): the request's headers and body
// coming in, the response going out under the client's flow-control windows. Callbacks instead of
// events: a unary call sets two and is gone, and this object is made for every call.
import type { H2Connection } from './h2-connection.js';

/** Request headers as node:http2 gives them: lower-case names, a repeated header joined with ", ". */
export type H2RequestHeaders = Record<string, string>;

/** How much response data may wait for the client's window before write() asks the writer to wait. */
export const streamWritableHighWaterMark = 64 * 1024;

const releasedHeaders: H2RequestHeaders = Object.freeze({}) as H2RequestHeaders;

/**
 * Every stream's queues start as this empty array and get their own at the first push: a unary
 * call's request comes while it is attached and its answer fits the window, so most streams never
 * queue anything (two arrays fewer per request, which live as long as a put waits). Frozen: a push
 * that missed its own array throws instead of sharing data between streams.
 */
const noBuffers: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/**
 * The request's side of a stream as one object, in place of the ondata/onend/onclose callbacks:
 * a unary call that waits for its answer (a put waits for its Raft cycle) is then one object in
 * the young generation instead of a closure per callback and their shared context.
 */
export interface H2StreamReceiver {
  /** A DATA chunk of the request (padding removed). */
  streamData(chunk: Buffer): void;
  /** The client half-closed: no more request data. */
  streamEnd(): void;
  /** The stream is over (see onclose). */
  streamClosed(): void;
}

export class H2Stream {
  /** A DATA chunk of the request (padding removed). */
  ondata?: (chunk: Buffer) => void;
  /** The client half-closed: no more request data. */
  onend?: () => void;
  /** The stream is over: answered and ended on both sides, reset by either side, or its connection closed. */
  onclose?: () => void;
  /** Response data that waited for the client's window has gone out; write() takes more. */
  ondrain?: () => void;

  /** The request headers; empty after releaseHeaders(). */
  headers: H2RequestHeaders;
  /** The client sent END_STREAM. */
  remoteEnded = false;
  /** We sent END_STREAM (or reset the stream). */
  localEnded = false;
  closed = false;
  headersSent = false;
  /** Set by the client's RST_STREAM. */
  resetCode?: number;

  /** What the client lets us send on this stream (its SETTINGS_INITIAL_WINDOW_SIZE plus updates). */
  sendWindow: number;
  /** What we still let the client send; refilled by WINDOW_UPDATEs as the request is consumed. */
  receiveWindow: number;
  /** Received bytes not yet returned to the client with a WINDOW_UPDATE. */
  receiveUnacked = 0;

  private receiver?: H2StreamReceiver;
  private paused = false;
  private inbound: Buffer[] = noBuffers;
  private endPending = false;
  /** Response data waiting for window, and the trailers block (or null: end with an empty DATA) after it. */
  private outbound: Buffer[] = noBuffers;
  outboundBytes = 0;
  private trailers?: Buffer | null;
  private drainOwed = false;

  constructor(
    readonly id: number,
    headers: H2RequestHeaders,
    private readonly connection: H2Connection,
    sendWindow: number,
    receiveWindow: number,
  ) {
    this.headers = headers;
    this.sendWindow = sendWindow;
    this.receiveWindow = receiveWindow;
  }

  /**
   * Drops the request headers once the handler has read what it needs. A unary call answered later
   * (a put waits for its Raft cycle) keeps its stream alive, and with it an object of a dozen
   * properties that young-generation collections would copy with every request in flight.
   */
  releaseHeaders(): void {
    this.headers = releasedHeaders;
  }

  /** Bytes of response data written but not yet sent (waiting for the client's window). */
  get writableLength(): number {
    return this.outboundBytes;
  }

  // ---- the request ----

  /** Called by the connection for each DATA frame's content. */
  receiveData(chunk: Buffer): void {
    if (this.paused || !this.attached) {
      if (this.inbound === noBuffers) this.inbound = [];
      this.inbound.push(chunk);
    } else {
      this.deliverData(chunk);
    }
  }

  private get attached(): boolean {
    return this.receiver !== undefined || this.ondata !== undefined;
  }

  private deliverData(chunk: Buffer): void {
    if (this.receiver !== undefined) this.receiver.streamData(chunk);
    else this.ondata!(chunk);
  }

  private deliverEnd(): void {
    if (this.receiver !== undefined) this.receiver.streamEnd();
    else this.onend!();
  }

  /** Called by the connection when the client half-closes. */
  receiveEnd(): void {
    this.remoteEnded = true;
    if (this.paused || this.inbound.length > 0 || !this.attached) {
      this.endPending = true;
      if (!this.paused && this.attached) this.deliverQueued();
    } else {
      this.deliverEnd();
    }
    if (this.localEnded) this.connection.closeStream(this, false);
  }

  /** Stops delivering request data and returning window to the client until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused && this.inbound.length === 0 && !this.endPending) return;
    this.paused = false;
    this.deliverQueued();
    if (!this.paused) this.connection.returnStreamWindow(this);
  }

  /** Delivers what arrived before the handler was attached or while paused. */
  private deliverQueued(): void {
    while (this.inbound.length > 0 && !this.paused && this.attached && !this.closed) {
      this.deliverData(this.inbound.shift()!);
    }
    if (this.endPending && this.inbound.length === 0 && !this.paused && this.attached) {
      this.endPending = false;
      this.deliverEnd();
    }
  }

  /** Attaches the request callbacks and delivers anything that came first. */
  attach(ondata: (chunk: Buffer) => void, onend: () => void): void {
    this.ondata = ondata;
    this.onend = onend;
    if (!this.paused) this.deliverQueued();
  }

  /** attach() and onclose as one object (see H2StreamReceiver); delivers anything that came first. */
  attachReceiver(receiver: H2StreamReceiver): void {
    this.receiver = receiver;
    if (!this.paused) this.deliverQueued();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  // ---- the response ----

  /** Sends the response header block; with endStream, the response is headers only (gRPC's trailers-only). */
  respond(headerBlock: Buffer, endStream = false): void {
    if (this.localEnded || this.headersSent) return;
    this.headersSent = true;
    this.connection.sendHeaderBlock(this.id, headerBlock, endStream);
    if (endStream) this.endedLocally();
    else this.connection.pump(this);
  }

  /**
   * A whole unary gRPC answer: headers, `message` with its 5-byte gRPC prefix, trailers. In one
   * buffer when the windows allow, which is the common case.
   */
  respondGrpcUnary(headerBlock: Buffer, message: Buffer, trailerBlock: Buffer): void {
    if (this.localEnded || this.headersSent) return;
    if (this.connection.trySendGrpcUnary(this, headerBlock, message, trailerBlock)) {
      this.headersSent = true;
      this.endedLocally();
      return;
    }
    this.respond(headerBlock);
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(message.length, 1);
    this.write(prefix);
    this.write(message);
    this.end(trailerBlock);
  }

  /** Queues response data; false when the writer should wait for ondrain. */
  write(data: Buffer): boolean {
    if (this.localEnded || this.closed) return false;
    if (data.length > 0) {
      if (this.outbound === noBuffers) this.outbound = [];
      this.outbound.push(data);
      this.outboundBytes += data.length;
      this.connection.pump(this);
    }
    if (this.outboundBytes < streamWritableHighWaterMark) return true;
    this.drainOwed = true;
    return false;
  }

  /** Ends the response: trailers (or, with null, an empty DATA frame) after all data written. */
  end(trailerBlock: Buffer | null): void {
    if (this.localEnded || this.closed || this.trailers !== undefined) return;
    this.trailers = trailerBlock;
    this.connection.pump(this);
  }

  /** Aborts the stream with RST_STREAM. */
  reset(code: number): void {
    if (this.closed) return;
    this.connection.resetStream(this, code);
  }

  /**
   * Takes up to `max` bytes of queued data for one DATA frame. Called by the connection, which has
   * checked the windows.
   */
  takeOutbound(max: number): Buffer[] {
    const parts: Buffer[] = [];
    let taken = 0;
    while (taken < max && this.outbound.length > 0) {
      const head = this.outbound[0]!;
      const room = max - taken;
      if (head.length <= room) {
        parts.push(head);
        taken += head.length;
        this.outbound.shift();
      } else {
        parts.push(head.subarray(0, room));
        this.outbound[0] = head.subarray(room);
        taken += room;
      }
    }
    this.outboundBytes -= taken;
    return parts;
  }

  /** The trailers waiting behind the data, once all data went out: a block, null (empty DATA end) or undefined. */
  takeTrailersIfDue(): Buffer | null | undefined {
    if (this.outboundBytes > 0 || this.trailers === undefined || this.localEnded) return undefined;
    return this.trailers;
  }

  /** Called by the connection after it wrote END_STREAM for this stream. */
  endedLocally(): void {
    this.localEnded = true;
    this.connection.closeStream(this, !this.remoteEnded);
  }

  /** Called by the connection after data went out; emits a drain owed by an earlier write. */
  afterSent(): void {
    if (this.drainOwed && this.outboundBytes < streamWritableHighWaterMark && !this.closed) {
      this.drainOwed = false;
      this.ondrain?.();
    }
  }

  /** Called by the connection once, when the stream is over for whatever reason. */
  closedByConnection(): void {
    if (this.closed) return;
    this.closed = true;
    this.localEnded = true;
    this.outbound = noBuffers;
    this.outboundBytes = 0;
    this.inbound = noBuffers;
    if (this.receiver !== undefined) this.receiver.streamClosed();
    this.onclose?.();
  }
}
