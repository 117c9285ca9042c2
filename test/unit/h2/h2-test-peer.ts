// Test peers for H2Connection (src/api/h2/h2-connection.ts): a net server on 127.0.0.1:0 whose
// connections are served by H2Connection, a linked in-memory pair for byte-exact feeding, and a raw
// HTTP/2 client that writes hand-built frames and parses (and checks) what the server sends, its
// header blocks decoded with our HPACK decoder.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import pino from 'pino';
import {
  clientPreface, flagAck, flagEndHeaders, flagEndStream, flagPadded, flagPriority, frame, frameContinuation, frameData,
  frameGoaway, frameHeaderBytes, frameHeaders, framePing, frameRstStream, frameSettings, frameWindowUpdate, uint32Frame,
} from '../../../src/api/h2/frame-types.js';
import { linkedDuplexPair } from '../../../src/api/h2/grpc-js-fallback.js';
import { H2Connection, type H2ConnectionOptions } from '../../../src/api/h2/h2-connection.js';
import type { H2Stream } from '../../../src/api/h2/h2-stream.js';
import { HpackDecoder } from '../../../src/api/h2/hpack-decoder.js';
import { encodeHeaderBlock } from '../../../src/api/h2/hpack-encoder.js';

export const silentLogger = pino({ level: 'silent' });

export type Fields = Array<[string, string]>;
export type ServerOptions = Omit<H2ConnectionOptions, 'logger'>;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- servers ----

export interface TestServer {
  port: number;
  /** Every connection the server took, in order. */
  connections: H2Connection[];
  close(): Promise<void>;
}

/** A net server on 127.0.0.1:0; each connection is `new H2Connection(socket, ...).start(Buffer.alloc(0))`. */
export async function startServer(options: ServerOptions): Promise<TestServer> {
  const connections: H2Connection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection = new H2Connection(socket, { logger: silentLogger, ...options });
    connections.push(connection);
    connection.start(Buffer.alloc(0));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    connections,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An H2Connection on one end of linkedDuplexPair(); the other end is the client's. */
export function linkedConnection(options: ServerOptions): { connection: H2Connection; serverEnd: Duplex; clientEnd: Duplex } {
  const [serverEnd, clientEnd] = linkedDuplexPair();
  const connection = new H2Connection(serverEnd, { logger: silentLogger, ...options });
  connection.start(Buffer.alloc(0));
  return { connection, serverEnd, clientEnd };
}

// ---- client frames ----

export function fieldsBlock(fields: Fields): Buffer {
  return encodeHeaderBlock(fields.map(([name, value]) => ({ name, value, neverIndexed: false })));
}

/** A POST request's header fields (gRPC-like), with `extra` regular fields after the pseudo-headers. */
export function requestFields(path: string, extra: Fields = []): Fields {
  return [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', '127.0.0.1'], ['content-type', 'application/grpc'], ...extra];
}

export interface HeadersOptions {
  endStream?: boolean;
  endHeaders?: boolean;
  /** PADDED with this many bytes of padding (0 means a pad length field only). */
  padLength?: number;
  /** PRIORITY flag with this stream dependency (weight 16, not exclusive). */
  dependsOn?: number;
}

export function headersFrame(streamId: number, fieldsOrBlock: Fields | Buffer, options: HeadersOptions = {}): Buffer {
  const block = Buffer.isBuffer(fieldsOrBlock) ? fieldsOrBlock : fieldsBlock(fieldsOrBlock);
  const parts: Buffer[] = [];
  let flags = 0;
  if (options.endStream) flags |= flagEndStream;
  if (options.endHeaders ?? true) flags |= flagEndHeaders;
  if (options.padLength !== undefined) {
    flags |= flagPadded;
    parts.push(Buffer.from([options.padLength]));
  }
  if (options.dependsOn !== undefined) {
    flags |= flagPriority;
    const priority = Buffer.alloc(5);
    priority.writeUInt32BE(options.dependsOn, 0);
    priority[4] = 15;
    parts.push(priority);
  }
  parts.push(block);
  if (options.padLength !== undefined) parts.push(Buffer.alloc(options.padLength));
  return frame(frameHeaders, flags, streamId, Buffer.concat(parts));
}

export function continuationFrame(streamId: number, fragment: Buffer, endHeaders: boolean): Buffer {
  return frame(frameContinuation, endHeaders ? flagEndHeaders : 0, streamId, fragment);
}

export function dataFrame(streamId: number, payload: Buffer | string, options: { endStream?: boolean; padLength?: number } = {}): Buffer {
  const content = typeof payload === 'string' ? Buffer.from(payload) : payload;
  let flags = options.endStream ? flagEndStream : 0;
  if (options.padLength === undefined) return frame(frameData, flags, streamId, content);
  flags |= flagPadded;
  return frame(frameData, flags, streamId, Buffer.concat([Buffer.from([options.padLength]), content, Buffer.alloc(options.padLength)]));
}

export function settingsFrame(settings: ReadonlyArray<readonly [number, number]> = []): Buffer {
  const payload = Buffer.alloc(6 * settings.length);
  settings.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value, index * 6 + 2);
  });
  return frame(frameSettings, 0, 0, payload);
}

