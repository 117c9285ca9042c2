// A bidi-streaming call on a raw node:http2 stream, with the part of grpc-js's ServerDuplexStream
// that our stream handlers use (watch.ts, lease.ts, calls.ts): events 'data' (one decoded request
// each), 'end' (the client half-closed), 'cancelled', 'drain', 'close' and 'error'; write, end,
// pause, resume and metadata; and `emit('error', status)`, which ends the call with that status as
// grpc-js does. So a handler written for grpc-js runs unchanged on the lean path: etcd's benchmark
// tool opens a LeaseKeepAlive stream per keep-alive (KeepAliveOnce), and a stream's set-up in
// grpc-js costs more than the keep-alive itself.
//
// What a client sees matches grpc-js 1.14: response headers with the first message, a
// trailers-only answer for a call that ends before any message, URI-encoded grpc-message, its
// texts for an oversized message and an expired or unreadable grpc-timeout.
import { EventEmitter } from 'node:events';
import type http2 from 'node:http2';
import { Metadata, status } from '@grpc/grpc-js';
import type { GrpcError } from './errors.js';

export interface LeanStreamMethod {
  path: string;
  deserialize(bytes: Buffer): unknown;
  serialize(value: unknown): Buffer;
}

/** gRPC's length prefix: a compressed flag and a 4-byte length. */
export const messagePrefixBytes = 5;

export const grpcResponseHeaders = {
  ':status': 200,
  'content-type': 'application/grpc+proto',
  'grpc-accept-encoding': 'identity,deflate,gzip',
  'grpc-encoding': 'identity',
};

/**
 * Response headers followed by trailers. No `date` header: gRPC has no use for it and etcd's Go
 * server sends none; Node adds one by default (one more header to build and HPACK-encode per call).
 * `sendDate` is read by Node's respond() (internal/http2/core processHeaders) but missing from its
 * types; a Node that ignored it would only send the date again.
 */
export const grpcResponseOptions = { waitForTrailers: true, sendDate: false } as http2.ServerStreamResponseOptions;
const trailersOnlyOptions = { endStream: true, sendDate: false } as http2.ServerStreamResponseOptions;

/** grpc-js's deadline header format and units (server-interceptors.ts). */
const grpcTimeoutPattern = /(\d{1,8})\s*([HMSmun])/;
const grpcTimeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** The timeout a grpc-timeout header asks for, undefined without one, or an error status if unreadable. */
export function grpcTimeoutMs(headers: http2.IncomingHttpHeaders): number | GrpcError | undefined {
  const timeout = headers['grpc-timeout'];
  if (typeof timeout !== 'string') return undefined;
  const match = grpcTimeoutPattern.exec(timeout);
  if (match === null) return { code: status.INTERNAL, details: `Invalid grpc-timeout value "${timeout}"` };
  return (Number(match[1]) * grpcTimeoutUnitMs[match[2]!]!) | 0;
}

export const deadlineExceeded: GrpcError = { code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' };

/** Ends a call that has sent nothing yet with only trailers, as grpc-js does. */
export function respondTrailersOnly(stream: http2.ServerHttp2Stream, error: GrpcError): void {
  try {
    stream.respond({
      ':status': 200, 'content-type': 'application/grpc+proto',
      'grpc-status': String(error.code), 'grpc-message': encodeURI(error.details),
    }, trailersOnlyOptions);
  } catch {
    // The stream closed meanwhile: nobody is left to answer.
  }
}

/** One length-prefixed gRPC message with its 5-byte prefix. */
export function grpcMessageFrame(message: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(messagePrefixBytes + message.length);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, messagePrefixBytes);
  return frame;
}

