// A bidi-streaming call on a stream of our HTTP/2 connection (api/h2), with the part of grpc-js's ServerDuplexStream
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
import { Metadata, status } from '@grpc/grpc-js';
import type { GrpcError } from './errors.js';
import { countHandled, countReceived, countReceivedBytes, countSent, countSentBytes, type MethodHandledCounts } from './handled-counts.js';
import { errorInternal } from '../h2/frame-types.js';
import { emptyObjectArray } from '../../object-array.js';
import { encodeHeaderBlock } from '../h2/hpack-encoder.js';
import { streamWritableHighWaterMark, type H2RequestHeaders, type H2Stream } from '../h2/h2-stream.js';

export interface LeanStreamMethod {
  path: string;
  deserialize(bytes: Buffer): unknown;
  serialize(value: unknown): Buffer;
  /** Where the call's end is counted for /metrics (handled-counts.ts), if anywhere. */
  handled?: MethodHandledCounts;
}

/** gRPC's length prefix: a compressed flag and a 4-byte length. */
export const messagePrefixBytes = 5;

function field(name: string, value: string) {
  return { name, value, neverIndexed: false };
}

/**
 * The response headers grpc-js sends, encoded once. No `date` header: gRPC has no use for it and
 * etcd's Go server sends none.
 */
export const grpcResponseHeaderBlock = encodeHeaderBlock([
  field(':status', '200'), field('content-type', 'application/grpc+proto'),
  field('grpc-accept-encoding', 'identity,deflate,gzip'), field('grpc-encoding', 'identity'),
]);

/** The trailers of a call that succeeded, as grpc-js sends them. */
export const grpcOkTrailerBlock = encodeHeaderBlock([field('grpc-status', String(status.OK)), field('grpc-message', 'OK')]);

/** Trailers ending a call with `error` (grpc-message URI-encoded, as grpc-js does). */
export function grpcTrailerBlock(error: GrpcError): Buffer {
  if (error.code === status.OK && error.details === 'OK') return grpcOkTrailerBlock;
  return encodeHeaderBlock([field('grpc-status', String(error.code)), field('grpc-message', encodeURI(error.details))]);
}

/** grpc-js's deadline header format and units (server-interceptors.ts). */
const grpcTimeoutPattern = /(\d{1,8})\s*([HMSmun])/;
const grpcTimeoutUnitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/** The timeout a grpc-timeout header asks for, undefined without one, or an error status if unreadable. */
export function grpcTimeoutMs(headers: H2RequestHeaders): number | GrpcError | undefined {
  const timeout = headers['grpc-timeout'];
  if (typeof timeout !== 'string') return undefined;
  const match = grpcTimeoutPattern.exec(timeout);
  if (match === null) return { code: status.INTERNAL, details: `Invalid grpc-timeout value "${timeout}"` };
  return (Number(match[1]) * grpcTimeoutUnitMs[match[2]!]!) | 0;
}

export const deadlineExceeded: GrpcError = { code: status.DEADLINE_EXCEEDED, details: 'Deadline exceeded' };

/** Ends a call that has sent nothing yet with only trailers, as grpc-js does. */
export function respondTrailersOnly(stream: H2Stream, error: GrpcError): void {
  stream.respond(encodeHeaderBlock([
    field(':status', '200'), field('content-type', 'application/grpc+proto'),
    field('grpc-status', String(error.code)), field('grpc-message', encodeURI(error.details)),
  ]), true);
}

/** Writes `value` (with its `aux`) at `offset` of `frame`; returns the offset after it. */
export type FrameEncoder = (value: unknown, aux: unknown, frame: Buffer, offset: number) => number;

export class LeanDuplexCall extends EventEmitter {
  private headersSent = false;
  private finished = false;
  private metadataValue?: Metadata;
  private deadlineTimer?: NodeJS.Timeout;
  /** Bytes of a request message split across DATA frames. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The handler paused the call: no 'data' until resume(). */
  private paused = false;
  /** Responses written since the last flush (see ResponseBatch). */
  private batch = new ResponseBatch();
  /** The emptied batch of the last flush, for the next one: a watch stream flushes per event. */
  private spareBatch = new ResponseBatch();
  private frameEncoder?: FrameEncoder;
  private flushScheduled = false;
  /** A write returned false before its batch reached the stream: a 'drain' must follow. */
  private drainOwed = false;

