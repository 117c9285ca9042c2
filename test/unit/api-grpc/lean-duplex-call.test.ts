// LeanDuplexCall's batching of responses, on a real H2Stream of a real H2Connection whose client is
// played byte by byte (test/unit/h2/server-frames.ts): what a handler writes in one tick reaches
// the stream as one write (one DATA frame on the wire), after the response headers and before any
// status; write() reports a full buffer as grpc-js does, and a 'drain' always follows a write that
// returned false. The client's flow-control window is what fills the stream's buffer.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LeanDuplexCall } from '../../../src/api/grpc/lean-duplex-call.js';
import {
  clientPreface, errorNoError, flagEndStream, frameData, frameHeaders, frameRstStream, settingInitialWindowSize,
} from '../../../src/api/h2/frame-types.js';
import { H2Connection } from '../../../src/api/h2/h2-connection.js';
import { streamWritableHighWaterMark, type H2Stream } from '../../../src/api/h2/h2-stream.js';
import {
  decodeHeaderBlocks, grpcMessages, MemorySocket, requestHeadersFrame, settingsFrame, windowUpdateFrame, type ReceivedFrame,
} from '../h2/server-frames.js';

const logger = pino({ level: 'silent' });
const method = { path: '/etcdserverpb.Watch/Watch', deserialize: (bytes: Buffer) => bytes, serialize: (value: unknown) => value as Buffer };
const connections: H2Connection[] = [];

afterEach(() => {
  for (const connection of connections.splice(0)) connection.destroy();
});

interface OpenCall {
  call: LeanDuplexCall;
  stream: H2Stream;
  socket: MemorySocket;
  /** Every write the call made to its H2Stream, in order. */
  streamWrites: Buffer[];
  /** What the server sent on the call's stream (1). */
  streamFrames(): ReceivedFrame[];
  /** The DATA the server sent on it, concatenated. */
  dataSent(): Buffer;
}

/**
 * A Watch-like bidi call open on stream 1 (the client has not half-closed). `streamWindow` is the
 * client's SETTINGS_INITIAL_WINDOW_SIZE: 0 keeps every response waiting in the stream until the
 * client sends a WINDOW_UPDATE. The connection's window is opened wide, so only the stream's limits.
 */