export class LeanDuplexCall extends EventEmitter {
  private headersSent = false;
  private finished = false;
  private metadataValue?: Metadata;
  private deadlineTimer?: NodeJS.Timeout;
  /** Bytes of a request message split across DATA frames. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Responses written since the last flush, without their length prefixes; batchBytes counts the prefixes. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private flushScheduled = false;
  /** A write returned false before its batch reached the stream: a 'drain' must follow. */
  private drainOwed = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly method: LeanStreamMethod,
    private readonly maxReceiveMessageBytes: number,
  ) {
    super();
    // First listener: a handler ending the call with an error status (calls.ts failStream).
    this.on('error', (error: GrpcError) => {
      if (typeof error === 'object' && error !== null && typeof error.code === 'number') this.sendStatus(error);
    });
    stream.on('error', () => { /* a reset by the client; 'close' follows */ });
    stream.on('drain', () => this.emit('drain'));
    stream.on('close', () => {
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      if (!this.finished) {
        this.finished = true;
        this.emit('cancelled', 'cancelled');
      }
      this.emit('close');
    });
  }

  /** The request's HTTP/2 headers: handlers read their context from them (context.ts contextOfCall). */
  get http2Headers(): http2.IncomingHttpHeaders {
    return this.headers;
  }

  /** Starts reading requests; called once the handler has attached its listeners. */
  start(): void {
    const timeout = grpcTimeoutMs(this.headers);
    if (typeof timeout === 'object') {
      this.sendStatus(timeout);
      this.stream.resume();
      return;
    }
    if (timeout !== undefined) {
      this.deadlineTimer = setTimeout(() => {
        this.sendStatus(deadlineExceeded);
        this.emit('cancelled', 'deadline');
      }, timeout);
    }
    this.stream.on('data', (chunk: Buffer) => this.onData(chunk));
    this.stream.on('end', () => {
      if (!this.finished) this.emit('end');
    });
  }

  get metadata(): Metadata {
    this.metadataValue ??= Metadata.fromHttp2Headers(this.headers);
    return this.metadataValue;
  }

  /**
   * Sends one response; false when the stream's buffer is full (wait for 'drain'), as grpc-js's
   * write. The responses written by one run of code (a watch notify writes one per watcher) go out
   * together, in one write to the HTTP/2 stream, so that DATA frames carry many of them each.
   */
  write(value: unknown): boolean {
    if (this.finished || this.stream.destroyed) return false;
    const message = this.method.serialize(value);
    this.batch.push(message);
    this.batchBytes += messagePrefixBytes + message.length;
    if (!this.flushScheduled) {
      // A microtask, not a later tick: a watch event goes out before the answer to the put that
      // caused it, whose promise settles after notify returned (etcd's watch-latency bench times that).
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    if (this.stream.writableLength + this.batchBytes < this.stream.writableHighWaterMark) return true;
    this.drainOwed = true;
    return false;
  }

  /** Writes the batched responses, each with its length prefix, as one buffer. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0) return;
    const messages = this.batch;
    const frame = Buffer.allocUnsafe(this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    if (this.stream.destroyed || this.stream.closed) return;
    let offset = 0;
    for (const message of messages) {
      frame[offset] = 0;
      frame.writeUInt32BE(message.length, offset + 1);
      message.copy(frame, offset + messagePrefixBytes);
      offset += messagePrefixBytes + message.length;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(grpcResponseHeaders, grpcResponseOptions);
    }
    const accepted = this.stream.write(frame);
    if (!this.drainOwed) return;
    this.drainOwed = false;
    // A write refused while batching is owed a 'drain': the stream emits it when it refuses the
    // batch too; when the stream drained meanwhile and takes the batch, the call emits it itself.
    if (accepted) process.nextTick(() => { if (!this.finished) this.emit('drain'); });
  }

  /** Ends the call with status OK. */
  end(): this {
    this.sendStatus({ code: status.OK, details: 'OK' });
    return this;
  }

  pause(): this {
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.stream.resume();
    return this;
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= messagePrefixBytes && !this.finished) {
      const buffered = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      const length = buffered.readUInt32BE(1);
      if (length > this.maxReceiveMessageBytes) {
        this.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs ${this.maxReceiveMessageBytes})` });
        this.emit('cancelled', 'cancelled');
        return;
      }
      if (this.pendingBytes < messagePrefixBytes + length) {
        this.pending = [buffered];
        return;
      }
      const message = buffered.subarray(messagePrefixBytes, messagePrefixBytes + length);
      const rest = buffered.subarray(messagePrefixBytes + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      this.emit('data', this.method.deserialize(message));
    }
  }

  private sendStatus(error: GrpcError): void {
    if (this.finished) return;
    // Responses written before the status go out before it, as when every write went out at once.
    this.flush();
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    if (this.stream.destroyed || this.stream.closed) return;
    if (!this.headersSent) {
      respondTrailersOnly(this.stream, error);
      return;
    }
    try {
      this.stream.once('wantTrailers', () => {
        this.stream.sendTrailers({ 'grpc-status': String(error.code), 'grpc-message': encodeURI(error.details) });
      });
      this.stream.end();
    } catch {
      // Closed meanwhile.
    }
  }
}