export const settingsAckFrame = (): Buffer => frame(frameSettings, flagAck, 0);
export const windowUpdateFrame = (streamId: number, increment: number): Buffer => uint32Frame(frameWindowUpdate, streamId, increment);
export const rstStreamFrame = (streamId: number, code: number): Buffer => uint32Frame(frameRstStream, streamId, code);
export const pingFrame = (opaque: Buffer, ack = false): Buffer => frame(framePing, ack ? flagAck : 0, 0, opaque);
export const goawayFrameOf = (lastStreamId: number, code: number, streamId = 0): Buffer => {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  return frame(frameGoaway, 0, streamId, payload);
};

/** What a client opens with: the preface and its SETTINGS. */
export function clientHandshake(settings: Array<[number, number]> = []): Buffer {
  return Buffer.concat([clientPreface, settingsFrame(settings)]);
}

/** `bytes` cut at each offset in `cuts` (modulo its length + 1, deduplicated, in order). */
export function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(previous, point));
    previous = point;
  }
  return chunks.filter((chunk) => chunk.length > 0);
}

/** Deterministic, non-periodic bytes, so that a reordered or repeated chunk shows. */
export function patternBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 1;
  for (let index = 0; index < length; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[index] = state & 0xff;
  }
  return bytes;
}

// ---- the raw client ----

export interface ServerFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** Position among all frames the server sent. */
  index: number;
}

export interface ServerHeaderBlock {
  streamId: number;
  fields: Fields;
  /** The HEADERS frame carried END_STREAM. */
  endStream: boolean;
  /** Index of its HEADERS frame, and of the frame that ended it (END_HEADERS). */
  index: number;
  lastIndex: number;
}

export interface Goaway {
  lastStreamId: number;
  code: number;
  debug: string;
}

/**
 * A hand-driven HTTP/2 client: `send` writes raw bytes, every frame the server sends is kept in
 * `frames` (header blocks decoded in order into `blocks`), and what breaks RFC 9113 framing on the
 * server's side (an interleaved header block, an unparseable block) lands in `violations`.
 */
export class RawClient {
  readonly frames: ServerFrame[] = [];
  readonly blocks: ServerHeaderBlock[] = [];
  readonly violations: string[] = [];
  closed = false;
  private input: Buffer = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder();
  private openBlock?: { streamId: number; endStream: boolean; fragments: Buffer[]; index: number };
  private readonly listeners = new Set<() => void>();

