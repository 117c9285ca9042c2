// The server side of one HTTP/2 connection (RFC 9113), in JavaScript. node:http2 (nghttp2 under a
// JS stream layer) spent more per gRPC call than etcd-ts's own work: with etcd's benchmark tool at
// 100 connections/1000 clients on the 2-core bench machine, a node:http2 server answering Put from
// a constant used 64 ms of CPU per 1000 calls (16,300 calls/s); the same answer framed here, 13 ms
// (44,100 calls/s). What makes the difference: no per-stream C++ object, JS stream or header
// object, one socket write per batch of answers, and the answer's header blocks encoded once.
//
// It frames, decodes headers (HPACK, our decoder), keeps both directions' flow control, answers
// SETTINGS and PING, and hands each request stream (H2Stream) to `onStream`. What the streams
// carry is not its business: api/grpc/lean-path.ts routes them.
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { HpackDecoder, type HeaderField } from './hpack-decoder.js';
import { Http2ParseError } from './hpack-error.js';
import {
  clientPreface, dataFrameHeader, errorCompression, errorEnhanceYourCalm, errorFlowControl, errorFrameSize, errorNoError, errorProtocol, errorRefusedStream,
  errorStreamClosed, flagAck, flagEndHeaders, flagEndStream, flagPadded, flagPriority, frame, frameContinuation, frameData,
  frameGoaway, frameHeaderBytes, frameHeaders, framePing, framePriority, framePushPromise, frameRstStream, frameSettings,
  frameSizeDefault, frameSizeMax, frameWindowUpdate, headersFrameHeader, initialWindowDefault, settingEnablePush, settingInitialWindowSize,
  settingHeaderTableSize, settingMaxConcurrentStreams, settingMaxFrameSize, uint32Frame, windowSizeMax, writeFrameHeader,
} from './frame-types.js';
import { H2Stream, type H2RequestHeaders } from './h2-stream.js';
import { ClientPingPolicy, ServerPinger, tooManyPingsDebugData } from './keepalive.js';
import { StreamTable } from './stream-table.js';
import { TokenBucket } from './token-bucket.js';
import { emptyObjectArray } from '../../object-array.js';
import { markEventLoopBusy } from '../../idle-scavenge.js';

/** Each stream may send this much before we return window: big enough for a large put in one go. */
export const streamReceiveWindowBytes = 1024 * 1024;
/** The connection's receive window, shared by its streams. */
export const connectionReceiveWindowBytes = 16 * 1024 * 1024;
/** A header block (HEADERS and CONTINUATION) larger than this ends the connection. */
export const headerBlockBytesMaxDefault = 256 * 1024;
/**
 * Answers to control frames (PING and SETTINGS ACKs) are not queued past this much unsent output:
 * a client that floods them without reading would otherwise grow our buffers without bound.
 */
export const controlBacklogBytesMax = 4 * 1024 * 1024;
/**
 * Response data stops moving from the streams to the socket while this much is written but unsent
 * (a client that does not read): the streams' own buffers then fill, their writers see write()
 * return false and wait for a drain, and the socket is not read meanwhile.
 */
export const socketBacklogBytesMax = 1024 * 1024;
/**
 * Client resets of streams we have not begun to answer (the "rapid reset" pattern, CVE-2023-44487:
 * a request's handler keeps working while the client, not waiting for answers, is never slowed by
 * flow control or MAX_CONCURRENT_STREAMS): this many at once, and this many a second after that,
 * as nghttp2's defaults. A reset after the answer began costs us nothing more and is not counted:
 * etcd's KeepAliveOnce cancels its stream after every keep-alive answer, 30,000 times a second
 * under etcd's benchmark tool.
 */
export const unansweredResetBurst = 1000;
export const unansweredResetsPerSecond = 33;
/** How long a graceful close waits for open streams before it drops them. */
export const gracefulCloseMsDefault = 1000;