function openCall(options: { streamWindow?: number } = {}): OpenCall {
  const socket = new MemorySocket();
  let opened: { call: LeanDuplexCall; stream: H2Stream } | undefined;
  const streamWrites: Buffer[] = [];
  const connection = new H2Connection(socket, {
    logger,
    onStream: (stream) => {
      const write = stream.write.bind(stream);
      stream.write = (data: Buffer) => {
        streamWrites.push(Buffer.from(data));
        return write(data);
      };
      const call = new LeanDuplexCall(stream, stream.headers, method, 1 << 20);
      call.start();
      opened = { call, stream };
    },
  });
  connections.push(connection);
  const settings = options.streamWindow === undefined ? [] : [[settingInitialWindowSize, options.streamWindow] as const];
  connection.start(Buffer.concat([
    clientPreface,
    settingsFrame(settings),
    windowUpdateFrame(0, 16 << 20),
    requestHeadersFrame(1, {
      ':method': 'POST', ':scheme': 'http', ':path': method.path, ':authority': '127.0.0.1', 'content-type': 'application/grpc', te: 'trailers',
    }, false),
  ]));
  if (opened === undefined) throw new Error('the connection opened no stream');
  const streamFrames = () => socket.frames().filter((received) => received.streamId === 1);
  return {
    ...opened,
    socket,
    streamWrites,
    streamFrames,
    dataSent: () => Buffer.concat(streamFrames().filter((received) => received.type === frameData).map((received) => received.payload)),
  };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Large buffers compared at once (toEqual walks them byte by byte). */
function expectSameBytes(actual: Buffer, expected: Buffer): void {
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
}

describe('LeanDuplexCall on an H2Stream', () => {
  it('responses written in one tick go out as one write of length-prefixed messages, headers first', async () => {
    const { call, streamWrites, streamFrames } = openCall();
    const messages = [Buffer.from('one'), Buffer.from('two'), Buffer.from('three')];
    for (const message of messages) expect(call.write(message)).toBe(true);
    expect(streamWrites).toHaveLength(0);
    await tick();
    expect(streamWrites).toEqual([grpcMessages(...messages)]);
    let sent = streamFrames();
    expect(sent.map((received) => received.type)).toEqual([frameHeaders, frameData]);
    expect(decodeHeaderBlocks(sent)).toEqual([{
      ':status': '200', 'content-type': 'application/grpc+proto', 'grpc-accept-encoding': 'identity,deflate,gzip', 'grpc-encoding': 'identity',
    }]);
    expect(sent[1]!.payload).toEqual(grpcMessages(...messages));
    expect(sent[1]!.flags & flagEndStream).toBe(0);

    expect(call.write(Buffer.from('four'))).toBe(true);
    await tick();
    expect(streamWrites).toHaveLength(2);
    sent = streamFrames();
    // The headers went out once, with the first batch.
    expect(sent.map((received) => received.type)).toEqual([frameHeaders, frameData, frameData]);
    expect(sent[2]!.payload).toEqual(grpcMessages(Buffer.from('four')));
  });

  it('a batch after a larger one carries only its own responses; one written while a batch goes out joins the next', async () => {
    const { call, stream, streamWrites } = openCall();
    const round = (name: string, count: number) => Array.from({ length: count }, (_, i) => Buffer.from(`${name}${i}`));
    const rounds = [round('a', 5), round('b', 1), round('c', 3)];
    for (const messages of rounds) {
      for (const message of messages) expect(call.write(message)).toBe(true);
      await tick();
    }
    expect(streamWrites).toEqual(rounds.map((messages) => grpcMessages(...messages)));

    // A handler may write from inside the stream's write (a 'drain' listener does).
    const write = stream.write.bind(stream);
    let wroteDuring = false;
    stream.write = (data: Buffer) => {
      const accepted = write(data);
      if (!wroteDuring) {
        wroteDuring = true;
        call.write(Buffer.from('during'));
      }
      return accepted;
    };
    call.write(Buffer.from('before'));
    await tick();
    await tick();
    expect(streamWrites.slice(3)).toEqual([grpcMessages(Buffer.from('before')), grpcMessages(Buffer.from('during'))]);
  });

  it('responses encoded into the frame (writeEncoded) go out in order with written ones, as the same bytes', async () => {
    const { call, streamWrites } = openCall();
    // The encoder writes the value's text after its aux's: what an encoded Buffer of it would hold.
    call.setFrameEncoder((value, aux, frame, offset) => offset + frame.write(`${aux as string}${value as string}`, offset, 'latin1'));
    expect(call.write(Buffer.from('one'))).toBe(true);
    expect(call.writeEncoded('two', '>', 4)).toBe(true);
    expect(call.write(Buffer.from('three'))).toBe(true);
    expect(call.writeEncoded('four', '>>', 6)).toBe(true);
    await tick();
    expect(streamWrites).toEqual([grpcMessages(Buffer.from('one'), Buffer.from('>two'), Buffer.from('three'), Buffer.from('>>four'))]);
  });

  it('an encoder that writes another length than declared ends the stream instead of sending it', async () => {
    const { call, streamWrites, streamFrames } = openCall();
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    call.setFrameEncoder((value, _aux, frame, offset) => offset + frame.write(value as string, offset, 'latin1'));
    expect(call.writeEncoded('shorter', 'x', 10)).toBe(true);
    await tick();
    expect(cancelled).toBe(true);
    expect(streamWrites).toHaveLength(0);
    expect(streamFrames().map((received) => received.type)).toEqual([frameRstStream]);
    expect(call.write(Buffer.from('after'))).toBe(false);
  });

  it('the status goes out after the responses written before it', async () => {
    const { call, streamFrames } = openCall();
    expect(call.write(Buffer.from('last words'))).toBe(true);
    call.end();
    await tick();
    const sent = streamFrames();
    expect(sent.map((received) => received.type)).toEqual([frameHeaders, frameData, frameHeaders, frameRstStream]);
    expect(sent[1]!.payload).toEqual(grpcMessages(Buffer.from('last words')));
    expect(sent[2]!.flags & flagEndStream).toBe(flagEndStream);
    expect(decodeHeaderBlocks(sent)[1]).toEqual({ 'grpc-status': '0', 'grpc-message': 'OK' });
    // The client had not half-closed: the server's end asks it to stop sending (RFC 9113 §8.1).
    expect(sent[3]!.payload.readUInt32BE(0)).toBe(errorNoError);
  });

  it('a call ended before any response answers with trailers only', async () => {
    const { call, streamFrames } = openCall();
    call.emit('error', { code: 9, details: 'etcdserver: no leader here' });
    await tick();
    const sent = streamFrames().filter((received) => received.type !== frameRstStream);
    expect(sent.map((received) => [received.type, received.flags & flagEndStream])).toEqual([[frameHeaders, flagEndStream]]);
    expect(decodeHeaderBlocks(sent)).toEqual([{
      ':status': '200', 'content-type': 'application/grpc+proto', 'grpc-status': '9', 'grpc-message': 'etcdserver:%20no%20leader%20here',
    }]);
  });

  it('a write that fills the buffer returns false, and a drain follows once the stream takes more', async () => {
    const { call, stream, socket, dataSent } = openCall({ streamWindow: 0 });
    let drains = 0;
    call.on('drain', () => drains++);
    const first = Buffer.alloc(40 * 1024, 1);
    const second = Buffer.alloc(30 * 1024, 2);
    expect(call.write(first)).toBe(true);
    // 40 KiB + 30 KiB (and their prefixes) reach the stream's 64 KiB mark.
    expect(call.write(second)).toBe(false);
    await tick();
    // The batch is in the stream, held by the client's closed window.
    expect(stream.writableLength).toBe(grpcMessages(first, second).length);
    expect(stream.writableLength).toBeGreaterThanOrEqual(streamWritableHighWaterMark);
    expect(dataSent()).toHaveLength(0);
    expect(drains).toBe(0);

    socket.receive(windowUpdateFrame(1, 1 << 20));
    await tick();
    expectSameBytes(dataSent(), grpcMessages(first, second));
    expect(stream.writableLength).toBe(0);
    expect(drains).toBe(1);
    expect(call.write(Buffer.from('more'))).toBe(true);
    await tick();
    expect(drains).toBe(1);
  });

  it('a write refused while batching gets its drain even when the stream took the batch', async () => {
    const { call, stream, socket, dataSent } = openCall({ streamWindow: 0 });
    let drains = 0;
    call.on('drain', () => drains++);
    const first = Buffer.alloc(60 * 1024, 1);
    const second = Buffer.alloc(10 * 1024, 2);
    expect(call.write(first)).toBe(true);
    await tick();
    expect(stream.writableLength).toBe(grpcMessages(first).length); // not yet sent: the window is closed
    // With what the stream holds, this batch would pass the 64 KiB mark.
    expect(call.write(second)).toBe(false);
    // The client opens its window before the batch reaches the stream: the stream sends all it holds.
    socket.receive(windowUpdateFrame(1, 1 << 20));
    expect(stream.writableLength).toBe(0);
    await tick();
    // The stream took the batch without refusing it, so it owes no drain: the call emits it.
    expectSameBytes(dataSent(), grpcMessages(first, second));
    expect(drains).toBe(1);
    await tick();
    expect(drains).toBe(1);
  });
});