  constructor(readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    const onClosed = () => {
      this.closed = true;
      this.notify();
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  send(...chunks: Buffer[]): void {
    this.socket.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once `condition` holds (checked on every arrival); rejects after `timeoutMs`. */
  waitUntil(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.listeners.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}; frames: ${this.describeFrames()}`));
      }, timeoutMs);
      this.listeners.add(check);
    });
  }

  /** The first frame (from `from` on) matching `match`, waiting for it. */
  async waitForFrame(match: (f: ServerFrame) => boolean, what: string, options: { from?: number; timeoutMs?: number } = {}): Promise<ServerFrame> {
    const from = options.from ?? 0;
    const find = () => this.frames.slice(from).find(match);
    await this.waitUntil(() => find() !== undefined, what, options.timeoutMs);
    return find()!;
  }

  waitForGoaway(timeoutMs = 3000): Promise<Goaway> {
    return this.waitForFrame((f) => f.type === frameGoaway, 'GOAWAY', { timeoutMs }).then((f) => parseGoaway(f.payload));
  }

  waitForRst(streamId: number, timeoutMs = 3000): Promise<number> {
    return this.waitForFrame((f) => f.type === frameRstStream && f.streamId === streamId, `RST_STREAM on ${streamId}`, { timeoutMs })
      .then((f) => f.payload.readUInt32BE(0));
  }

  waitClosed(timeoutMs = 3000): Promise<void> {
    return this.waitUntil(() => this.closed, 'the connection to close', timeoutMs);
  }

  /** Waits for the response on `streamId` to end (END_STREAM on DATA or HEADERS) or the stream to be reset. */
  async waitForResponse(streamId: number, timeoutMs = 3000): Promise<RawResponse> {
    await this.waitUntil(() => this.blocks.some((b) => b.streamId === streamId && b.endStream) ||
      this.frames.some((f) => f.streamId === streamId && ((f.type === frameData && (f.flags & flagEndStream) !== 0) || f.type === frameRstStream)),
    `the response on stream ${streamId}`, timeoutMs);
    return this.response(streamId);
  }

  /** What the server sent on `streamId` so far. */
  response(streamId: number): RawResponse {
    const blocks = this.blocks.filter((b) => b.streamId === streamId);
    const frames = this.frames.filter((f) => f.streamId === streamId);
    const dataFrames = frames.filter((f) => f.type === frameData);
    const rst = frames.find((f) => f.type === frameRstStream);
    return {
      headers: blocks[0] === undefined ? undefined : Object.fromEntries(blocks[0].fields),
      trailers: blocks[1] === undefined ? undefined : Object.fromEntries(blocks[1].fields),
      blocks,
      data: Buffer.concat(dataFrames.map((f) => f.payload)),
      dataFrames,
      frames,
      rstCode: rst?.payload.readUInt32BE(0),
    };
  }

  /** Bytes of DATA the server sent on `streamId` (or all streams when undefined). */
  dataBytes(streamId?: number): number {
    return this.frames.filter((f) => f.type === frameData && (streamId === undefined || f.streamId === streamId))
      .reduce((sum, f) => sum + f.payload.length, 0);
  }

  count(match: (f: ServerFrame) => boolean): number {
    return this.frames.filter(match).length;
  }

  describeFrames(): string {
    return this.frames.slice(-30).map((f) => `${frameName(f.type)}(s=${f.streamId},f=0x${f.flags.toString(16)},len=${f.payload.length})`).join(' ');
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private onData(chunk: Buffer): void {
    this.input = this.input.length === 0 ? chunk : Buffer.concat([this.input, chunk]);
    let offset = 0;
    while (this.input.length - offset >= frameHeaderBytes) {
      const length = this.input.readUIntBE(offset, 3);
      if (this.input.length - offset < frameHeaderBytes + length) break;
      const type = this.input[offset + 3]!;
      const flags = this.input[offset + 4]!;
      const streamId = this.input.readUInt32BE(offset + 5) & 0x7fffffff;
      const payload = Buffer.from(this.input.subarray(offset + frameHeaderBytes, offset + frameHeaderBytes + length));
      offset += frameHeaderBytes + length;
      const parsed: ServerFrame = { type, flags, streamId, payload, index: this.frames.length };
      this.frames.push(parsed);
      this.onFrame(parsed);
    }
    this.input = this.input.subarray(offset);
    this.notify();
  }

  private onFrame(f: ServerFrame): void {
    if (this.openBlock !== undefined && (f.type !== frameContinuation || f.streamId !== this.openBlock.streamId)) {
      this.violations.push(`${frameName(f.type)} on ${f.streamId} inside the header block of stream ${this.openBlock.streamId}`);
    }
    if (f.type === frameHeaders) {
      let start = 0;
      let end = f.payload.length;
      if (f.flags & flagPadded) {
        start = 1;
        end -= f.payload[0]!;
      }
      if (f.flags & flagPriority) start += 5;
      this.openBlock = { streamId: f.streamId, endStream: (f.flags & flagEndStream) !== 0, fragments: [f.payload.subarray(start, end)], index: f.index };
    } else if (f.type === frameContinuation) {
      if (this.openBlock === undefined) {
        this.violations.push(`CONTINUATION on ${f.streamId} without HEADERS`);
        return;
      }
      this.openBlock.fragments.push(f.payload);
    } else {
      return;
    }
    if (!(f.flags & flagEndHeaders)) return;
    const block = this.openBlock!;
    this.openBlock = undefined;
    try {
      const fields = this.decoder.decode(Buffer.concat(block.fragments)).map((field): [string, string] => [field.name, field.value]);
      this.blocks.push({ streamId: block.streamId, fields, endStream: block.endStream, index: block.index, lastIndex: f.index });
    } catch (error) {
      this.violations.push(`undecodable header block on ${block.streamId}: ${(error as Error).message}`);
    }
  }
}

export interface RawResponse {
  headers?: Record<string, string>;
  trailers?: Record<string, string>;
  blocks: ServerHeaderBlock[];
  data: Buffer;
  dataFrames: ServerFrame[];
  frames: ServerFrame[];
  rstCode?: number;
}

export function parseGoaway(payload: Buffer): Goaway {
  return { lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, code: payload.readUInt32BE(4), debug: payload.subarray(8).toString('latin1') };
}

export function parseSettings(payload: Buffer): Map<number, number> {
  const settings = new Map<number, number>();
  for (let offset = 0; offset + 6 <= payload.length; offset += 6) settings.set(payload.readUInt16BE(offset), payload.readUInt32BE(offset + 2));
  return settings;
}

const frameNames = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
export function frameName(type: number): string {
  return frameNames[type] ?? `type${type}`;
}

// ---- server-side stream handlers ----

export const okHeaders: Fields = [[':status', '200'], ['content-type', 'application/grpc']];
export const okTrailers: Fields = [['grpc-status', '0']];

/** Collects the request body, then answers with `answer(body, stream)`: headers, data, trailers. */
export function answerAfterBody(answer: (body: Buffer, stream: H2Stream) => { headers?: Fields; data?: Buffer[]; trailers?: Fields | null }) {
  return (stream: H2Stream): void => {
    const chunks: Buffer[] = [];
    stream.attach((chunk) => chunks.push(chunk), () => {
      const { headers = okHeaders, data = [], trailers = okTrailers } = answer(Buffer.concat(chunks), stream);
      stream.respond(fieldsBlock(headers));
      for (const chunk of data) stream.write(chunk);
      stream.end(trailers === null ? null : fieldsBlock(trailers));
    });
  };
}

/** Echoes the request body, with the request's :path in an `x-path` response header. */
export const echoStream = answerAfterBody((body, stream) => ({
  headers: [...okHeaders, ['x-path', stream.headers[':path'] ?? '']],
  data: [body],
  trailers: [...okTrailers, ['x-body-bytes', String(body.length)]],
}));