  constructor(
    private readonly stream: H2Stream,
    private readonly headers: H2RequestHeaders,
    private readonly method: LeanStreamMethod,
    private readonly maxReceiveMessageBytes: number,
  ) {
    super();
    // First listener: a handler ending the call with an error status (calls.ts failStream).
    this.on('error', (error: GrpcError) => {
      if (typeof error === 'object' && error !== null && typeof error.code === 'number') this.sendStatus(error);
    });
    stream.ondrain = () => this.emit('drain');
    stream.onclose = () => {
      if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
      if (!this.finished) {
        this.finished = true;
        countHandled(this.method.handled, status.CANCELLED);
        this.emit('cancelled', 'cancelled');
      }
      this.emit('close');
    };
  }

  /** The request's HTTP/2 headers: handlers read their context from them (context.ts contextOfCall). */
  get http2Headers(): H2RequestHeaders {
    return this.headers;
  }

  /** Starts reading requests; called once the handler has attached its listeners. */
  start(): void {
    const timeout = grpcTimeoutMs(this.headers);
    if (typeof timeout === 'object') {
      this.sendStatus(timeout);
      return;
    }
    if (timeout !== undefined) {
      this.deadlineTimer = setTimeout(() => {
        this.sendStatus(deadlineExceeded);
        this.emit('cancelled', 'deadline');
      }, timeout);
    }
    this.stream.attach((chunk) => this.onData(chunk), () => {
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
    if (this.finished || this.stream.closed) return false;
    const message = this.method.serialize(value);
    return this.queue(message, undefined, message.length);
  }

  /** The encoder of writeEncoded's values (one kind of response per call: a watch stream's). */
  setFrameEncoder(encoder: FrameEncoder): void {
    this.frameEncoder = encoder;
  }

  /**
   * Like write, for a response that the frame encoder writes straight into the flush's frame, with
   * `aux` (not undefined) and in exactly `length` bytes: no Buffer of its own and no copy of it. The
   * value must not change until the flush (this turn's microtasks).
   */
  writeEncoded(value: unknown, aux: unknown, length: number): boolean {
    if (this.finished || this.stream.closed) return false;
    if (this.frameEncoder === undefined) throw new Error('writeEncoded without a frame encoder');
    return this.queue(value, aux, length);
  }

  private queue(value: unknown, aux: unknown, length: number): boolean {
    countSent(this.method.handled);
    countSentBytes(this.method.handled, length);
    this.batch.add(value, aux, length);
    if (!this.flushScheduled) {
      // A microtask, not a later tick: a watch event goes out before the answer to the put that
      // caused it, which the server settles in a microtask queued after apply's notify
      // (EtcdServer.onApplied; etcd's watch-latency bench times that).
      this.flushScheduled = true;
      queueMicrotask(this.flushNow);
    }
    if (this.stream.writableLength + this.batch.bytes < streamWritableHighWaterMark) return true;
    this.drainOwed = true;
    return false;
  }

  private readonly flushNow = (): void => this.flush();

  /** Writes the batched responses, each with its length prefix, as one buffer. */
  private flush(): void {
    this.flushScheduled = false;
    const batch = this.batch;
    if (batch.count === 0) return;
    // Writes made while this one goes out (a 'drain' listener) start the next batch.
    this.batch = this.spareBatch;
    try {
      if (!this.stream.closed) this.writeBatch(batch);
    } finally {
      batch.clear();
      this.spareBatch = batch;
    }
  }

  private writeBatch(batch: ResponseBatch): void {
    const { values, auxes, lengths, count } = batch;
    const frame = Buffer.allocUnsafe(batch.bytes);
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const length = lengths[i]!;
      frame[offset] = 0;
      frame.writeUInt32BE(length, offset + 1);
      offset += messagePrefixBytes;
      const aux = auxes[i];
      if (aux === undefined) {
        (values[i] as Buffer).copy(frame, offset);
      } else if (this.frameEncoder!(values[i], aux, frame, offset) !== offset + length) {
        // A sizing bug would corrupt every later message of the stream: end it instead.
        if (!this.finished) countHandled(this.method.handled, status.INTERNAL);
        this.finished = true;
        this.stream.reset(errorInternal);
        this.emit('cancelled', 'cancelled');
        return;
      }
      offset += length;
    }
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(grpcResponseHeaderBlock);
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

  /** Stops emitting 'data' at once, also between messages of one DATA frame, as grpc-js does. */
  pause(): this {
    this.paused = true;
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.paused = false;
    // Messages already here go first; the stream then delivers what it held (and the end after it).
    this.processPending();
    if (!this.paused) this.stream.resume();
    return this;
  }

  private onData(chunk: Buffer): void {
    if (this.finished) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.processPending();
  }

  /**
   * Emits each complete message. A message split over many DATA frames is joined once, when all of
   * it is here (joining at every frame would copy a large one over and over).
   */
  private processPending(): void {
    while (this.pendingBytes >= messagePrefixBytes && !this.finished && !this.paused) {
      const length = this.declaredLength();
      if (length > this.maxReceiveMessageBytes) {
        this.sendStatus({ code: status.RESOURCE_EXHAUSTED, details: `Received message larger than max (${length} vs ${this.maxReceiveMessageBytes})` });
        this.emit('cancelled', 'cancelled');
        return;
      }
      if (this.pendingBytes < messagePrefixBytes + length) return;
      const buffered = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      const message = buffered.subarray(messagePrefixBytes, messagePrefixBytes + length);
      const rest = buffered.subarray(messagePrefixBytes + length);
      this.pending = rest.length > 0 ? [rest] : [];
      this.pendingBytes = rest.length;
      countReceived(this.method.handled);
      countReceivedBytes(this.method.handled, length);
      this.emit('data', this.method.deserialize(message));
    }
  }

  /** The length in the prefix of the first pending message (pendingBytes >= messagePrefixBytes). */
  private declaredLength(): number {
    const first = this.pending[0]!;
    if (first.length >= messagePrefixBytes) return first.readUInt32BE(1);
    const prefix = Buffer.allocUnsafe(messagePrefixBytes);
    let copied = 0;
    for (const part of this.pending) {
      copied += part.copy(prefix, copied, 0, Math.min(part.length, messagePrefixBytes - copied));
      if (copied === messagePrefixBytes) break;
    }
    return prefix.readUInt32BE(1);
  }

  private sendStatus(error: GrpcError): void {
    if (this.finished) return;
    // Responses written before the status go out before it, as when every write went out at once.
    this.flush();
    this.finished = true;
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    countHandled(this.method.handled, this.stream.closed ? status.CANCELLED : error.code);
    if (this.stream.closed) return;
    if (!this.headersSent) {
      respondTrailersOnly(this.stream, error);
      return;
    }
    this.stream.end(grpcTrailerBlock(error));
  }
}

const responseBatchSlotsKept = 1024;

/**
 * A call's responses since its last flush: an encoded message, or, from writeEncoded, a value with
 * its `aux`, encoded by the frame encoder straight into the flush's frame; `bytes` counts their
 * length prefixes too. The arrays are kept and refilled: a watch stream flushes once per event, and
 * in a sampled profile of a follower over 1,000 watched puts this site allocated 3.5 of 39 MB with
 * a fresh set per flush, 1.8 MB after (the rest is the flush's closure and microtask).
 */
class ResponseBatch {
  values: unknown[] = emptyObjectArray<unknown>();
  auxes: unknown[] = emptyObjectArray<unknown>();
  lengths: number[] = [];
  count = 0;
  bytes = 0;

  add(value: unknown, aux: unknown, length: number): void {
    // Assigned, not pushed: past `count` the slots of an earlier batch are reused.
    this.values[this.count] = value;
    this.auxes[this.count] = aux;
    this.lengths[this.count] = length;
    this.count++;
    this.bytes += messagePrefixBytes + length;
  }

  /**
   * Lets go of the responses, keeping the arrays' room (setting length 0 would free it) unless a
   * catch-up made them large.
   */
  clear(): void {
    if (this.values.length > responseBatchSlotsKept) {
      this.values = emptyObjectArray<unknown>();
      this.auxes = emptyObjectArray<unknown>();
      this.lengths = [];
    } else {
      this.values.fill(undefined, 0, this.count);
      this.auxes.fill(undefined, 0, this.count);
    }
    this.count = 0;
    this.bytes = 0;
  }
}