/** Headers HTTP/2 forbids in a request (§8.2.2): connection-specific ones. */
const connectionSpecificHeaders = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** §8.2.1: a regular field name is a lower-case token. */
const invalidNamePattern = /[^!#$%&'*+\-.^_`|~0-9a-z]/;
/** §8.2.1: no NUL, CR or LF in a value, and no whitespace at either end. */
const invalidValuePattern = /[\0\r\n]|^[ \t]|[ \t]$/;
/** Stream ids of resets whose late frames are still recognised as such. */
const resetStreamsRemembered = 1024;

export interface H2ConnectionOptions {
  /** A new request stream with valid headers; attach its callbacks before returning. */
  onStream: (stream: H2Stream) => void;
  /** The connection is gone (closed by either side); every stream has had its onclose. */
  onClose?: () => void;
  logger: Logger;
  /** SETTINGS_MAX_CONCURRENT_STREAMS; unset, streams are unlimited as in etcd (math.MaxUint32). */
  maxConcurrentStreams?: number;
  headerBlockBytesMax?: number;
  /** gRPC keep-alive (keepalive.ts); unset, the server never pings and takes any client pings. */
  keepalive?: H2KeepaliveOptions;
  /** The clock of the rapid-reset limit and of keep-alive; tests drive it. */
  nowMs?: () => number;
  /** Decorates every request's headers (the listener adds a verified certificate's CN). */
  decorateHeaders?: (headers: H2RequestHeaders) => void;
}

export interface H2KeepaliveOptions {
  /** Client pings closer than this (while a stream is open) are strikes (--grpc-keepalive-min-time). */
  minClientPingIntervalMs: number;
  /** The server pings after this long without reading anything (--grpc-keepalive-interval). */
  pingAfterIdleMs: number;
  /** ...and closes the connection when nothing is read for this long after (--grpc-keepalive-timeout). */
  pingTimeoutMs: number;
}

/** HEADERS whose block continues in CONTINUATION frames. */
interface OpenHeaderBlock {
  streamId: number;
  endStream: boolean;
  fragments: Buffer[];
  bytes: number;
  /** What counts against headerBlockBytesMax: the fragments and a frame header per frame. */
  charged: number;
}

export class H2Connection {
  private readonly decoder = new HpackDecoder();
  /**
   * The last request header block that left the HPACK table as it was, and its headers. A client
   * that sends the same headers on every call (gRPC's, once its table holds them) sends the same
   * bytes, all table indexes: while the table does not change, those bytes mean the same headers,
   * so they are neither decoded nor built again. The headers are frozen: every stream shares them.
   */
  private repeatBlock?: Buffer;
  private repeatTableChanges = -1;
  private repeatHeaders?: H2RequestHeaders;
  private readonly streams = new StreamTable<H2Stream>();
  /** Streams with response data waiting for window. */
  private readonly blocked = new Set<H2Stream>();
  private lastStreamId = 0;
  private input?: Buffer;
  private prefaceSeen = false;
  private settingsSeen = false;
  private openBlock?: OpenHeaderBlock;

  /** The clock of the rapid-reset limit and of keep-alive. */
  private readonly nowMs: () => number;
  private readonly unansweredResets: TokenBucket;
  private readonly pingPolicy?: ClientPingPolicy;
  private pinger?: ServerPinger;

  /** The client's settings, as they bear on what we send. */
  private peerInitialWindow = initialWindowDefault;
  private peerMaxFrameSize = frameSizeDefault;
  private sendWindow = initialWindowDefault;
  private receiveWindow = connectionReceiveWindowBytes;
  private receiveUnacked = 0;
  /**
   * The client sent SETTINGS_HEADER_TABLE_SIZE: RFC 7541 §4.2 wants a dynamic table size update at
   * the start of our next header block. Ours never index, so the update is always to 0.
   */
  private tableSizeUpdateOwed = false;
  /** Streams we reset (or answered and reset) before the client ended them: their late frames are dropped. */
  private readonly resetBeforeRemoteEnd = new Set<number>();

  /** Emptied and refilled, never replaced (object-array.ts). */
  private readonly output: Buffer[] = emptyObjectArray<Buffer>();
  private outputBytes = 0;
  private flushScheduled = false;
  /** The socket is not read while what we wrote to it waits unsent (socketBacklogBytesMax). */
  private readPaused = false;
  private goingAway = false;
  private closedAll = false;
  /** Drops the socket when the client does not close its side after ours ended. */
  private endTimer?: NodeJS.Timeout;
  /** Drops the socket when a graceful close's grace is over. */
  private graceTimer?: NodeJS.Timeout;
  private readonly headerBlockBytesMax: number;

  constructor(private readonly socket: Duplex, private readonly options: H2ConnectionOptions) {
    this.headerBlockBytesMax = options.headerBlockBytesMax ?? headerBlockBytesMaxDefault;
    this.nowMs = options.nowMs ?? performanceNow;
    this.unansweredResets = new TokenBucket(unansweredResetBurst, unansweredResetsPerSecond, this.nowMs);
    if (options.keepalive !== undefined) this.pingPolicy = new ClientPingPolicy(options.keepalive.minClientPingIntervalMs, this.nowMs);
  }

  /** Sends our preface and starts reading, `firstBytes` (already read from the socket) first. */
  start(firstBytes: Buffer): void {
    const settings: Array<[number, number]> = [[settingInitialWindowSize, streamReceiveWindowBytes], [settingEnablePush, 0]];
    if (this.options.maxConcurrentStreams !== undefined) settings.push([settingMaxConcurrentStreams, this.options.maxConcurrentStreams]);
    const payload = Buffer.allocUnsafe(6 * settings.length);
    settings.forEach(([id, value], index) => {
      payload.writeUInt16BE(id, index * 6);
      payload.writeUInt32BE(value, index * 6 + 2);
    });
    this.queue(frame(frameSettings, 0, 0, payload));
    this.queue(uint32Frame(frameWindowUpdate, 0, connectionReceiveWindowBytes - initialWindowDefault));
    const keepalive = this.options.keepalive;
    if (keepalive !== undefined) {
      this.pinger = new ServerPinger({
        idleMs: keepalive.pingAfterIdleMs,
        timeoutMs: keepalive.pingTimeoutMs,
        // grpc-go's keep-alive ping carries 8 zero bytes.
        sendPing: () => this.queue(frame(framePing, 0, 0, Buffer.alloc(8))),
        onUnresponsive: () => {
          this.options.logger.debug('closing a client HTTP/2 connection: no answer to a keep-alive ping');
          this.destroy();
        },
        nowMs: this.nowMs,
      });
    }
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('end', () => this.destroy());
    this.socket.on('drain', () => {
      if (this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
      this.pumpBlocked();
    });
    this.socket.on('close', () => this.closeAllStreams());
    this.socket.on('error', (error) => this.options.logger.debug({ err: error }, 'client connection error'));
    if (firstBytes.length > 0) this.read(firstBytes);
    // The listener's protocol sniff leaves the socket paused.
    this.socket.resume();
  }

  get openStreamCount(): number {
    return this.streams.size;
  }

  /**
   * Stops taking new streams (GOAWAY, NO_ERROR), lets open ones finish and then closes; after
   * `graceMs` whatever is still open is dropped. Resolves once the socket is closed.
   */
  closeGracefully(graceMs = gracefulCloseMsDefault): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve();
        return;
      }
      this.socket.once('close', () => resolve());
      if (!this.goingAway) {
        this.goingAway = true;
        this.queue(goawayFrame(this.lastStreamId, errorNoError));
      }
      if (this.streams.size === 0) this.endSocket();
      this.graceTimer ??= setTimeout(() => this.destroy(), graceMs);
      this.graceTimer.unref();
    });
  }

  destroy(): void {
    this.flush();
    this.socket.destroy();
    this.closeAllStreams();
  }

  // ---- reading ----

  private read(chunk: Buffer): void {
    markEventLoopBusy();
    if (this.closedAll) return;
    this.pinger?.noteRead();
    const data = this.input === undefined ? chunk : Buffer.concat([this.input, chunk]);
    this.input = undefined;
    let offset = 0;
    if (!this.prefaceSeen) {
      if (data.length < clientPreface.length) {
        this.input = data;
        return;
      }
      if (!data.subarray(0, clientPreface.length).equals(clientPreface)) {
        this.connectionError(errorProtocol, 'bad client preface');
        return;
      }
      this.prefaceSeen = true;
      offset = clientPreface.length;
    }
    try {
      while (data.length - offset >= frameHeaderBytes && !this.closedAll) {
        const lengthBytes = (data[offset]! << 16) | (data[offset + 1]! << 8) | data[offset + 2]!;
        if (lengthBytes > frameSizeDefault) {
          this.connectionError(errorFrameSize, `frame of ${lengthBytes} bytes`);
          return;
        }
        if (data.length - offset < frameHeaderBytes + lengthBytes) break;
        const type = data[offset + 3]!;
        const flags = data[offset + 4]!;
        const streamId = data.readUInt32BE(offset + 5) & 0x7fffffff;
        const payloadStart = offset + frameHeaderBytes;
        offset = payloadStart + lengthBytes;
        if (type === frameHeaders && this.isRepeatedHeadersFrame(data, payloadStart, lengthBytes, flags, streamId)) {
          this.onStreamHeaders(streamId, (flags & flagEndStream) !== 0, undefined, this.repeatTableChanges, this.repeatHeaders, undefined);
          continue;
        }
        this.handleFrame(type, flags, streamId, data.subarray(payloadStart, offset));
      }
    } catch (error) {
      if (error instanceof Http2ParseError) {
        this.connectionError(errorCompression, error.message);
        return;
      }
      throw error;
    }
    if (offset < data.length && !this.closedAll) this.input = data.subarray(offset);
  }

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (!this.settingsSeen && type !== frameSettings) {
      this.connectionError(errorProtocol, 'the client preface must start with SETTINGS');
      return;
    }
    if (this.openBlock !== undefined && (type !== frameContinuation || streamId !== this.openBlock.streamId)) {
      this.connectionError(errorProtocol, 'a header block was interrupted');
      return;
    }
    switch (type) {
      case frameData: this.onData(flags, streamId, payload); break;
      case frameHeaders: this.onHeaders(flags, streamId, payload); break;
      case framePriority:
        if (streamId === 0) this.connectionError(errorProtocol, 'PRIORITY on stream 0');
        // A wrong size is a stream error, but an idle stream must not get a RST_STREAM (§5.1).
        else if (payload.length !== 5 && streamId <= this.lastStreamId) this.resetById(streamId, errorFrameSize);
        break;
      case frameRstStream: this.onRstStream(streamId, payload); break;
      case frameSettings: this.onSettings(flags, streamId, payload); break;
      case framePushPromise: this.connectionError(errorProtocol, 'a client sent PUSH_PROMISE'); break;
      case framePing: this.onPing(flags, streamId, payload); break;
      case frameGoaway:
        // The client will open no more streams; it closes the connection when it is done.
        if (streamId !== 0) this.connectionError(errorProtocol, 'GOAWAY on a stream');
        break;
      case frameWindowUpdate: this.onWindowUpdate(streamId, payload); break;
      case frameContinuation: this.onContinuation(flags, streamId, payload); break;
      default: break; // §5.5: unknown frame types are ignored.
    }
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      this.connectionError(errorProtocol, 'SETTINGS on a stream');
      return;
    }
    if (flags & flagAck) {
      if (payload.length !== 0) this.connectionError(errorFrameSize, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) {
      this.connectionError(errorFrameSize, 'SETTINGS payload not a multiple of 6');
      return;
    }
    this.settingsSeen = true;
    for (let offset = 0; offset < payload.length; offset += 6) {
      const id = payload.readUInt16BE(offset);
      const value = payload.readUInt32BE(offset + 2);
      if (id === settingEnablePush && value > 1) {
        this.connectionError(errorProtocol, 'SETTINGS_ENABLE_PUSH above 1');
        return;
      }
      if (id === settingInitialWindowSize) {
        if (value > windowSizeMax) {
          this.connectionError(errorFlowControl, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          return;
        }
        // §6.9.2: the change applies to every open stream's window, which may go negative.
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.valuesSnapshot()) {
          stream.sendWindow += delta;
          if (stream.sendWindow > windowSizeMax) {
            this.connectionError(errorFlowControl, 'SETTINGS_INITIAL_WINDOW_SIZE took a stream window above 2^31-1');
            return;
          }
        }
      } else if (id === settingMaxFrameSize) {
        if (value < frameSizeDefault || value > frameSizeMax) {
          this.connectionError(errorProtocol, `SETTINGS_MAX_FRAME_SIZE ${value} out of range`);
          return;
        }
        this.peerMaxFrameSize = value;
      }
      if (id === settingHeaderTableSize) this.tableSizeUpdateOwed = true;
      // The rest concern a client.
    }
    if (this.controlFlood()) return;
    this.queue(frame(frameSettings, flagAck, 0));
    this.pumpBlocked();
  }

  private onPing(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) {
      this.connectionError(errorProtocol, 'PING on a stream');
      return;
    }
    if (payload.length !== 8) {
      this.connectionError(errorFrameSize, 'PING payload not 8 bytes');
      return;
    }
    if (flags & flagAck) return;
    if (this.controlFlood()) return;
    this.queue(frame(framePing, flagAck, 0, payload));
    // Judged after the ACK, as grpc-go does: the ping that is one too many is still answered.
    if (this.pingPolicy !== undefined && !this.pingPolicy.allowPing(this.streams.size)) {
      this.connectionError(errorEnhanceYourCalm, tooManyPingsDebugData);
    }
  }

  /** True (and the connection ended with ENHANCE_YOUR_CALM) when a control answer would pile up unread. */
  private controlFlood(): boolean {
    if (this.socket.writableLength + this.outputBytes <= controlBacklogBytesMax) return false;
    this.connectionError(errorEnhanceYourCalm, 'control frames flood a client that does not read');
    return true;
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.connectionError(errorFrameSize, 'WINDOW_UPDATE payload not 4 bytes');
      return;
    }
    const increment = payload.readUInt32BE(0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) {
        this.connectionError(errorProtocol, 'WINDOW_UPDATE of 0');
        return;
      }
      this.sendWindow += increment;
      if (this.sendWindow > windowSizeMax) {
        this.connectionError(errorFlowControl, 'connection window above 2^31-1');
        return;
      }
      this.pumpBlocked();
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) this.connectionError(errorProtocol, 'WINDOW_UPDATE on an idle stream');
      return;
    }
    if (increment === 0) {
      this.resetStream(stream, errorProtocol);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > windowSizeMax) {
      this.resetStream(stream, errorFlowControl);
      return;
    }
    this.pump(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (payload.length !== 4) {
      this.connectionError(errorFrameSize, 'RST_STREAM payload not 4 bytes');
      return;
    }
    if (streamId === 0 || streamId > this.lastStreamId) {
      this.connectionError(errorProtocol, 'RST_STREAM on an idle stream');
      return;
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    stream.resetCode = payload.readUInt32BE(0);
    this.forget(stream);
    if (!stream.headersSent && !this.unansweredResets.take()) {
      this.connectionError(errorEnhanceYourCalm, 'too many streams reset before their answer (rapid reset)');
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) {
      this.connectionError(errorProtocol, 'DATA on stream 0');
      return;
    }
    // Flow control counts the whole payload, padding included (§6.9.1).
    this.receiveWindow -= payload.length;
    if (this.receiveWindow < 0) {
      this.connectionError(errorFlowControl, 'the client overran the connection window');
      return;
    }
    this.receiveUnacked += payload.length;
    if (this.receiveUnacked >= connectionReceiveWindowBytes / 4) {
      this.queue(uint32Frame(frameWindowUpdate, 0, this.receiveUnacked));
      this.receiveWindow += this.receiveUnacked;
      this.receiveUnacked = 0;
    }
    let content = payload;
    if (flags & flagPadded) {
      const padBytes = payload[0] ?? 0;
      if (payload.length < 1 || padBytes >= payload.length) {
        this.connectionError(errorProtocol, 'DATA padding exceeds the payload');
        return;
      }
      content = payload.subarray(1, payload.length - padBytes);
    }
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) this.connectionError(errorProtocol, 'DATA on an idle stream');
      // Else a stream we already closed (answered early or reset): its data is dropped.
      return;
    }
    if (stream.remoteEnded) {
      this.resetStream(stream, errorStreamClosed);
      return;
    }
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) {
      this.resetStream(stream, errorFlowControl);
      return;
    }
    // Not copied: every socket read (and every joined remainder) is a buffer of its own that
    // nothing writes to again, so the request may keep a view of it.
    if (content.length > 0) stream.receiveData(content);
    if (flags & flagEndStream) {
      stream.receiveEnd();
      return;
    }
    stream.receiveUnacked += payload.length;
    if (!stream.isPaused && stream.receiveUnacked >= streamReceiveWindowBytes / 2) this.returnStreamWindow(stream);
  }

  /** Gives the client back the window of what the stream has consumed (not while it is paused). */
  returnStreamWindow(stream: H2Stream): void {
    if (stream.receiveUnacked === 0 || stream.closed || stream.remoteEnded) return;
    this.queue(uint32Frame(frameWindowUpdate, stream.id, stream.receiveUnacked));
    stream.receiveWindow += stream.receiveUnacked;
    stream.receiveUnacked = 0;
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0 || streamId % 2 === 0) {
      this.connectionError(errorProtocol, `HEADERS on stream ${streamId}`);
      return;
    }
    let start = 0;
    let end = payload.length;
    if (flags & flagPadded) {
      const padBytes = payload[0] ?? 0;
      start = 1;
      end -= padBytes;
    }
    if (flags & flagPriority) start += 5;
    if (end < start) {
      this.connectionError(errorProtocol, 'HEADERS padding exceeds the payload');
      return;
    }
    const fragment = start === 0 && end === payload.length ? payload : payload.subarray(start, end);
    const endStream = (flags & flagEndStream) !== 0;
    if (flags & flagEndHeaders) {
      this.onHeaderBlock(streamId, endStream, fragment);
      return;
    }
    this.openBlock = { streamId, endStream, fragments: [Buffer.from(fragment)], bytes: fragment.length, charged: frameHeaderBytes + fragment.length };
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.openBlock;
    if (block === undefined || block.streamId !== streamId) {
      this.connectionError(errorProtocol, 'CONTINUATION without HEADERS');
      return;
    }
    if (payload.length > 0) block.fragments.push(Buffer.from(payload));
    block.bytes += payload.length;
    // Each frame counts with its header too: a run of empty CONTINUATION frames must end as well.
    block.charged += frameHeaderBytes + payload.length;
    if (block.charged > this.headerBlockBytesMax) {
      this.connectionError(errorEnhanceYourCalm, `header block above ${this.headerBlockBytesMax} bytes`);
      return;
    }
    if (!(flags & flagEndHeaders)) return;
    this.openBlock = undefined;
    this.onHeaderBlock(streamId, block.endStream, Buffer.concat(block.fragments, block.bytes));
  }

  private onHeaderBlock(streamId: number, endStream: boolean, block: Buffer): void {
    // Decoded whatever becomes of the stream: the HPACK table must follow every block (a repeat of
    // the last block that changed nothing would change nothing again).
    const tableChanges = this.decoder.tableChanges;
    const repeated = tableChanges === this.repeatTableChanges && sameBytes(block, this.repeatBlock!) ? this.repeatHeaders : undefined;
    const fields = repeated === undefined ? this.decoder.decode(block) : undefined;
    this.onStreamHeaders(streamId, endStream, block, tableChanges, repeated, fields);
  }

  /**
   * A HEADERS frame that is a whole header block (no padding, no priority, END_HEADERS) repeating
   * the last one kept (see repeatBlock), found in the read buffer itself: no view of its payload is
   * made. Any other frame, or any state in which a HEADERS frame is an error, takes the full path.
   */
  private isRepeatedHeadersFrame(data: Buffer, payloadStart: number, payloadBytes: number, flags: number, streamId: number): boolean {
    const block = this.repeatBlock;
    return block !== undefined && payloadBytes === block.length && (flags & ~flagEndStream) === flagEndHeaders
      && (streamId & 1) === 1 && this.settingsSeen && this.openBlock === undefined
      && this.decoder.tableChanges === this.repeatTableChanges && sameBytesAt(data, payloadStart, block);
  }

  /**
   * A header block's outcome: the headers of a repeated block, or the decoded `fields` of `block`
   * (the table at `tableChanges` before it was decoded).
   */
  private onStreamHeaders(
    streamId: number, endStream: boolean, block: Buffer | undefined, tableChanges: number,
    repeated: H2RequestHeaders | undefined, fields: HeaderField[] | undefined,
  ): void {
    const existing = this.streams.get(streamId);
    if (existing !== undefined) {
      // Trailers from the client: gRPC sends none, but they must end the stream (§8.1).
      if (existing.remoteEnded) this.resetStream(existing, errorStreamClosed);
      else if (!endStream) this.resetStream(existing, errorProtocol);
      else existing.receiveEnd();
      return;
    }
    if (streamId <= this.lastStreamId) {
      // §5.4.2: frames crossing a RST_STREAM of ours are ignored (trailers after an early answer).
      // Any other old id is closed, or was skipped and so implicitly closed (§5.1.1).
      if (!this.resetBeforeRemoteEnd.has(streamId)) this.connectionError(errorProtocol, `HEADERS on closed stream ${streamId}`);
      return;
    }
    this.lastStreamId = streamId;
    if (this.goingAway) {
      this.refuse(streamId, endStream);
      return;
    }
    if (this.options.maxConcurrentStreams !== undefined && this.streams.size >= this.options.maxConcurrentStreams) {
      this.refuse(streamId, endStream);
      return;
    }
    let headers = repeated;
    if (headers === undefined) {
      headers = requestHeaders(fields!);
      if (headers === undefined) {
        this.queue(uint32Frame(frameRstStream, streamId, errorProtocol));
        if (!endStream) this.rememberReset(streamId);
        return;
      }
      // Once per connection's headers: what it adds (the client certificate's name) is the
      // connection's, the same for every stream.
      this.options.decorateHeaders?.(headers);
      if (this.decoder.tableChanges === tableChanges) {
        this.repeatBlock = Buffer.from(block!);
        this.repeatTableChanges = tableChanges;
        this.repeatHeaders = Object.freeze(headers);
      }
    }
    const stream = new H2Stream(streamId, headers, this, this.peerInitialWindow, streamReceiveWindowBytes);
    this.streams.set(streamId, stream);
    // Known before onStream: an answer given at once then closes the stream without a reset.
    if (endStream) stream.remoteEnded = true;
    this.options.onStream(stream);
    if (endStream && !stream.closed) stream.receiveEnd();
  }

  private refuse(streamId: number, endStream: boolean): void {
    this.queue(uint32Frame(frameRstStream, streamId, errorRefusedStream));
    if (!endStream) this.rememberReset(streamId);
  }

  /** Bounded: a client has long stopped sending on a stream reset this many streams ago. */
  private rememberReset(streamId: number): void {
    this.resetBeforeRemoteEnd.add(streamId);
    if (this.resetBeforeRemoteEnd.size > resetStreamsRemembered) {
      const oldest = this.resetBeforeRemoteEnd.values().next().value as number;
      this.resetBeforeRemoteEnd.delete(oldest);
    }
  }

  // ---- writing ----

  /** `block`, after a table size update to 0 when one is owed. */
  private withTableSizeUpdate(block: Buffer): Buffer {
    if (!this.tableSizeUpdateOwed) return block;
    this.tableSizeUpdateOwed = false;
    return Buffer.concat([tableSizeUpdateToZero, block]);
  }

  /** A header block as HEADERS (and CONTINUATION when it exceeds the client's frame size). */
  sendHeaderBlock(streamId: number, headerBlock: Buffer, endStream: boolean): void {
    this.pingPolicy?.noteResponseWritten();
    const block = this.withTableSizeUpdate(headerBlock);
    if (block.length <= this.peerMaxFrameSize) {
      const bytes = Buffer.allocUnsafe(frameHeaderBytes + block.length);
      headersFrameHeader(bytes, 0, streamId, block.length, endStream);
      block.copy(bytes, frameHeaderBytes);
      this.queue(bytes);
      return;
    }
    let offset = 0;
    while (offset < block.length) {
      const size = Math.min(this.peerMaxFrameSize, block.length - offset);
      const first = offset === 0;
      const last = offset + size === block.length;
      const header = Buffer.allocUnsafe(frameHeaderBytes);
      const flags = (last ? flagEndHeaders : 0) | (first && endStream ? flagEndStream : 0);
      writeFrameHeader(header, 0, size, first ? frameHeaders : frameContinuation, flags, streamId);
      this.queue(header);
      this.queue(block.subarray(offset, offset + size));
      offset += size;
    }
  }

  /**
   * A whole unary gRPC answer in one buffer: headers, the message with its 5-byte gRPC prefix in
   * one DATA frame, trailers. False (nothing sent) when the windows or frame size do not allow it.
   */
  trySendGrpcUnary(stream: H2Stream, responseHeaderBlock: Buffer, message: Buffer, trailerBlock: Buffer): boolean {
    const dataBytes = 5 + message.length;
    if (this.backlogBytes > socketBacklogBytesMax) return false;
    if (dataBytes > stream.sendWindow || dataBytes > this.sendWindow || dataBytes > this.peerMaxFrameSize ||
      responseHeaderBlock.length + 1 > this.peerMaxFrameSize || trailerBlock.length > this.peerMaxFrameSize) return false;
    const headerBlock = this.withTableSizeUpdate(responseHeaderBlock);
    const bytes = Buffer.allocUnsafe(3 * frameHeaderBytes + headerBlock.length + dataBytes + trailerBlock.length);
    let offset = 0;
    headersFrameHeader(bytes, offset, stream.id, headerBlock.length, false);
    offset += frameHeaderBytes;
    // TypedArray set rather than Buffer's copy(), which checks its arguments in JS first.
    bytes.set(headerBlock, offset);
    offset += headerBlock.length;
    writeFrameHeader(bytes, offset, dataBytes, frameData, 0, stream.id);
    offset += frameHeaderBytes;
    bytes[offset] = 0;
    bytes.writeUInt32BE(message.length, offset + 1);
    offset += 5;
    bytes.set(message, offset);
    offset += message.length;
    headersFrameHeader(bytes, offset, stream.id, trailerBlock.length, true);
    offset += frameHeaderBytes;
    bytes.set(trailerBlock, offset);
    stream.sendWindow -= dataBytes;
    this.sendWindow -= dataBytes;
    this.queue(bytes);
    this.pingPolicy?.noteResponseWritten();
    return true;
  }

  /** Written but not yet taken by the socket, ours and the socket's. */
  private get backlogBytes(): number {
    return this.socket.writableLength + this.outputBytes;
  }

  /** Sends what the windows allow of the stream's queued data, then its trailers when all is out. */
  pump(stream: H2Stream): void {
    if (stream.closed || stream.localEnded || !stream.headersSent) return;
    if (stream.outboundBytes > 0 && this.backlogBytes > socketBacklogBytesMax) {
      // The client is not reading: the data waits in the stream until the socket drains.
      this.blocked.add(stream);
      return;
    }
    while (stream.outboundBytes > 0) {
      const allowed = Math.min(stream.sendWindow, this.sendWindow, this.peerMaxFrameSize, stream.outboundBytes);
      if (allowed <= 0) break;
      const parts = stream.takeOutbound(allowed);
      stream.sendWindow -= allowed;
      this.sendWindow -= allowed;
      const endsHere = stream.outboundBytes === 0 && stream.takeTrailersIfDue() === null;
      this.queue(dataFrameHeader(stream.id, allowed, endsHere));
      this.pingPolicy?.noteResponseWritten();
      for (const part of parts) this.queue(part);
      if (endsHere) {
        this.blocked.delete(stream);
        stream.endedLocally();
        return;
      }
    }
    if (stream.outboundBytes > 0) {
      this.blocked.add(stream);
      return;
    }
    this.blocked.delete(stream);
    const trailers = stream.takeTrailersIfDue();
    if (trailers === null) {
      this.queue(frame(frameData, flagEndStream, stream.id));
      stream.endedLocally();
    } else if (trailers !== undefined) {
      this.sendHeaderBlock(stream.id, trailers, true);
      stream.endedLocally();
    } else {
      stream.afterSent();
    }
  }

  private pumpBlocked(): void {
    for (const stream of [...this.blocked]) {
      if (this.sendWindow <= 0 || this.backlogBytes > socketBacklogBytesMax) return;
      this.pump(stream);
      stream.afterSent();
    }
  }

  /** The stream ended on our side; with `resetRemote`, the client had not finished its request: ask it to stop. */
  closeStream(stream: H2Stream, resetRemote: boolean): void {
    if (stream.closed) return;
    if (resetRemote) {
      this.queue(uint32Frame(frameRstStream, stream.id, errorNoError));
      this.rememberReset(stream.id);
    }
    this.forget(stream);
  }

  resetStream(stream: H2Stream, code: number): void {
    if (stream.closed) return;
    this.queue(uint32Frame(frameRstStream, stream.id, code));
    if (!stream.remoteEnded) this.rememberReset(stream.id);
    this.forget(stream);
  }

  private resetById(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    if (stream !== undefined) this.resetStream(stream, code);
    else this.queue(uint32Frame(frameRstStream, streamId, code));
  }

  private forget(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    stream.closedByConnection();
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  }

  private connectionError(code: number, reason: string): void {
    this.options.logger.debug({ reason, code }, 'closing a client HTTP/2 connection on a protocol error');
    this.goingAway = true;
    this.queue(goawayFrame(this.lastStreamId, code, reason));
    this.closeAllStreams();
    this.endSocket();
  }

  private endSocket(): void {
    this.flush();
    if (!this.socket.writableEnded) this.socket.end();
    // A client that never closes its side is dropped shortly after.
    this.endTimer ??= setTimeout(() => this.socket.destroy(), gracefulCloseMsDefault);
    this.endTimer.unref();
  }

  private closeAllStreams(): void {
    if (this.closedAll) return;
    this.closedAll = true;
    this.pinger?.stop();
    if (this.socket.destroyed) {
      clearTimeout(this.endTimer);
      clearTimeout(this.graceTimer);
    }
    const open = this.streams.valuesSnapshot();
    this.streams.clear();
    this.blocked.clear();
    for (const stream of open) stream.closedByConnection();
    this.options.onClose?.();
  }

  private queue(bytes: Buffer): void {
    this.output.push(bytes);
    this.outputBytes += bytes.length;
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the current run of code and its microtasks: the answers settled together go out in one write.
    process.nextTick(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const output = this.output;
    if (output.length === 0) return;
    const bytes = output.length === 1 ? output[0]! : Buffer.concat(output, this.outputBytes);
    output.length = 0;
    this.outputBytes = 0;
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(bytes);
    if (!this.readPaused && this.socket.writableLength > socketBacklogBytesMax) {
      this.readPaused = true;
      this.socket.pause();
    }
    // Streams held back while our own output was large move on once the socket has taken it.
    if (this.blocked.size > 0 && this.backlogBytes <= socketBacklogBytesMax) process.nextTick(() => this.pumpBlocked());
  }
}

