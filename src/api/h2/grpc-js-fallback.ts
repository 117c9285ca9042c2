// Streams the lean path does not serve itself (server-streaming calls such as Snapshot and
// Observe, unknown methods, compressed requests, odd content types) go to grpc-js unchanged, so
// that they get exactly its answers: each client connection that has such a stream gets an
// in-process HTTP/2 connection into grpc-js's server (its connection injector, over a pair of
// linked in-memory streams), and the stream is relayed over it frame content for frame content,
// flow control on each side kept by that side's end.
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { encodeHeaderBlock } from './hpack-encoder.js';
import type { HeaderField } from './hpack-decoder.js';
import { errorCancel, errorInternal, errorProtocol } from './frame-types.js';
import type { H2Stream } from './h2-stream.js';

/** What takes an HTTP/2 connection: grpc-js's connection injector. */
export interface ConnectionInjector {
  injectConnection(connection: Duplex): void;
}

/** Headers the relay must not pass on: node:http2 sets them for its own connection. */
const ownPseudoHeaders = new Set([':authority', ':scheme']);

export class GrpcJsFallback {
  private session?: http2.ClientHttp2Session;

  constructor(private readonly injector: ConnectionInjector, private readonly logger: Logger) {}

  forward(stream: H2Stream): void {
    let request: http2.ClientHttp2Stream;
    try {
      const headers: http2.OutgoingHttpHeaders = {};
      for (const name of Object.keys(stream.headers)) {
        if (!ownPseudoHeaders.has(name)) headers[name] = stream.headers[name];
      }
      request = this.sessionOrNew().request(headers, { endStream: false });
    } catch (error) {
      // A header node:http2 will not send (an invalid value): the request is malformed.
      this.logger.debug({ err: error, path: stream.headers[':path'] }, 'cannot relay a request to grpc-js');
      stream.reset(errorProtocol);
      return;
    }
    let trailers: Buffer | undefined;
    request.on('response', (headers, flags) => {
      const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
      stream.respond(encodeHeaderBlock(headerFields(headers)), endStream);
    });
    request.on('data', (chunk: Buffer) => {
      if (!stream.write(chunk)) request.pause();
    });
    request.on('trailers', (headers) => {
      trailers = encodeHeaderBlock(headerFields(headers));
    });
    // grpc-js finished: the answer is complete even while its last bytes wait for the client's window.
    let answered = false;
    request.on('end', () => {
      answered = true;
      stream.end(trailers ?? null);
    });
    request.on('error', (error) => this.logger.debug({ err: error }, 'relayed grpc-js stream error'));
    request.on('close', () => {
      if (stream.localEnded || answered) return;
      const code = request.rstCode;
      stream.reset(code === undefined || code === http2.constants.NGHTTP2_NO_ERROR ? errorInternal : code);
    });
    stream.ondrain = () => request.resume();
    stream.onclose = () => {
      // CANCEL also for a client's NO_ERROR reset: node only closes a stream at once for a code
      // other than 0, and a paused relay would otherwise wait for an end that never comes.
      if (!request.closed) request.close(stream.resetCode ? stream.resetCode : errorCancel);
    };
    request.on('drain', () => stream.resume());
    stream.attach(
      (chunk) => {
        if (!request.write(chunk)) stream.pause();
      },
      () => request.end(),
    );
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private sessionOrNew(): http2.ClientHttp2Session {
    if (this.session !== undefined && !this.session.closed && !this.session.destroyed) return this.session;
    const [serverEnd, clientEnd] = linkedDuplexPair();
    this.injector.injectConnection(serverEnd);
    const session = http2.connect('http://localhost', { createConnection: () => clientEnd });
    session.on('error', (error) => this.logger.debug({ err: error }, 'grpc-js relay session error'));
    session.on('close', () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }
}

/** node:http2's response headers as HPACK fields, in order, pseudo-headers first. */
function headerFields(headers: http2.IncomingHttpHeaders): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value) fields.push({ name, value: item, neverIndexed: false });
    } else {
      fields.push({ name, value: String(value), neverIndexed: false });
    }
  }
  fields.sort((a, b) => Number(b.name.startsWith(':')) - Number(a.name.startsWith(':')));
  return fields;
}

/** Two in-memory streams, each reading what the other writes (node 20 has no stream.duplexPair). */
export function linkedDuplexPair(): [Duplex, Duplex] {
  const ends: LinkedEnd[] = [];
  const other = (end: LinkedEnd): LinkedEnd => (end === ends[0] ? ends[1]! : ends[0]!);
  ends.push(new LinkedEnd(other), new LinkedEnd(other));
  return [ends[0]!, ends[1]!];
}

class LinkedEnd extends Duplex {
  /** A write held until the other end's reader wants more. */
  heldCallback?: (error?: Error | null) => void;

  constructor(private readonly other: (end: LinkedEnd) => LinkedEnd) {
    super();
  }

  override _read(): void {
    const peer = this.other(this);
    const callback = peer.heldCallback;
    peer.heldCallback = undefined;
    callback?.();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.other(this).push(chunk)) callback();
    else this.heldCallback = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.other(this).push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.other(this);
    const held = this.heldCallback;
    this.heldCallback = undefined;
    held?.(error ?? new Error('stream destroyed'));
    if (!peer.destroyed) peer.destroy();
    callback(error);
  }
}