const performanceNow = (): number => performance.now();

/** RFC 7541 §6.3: dynamic table size update (001xxxxx) to 0. */
const tableSizeUpdateToZero = Buffer.from([0x20]);

function goawayFrame(lastStreamId: number, code: number, debug = ''): Buffer {
  const payload = Buffer.allocUnsafe(8 + Buffer.byteLength(debug));
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  payload.write(debug, 8, 'latin1');
  return frame(frameGoaway, 0, 0, payload);
}

/**
 * Fields found valid (§8.2.1 characters, not connection-specific, `te` only "trailers"). A field
 * from an HPACK table index is the same object each time (hpack-decoder.ts), so a connection's
 * repeated headers are checked once, not on every request.
 */
const validFields = new WeakSet<HeaderField>();

function isValidRegularField(field: HeaderField): boolean {
  if (validFields.has(field)) return true;
  const { name, value } = field;
  if (name.length === 0 || invalidNamePattern.test(name) || invalidValuePattern.test(value) || connectionSpecificHeaders.has(name)) return false;
  if (name === 'te' && value !== 'trailers') return false;
  validFields.add(field);
  return true;
}

/** A header block that is the same bytes as the one kept (see H2Connection.repeatBlock). */
function sameBytes(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether `data` holds `block`'s bytes from `start` on. */
function sameBytesAt(data: Buffer, start: number, block: Buffer): boolean {
  if (start + block.length > data.length) return false;
  for (let i = 0; i < block.length; i++) if (data[start + i] !== block[i]) return false;
  return true;
}

/**
 * The request's header fields as an object, or undefined for a malformed request (§8.1.1): a name
 * that is not a lower-case token or is connection-specific, a value with NUL, CR, LF or outer
 * whitespace, a pseudo-header after a regular one or unknown or repeated, a `te` other than
 * "trailers", no :method or :path. A plain object (its shape is the same request after request):
 * a header named like an Object.prototype member is not read by anything here.
 */
function requestHeaders(fields: readonly HeaderField[]): H2RequestHeaders | undefined {
  const headers: H2RequestHeaders = {};
  let regularSeen = false;
  for (const field of fields) {
    const name = field.name;
    if (name.charCodeAt(0) === 0x3a /* ':' */) {
      if (regularSeen || Object.hasOwn(headers, name)) return undefined;
      if (name !== ':method' && name !== ':path' && name !== ':scheme' && name !== ':authority') return undefined;
      if (!validFields.has(field)) {
        if (invalidValuePattern.test(field.value)) return undefined;
        validFields.add(field);
      }
      headers[name] = field.value;
      continue;
    }
    regularSeen = true;
    if (!isValidRegularField(field)) return undefined;
    const previous = Object.hasOwn(headers, name) ? headers[name] : undefined;
    headers[name] = previous === undefined ? field.value : `${previous}, ${field.value}`;
  }
  if (headers[':method'] === undefined || headers[':path'] === undefined) return undefined;
  return headers;
}
