// H2Connection (src/api/h2/h2-connection.ts) against RFC 9113, on real sockets (a net server on
// 127.0.0.1:0) and on linkedDuplexPair(): node:http2 clients for end-to-end behaviour (large bodies
// both ways under flow control, 200 concurrent streams, graceful close), and a raw client writing
// hand-built frames for the edge cases: the server preface, padding, PRIORITY, CONTINUATION, frames
// cut at any byte, both directions' flow control, connection and stream errors with their codes,
// malformed requests, refused streams and GOAWAY. Comments marked `Found here:` name requirements
// H2Connection missed when this file was written; each is fixed and the test keeps it so.
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  clientPreface, errorCancel, errorCompression, errorEnhanceYourCalm, errorFlowControl, errorFrameSize, errorNoError, errorProtocol,
  errorRefusedStream, errorStreamClosed, flagAck, flagEndHeaders, flagEndStream, frame, frameContinuation, frameData, frameGoaway,
  frameHeaders, framePing, framePriority, framePushPromise, frameRstStream, frameSettings, frameWindowUpdate, settingEnablePush,
  settingHeaderTableSize, settingInitialWindowSize, settingMaxConcurrentStreams, settingMaxFrameSize,
} from '../../../src/api/h2/frame-types.js';
import {
  connectionReceiveWindowBytes, controlBacklogBytesMax, streamReceiveWindowBytes, unansweredResetBurst, unansweredResetsPerSecond,
} from '../../../src/api/h2/h2-connection.js';
import type { H2RequestHeaders, H2Stream, H2StreamReceiver } from '../../../src/api/h2/h2-stream.js';
import {
  answerAfterBody, clientHandshake, continuationFrame, dataFrame, echoStream, fieldsBlock, goawayFrameOf, headersFrame, linkedConnection,
  okHeaders, okTrailers, parseSettings, patternBytes, pingFrame, RawClient, requestFields, rstStreamFrame, settingsAckFrame, settingsFrame,
  sleep, splitAt, startServer, windowUpdateFrame, type Fields, type ServerFrame, type ServerOptions,
} from './h2-test-peer.js';
import { lockConnection, statusConnection } from '../listener/http2-test-bytes.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface RawSetupOptions extends Partial<ServerOptions> {
  /** The client's SETTINGS in its preface. */
  clientSettings?: Array<[number, number]>;
  /** Send the preface and SETTINGS and wait for the server's ACK (default true). */
  handshake?: boolean;
}

/** A server with `options` and one raw client connected to it (handshake done unless told not to). */
async function rawSetup(options: RawSetupOptions = {}) {
  const { clientSettings, handshake = true, ...serverOptions } = options;
  const server = await startServer({ onStream: echoStream, ...serverOptions });
  cleanups.push(() => server.close());
  const client = await RawClient.connect(server.port);
  cleanups.push(() => client.destroy());
  if (handshake) {
    client.send(clientHandshake(clientSettings));
    await client.waitForFrame(isSettingsAck, 'the SETTINGS ACK');
  }
  await waitFor(() => server.connections.length === 1, 'the server connection');
  return { server, client, connection: server.connections[0]! };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const isSettingsAck = (f: ServerFrame) => f.type === frameSettings && (f.flags & flagAck) !== 0;

/** Streams the server took, kept for the test to drive: each collects its body, none answers by itself. */
function streamRecorder(answerPaths: string[] = ['/echo']) {
  const taken: Array<{ stream: H2Stream; body: Buffer[]; ended: boolean; closed: boolean }> = [];
  const onStream = (stream: H2Stream): void => {
    if (answerPaths.includes(stream.headers[':path'] ?? '')) {
      echoStream(stream);
      return;
    }
    const record = { stream, body: [] as Buffer[], ended: false, closed: false };
    taken.push(record);
    stream.onclose = () => {
      record.closed = true;
    };
    stream.attach((chunk) => record.body.push(chunk), () => {
      record.ended = true;
    });
  };
  return { taken, onStream };
}

/** Answers `/big/<bytes>/<seed>` with that many pattern bytes, any other path as echoStream. */
const bigStream = (stream: H2Stream): void => {
  const match = /^\/big\/(\d+)(?:\/(\d+))?$/.exec(stream.headers[':path'] ?? '');
  if (match === null) {
    echoStream(stream);
    return;
  }
  answerAfterBody(() => ({ data: [patternBytes(Number(match[1]), Number(match[2] ?? 1))] }))(stream);
};

/** Sends a request on `streamId` and checks that the echo comes back: the connection still serves. */
async function expectServing(client: RawClient, streamId: number, body = `still serving ${streamId}`): Promise<void> {
  client.send(headersFrame(streamId, requestFields('/echo')), dataFrame(streamId, body, { endStream: true }));
  const response = await client.waitForResponse(streamId);
  expect(response.headers?.[':status']).toBe('200');
  expect(response.data.toString()).toBe(body);
  expect(response.trailers).toMatchObject({ 'grpc-status': '0' });
}

async function expectConnectionError(client: RawClient, code: number, lastStreamId?: number, timeoutMs = 3000): Promise<void> {
  const goaway = await client.waitForGoaway(timeoutMs);
  expect({ code: goaway.code, debug: goaway.debug }).toMatchObject({ code });
  if (lastStreamId !== undefined) expect(goaway.lastStreamId).toBe(lastStreamId);
  // §5.4.1: after GOAWAY for a connection error, the connection is closed.
  await client.waitClosed();
}

// ---- node:http2 clients ----

async function nodeSession(port: number, settings: http2.Settings = {}): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`, { settings });
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no server SETTINGS')), 3000);
    session.once('remoteSettings', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return session;
}

interface NodeResponse {
  headers: http2.IncomingHttpHeaders;
  data: Buffer;
  trailers?: http2.IncomingHttpHeaders;
  rstCode?: number;
}

function nodeRequest(
  session: http2.ClientHttp2Session, path: string,
  options: { body?: Buffer | string; headers?: http2.OutgoingHttpHeaders; keepOpen?: boolean; timeoutMs?: number } = {},
): { request: http2.ClientHttp2Stream; response: Promise<NodeResponse> } {
  const request = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', ...options.headers });
  const response = new Promise<NodeResponse>((resolve, reject) => {
    let headers: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      request.close();
      reject(new Error(`no response on ${path} in time`));
    }, options.timeoutMs ?? 10_000);
    request.on('response', (received) => {
      headers = received;
    });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('trailers', (received) => {
      trailers = received;
    });
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on('close', () => {
      clearTimeout(timer);
      if (headers === undefined) reject(new Error(`stream on ${path} closed without a response (rstCode ${request.rstCode})`));
      else resolve({ headers, data: Buffer.concat(chunks), trailers, rstCode: request.rstCode });
    });
  });
  if (options.keepOpen) {
    if (options.body !== undefined) request.write(options.body);
  } else {
    request.end(options.body);
  }
  return { request, response };
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

// =====================================================================================

/**
 * A WINDOW_UPDATE of `increment` on an open stream is answered with RST_STREAM `code`; the stream's
 * onclose runs and the connection goes on serving. Returns the client, still connected.
 */
async function expectStreamWindowUpdateReset(increment: number, code: number): Promise<RawClient> {
  const recorder = streamRecorder();
  const { client } = await rawSetup({ onStream: recorder.onStream });
  client.send(headersFrame(1, requestFields('/hold')));
  await waitFor(() => recorder.taken.length === 1, 'stream 1');
  client.send(windowUpdateFrame(1, increment));
  expect(await client.waitForRst(1)).toBe(code);
  await waitFor(() => recorder.taken[0]!.closed, 'onclose');
  await expectServing(client, 3);
  return client;
}

describe('the connection preface (§3.4)', () => {
  it('sends SETTINGS first (INITIAL_WINDOW_SIZE, ENABLE_PUSH 0) and a connection WINDOW_UPDATE, and ACKs every client SETTINGS', async () => {
    const { client } = await rawSetup({ handshake: false });
    // The server's preface does not wait for the client's.
    await client.waitUntil(() => client.frames.length >= 2, 'the server preface');
    const [settings, windowUpdate] = client.frames;
    expect(settings).toMatchObject({ type: frameSettings, flags: 0, streamId: 0 });
    expect(settings!.payload.length % 6).toBe(0);
    expect(parseSettings(settings!.payload)).toEqual(new Map([[settingInitialWindowSize, streamReceiveWindowBytes], [settingEnablePush, 0]]));
    expect(windowUpdate).toMatchObject({ type: frameWindowUpdate, flags: 0, streamId: 0 });
    expect(windowUpdate!.payload.length).toBe(4);
    expect(windowUpdate!.payload.readUInt32BE(0)).toBe(connectionReceiveWindowBytes - 65_535);

    client.send(clientHandshake([[settingMaxFrameSize, 16_384], [0x99, 7]]));
    const ack = await client.waitForFrame(isSettingsAck, 'the SETTINGS ACK');
    expect(ack).toMatchObject({ streamId: 0, flags: flagAck });
    expect(ack.payload.length).toBe(0);
    // The client's ACK of our SETTINGS gets nothing back; a second SETTINGS gets a second ACK.
    client.send(settingsAckFrame(), settingsFrame([[settingInitialWindowSize, 100_000]]), settingsFrame([]));
    await client.waitUntil(() => client.count(isSettingsAck) === 3, 'three ACKs');
    await sleep(50);
    expect(client.frames.map((f) => f.type)).toEqual([frameSettings, frameWindowUpdate, frameSettings, frameSettings, frameSettings]);
    await expectServing(client, 1);
  });

  it('announces SETTINGS_MAX_CONCURRENT_STREAMS when the option is set', async () => {
    const { client } = await rawSetup({ maxConcurrentStreams: 5 });
    expect(parseSettings(client.frames[0]!.payload).get(settingMaxConcurrentStreams)).toBe(5);
    expect(parseSettings(client.frames[0]!.payload).get(settingEnablePush)).toBe(0);
  });

  it.each([
    ['a mangled preface', Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1')],
    ['an HTTP/1.1 request', Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', 'latin1')],
  ])('answers %s with GOAWAY PROTOCOL_ERROR and closes', async (_name, bytes) => {
    const { client } = await rawSetup({ handshake: false });
    client.send(bytes);
    await expectConnectionError(client, errorProtocol, 0);
  });

  it.each([
    ['PING', pingFrame(Buffer.alloc(8))],
    ['HEADERS', headersFrame(1, requestFields('/echo'), { endStream: true })],
    ['WINDOW_UPDATE', windowUpdateFrame(0, 100)],
  ])('answers a first frame %s (not SETTINGS) with GOAWAY PROTOCOL_ERROR', async (_name, first) => {
    const { client } = await rawSetup({ handshake: false });
    client.send(clientPreface, first);
    await expectConnectionError(client, errorProtocol, 0);
  });
});

describe('request framing', () => {
  it('a repeated header block of table indexes is read once while the table stays as it was, and again once it changed', async () => {
    // H2Connection keeps the headers of the last block that left the HPACK table unchanged and
    // reuses them for the same bytes (gRPC clients send identical blocks). The same bytes mean other
    // headers once a block has changed the table: they must be decoded again.
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    const literal = (nameIndex: number, value: string) => Buffer.from([0x40 | nameIndex, value.length, ...Buffer.from(value)]);
    const newLiteral = (name: string, value: string) => Buffer.from([0x40, name.length, ...Buffer.from(name), value.length, ...Buffer.from(value)]);
    const post = Buffer.from([0x83, 0x86]); // :method POST, :scheme http (static table)
    // Inserts `:path /t` and then `x-v 1`: the dynamic table holds 62 x-v 1, 63 :path /t.
    const inserting = Buffer.concat([post, literal(4, '/t'), newLiteral('x-v', '1')]);
    const indexesOnly = Buffer.concat([post, Buffer.from([0x80 | 63, 0x80 | 62])]);
    const ended = (n: number) => () => recorder.taken.length >= n && recorder.taken.slice(0, n).every((t) => t.ended);
    client.send(headersFrame(1, inserting, { endStream: true }), headersFrame(3, indexesOnly, { endStream: true }), headersFrame(5, indexesOnly, { endStream: true }));
    await waitFor(ended(3), 'three requests');
    const [first, second, third] = recorder.taken.map((t) => t.stream.headers);
    for (const headers of [first, second, third]) expect(headers).toEqual({ ':method': 'POST', ':scheme': 'http', ':path': '/t', 'x-v': '1' });
    expect(third).toBe(second);
    expect(Object.isFrozen(third)).toBe(true);

    // Inserts `x-v 2` as 62: now 63 is `x-v 1` and the same index-only bytes carry no :path at all.
    client.send(headersFrame(7, Buffer.concat([post, Buffer.from([0x80 | 63]), newLiteral('x-v', '2')]), { endStream: true }));
    await waitFor(ended(4), 'the fourth request');
    expect(recorder.taken[3]!.stream.headers).toEqual({ ':method': 'POST', ':scheme': 'http', ':path': '/t', 'x-v': '2' });
    client.send(headersFrame(9, indexesOnly, { endStream: true }));
    const reset = await client.waitForFrame((f) => f.type === frameRstStream && f.streamId === 9, 'the reset of a request without :path');
    expect(reset.payload.readUInt32BE(0)).toBe(errorProtocol);
    expect(recorder.taken).toHaveLength(4);
    await expectServing(client, 11);
  });

  it('a repeated header block reads the same whether padded, with priority, split or whole', async () => {
    // A whole repeated block is matched in the read buffer itself (isRepeatedHeadersFrame); padded,
    // prioritized and split ones take the full path. All must yield the same headers.
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    const block = fieldsBlock(requestFields('/r', [['x-k', 'v']]));
    const ended = (n: number) => () => recorder.taken.length >= n && recorder.taken.slice(0, n).every((t) => t.ended);
    client.send(
      headersFrame(1, block, { endStream: true }),
      headersFrame(3, block, { endStream: true }),
      headersFrame(5, block, { endStream: true, padLength: 4 }),
      headersFrame(7, block, { endStream: true, dependsOn: 0 }),
      headersFrame(9, block.subarray(0, 3), { endStream: true, endHeaders: false }),
      continuationFrame(9, block.subarray(3), true),
      headersFrame(11, block, { endStream: true }),
    );
    await waitFor(ended(6), 'six requests');
    const headers = recorder.taken.map((t) => t.stream.headers);
    for (const h of headers) expect(h).toEqual(headers[0]);
    expect(headers[0]![':path']).toBe('/r');
    expect(headers[0]!['x-k']).toBe('v');
    // A repeat on an even stream id is still the protocol error it always was.
    client.send(headersFrame(12, block, { endStream: true }));
    await expectConnectionError(client, errorProtocol);
  });

  it('a receiver object attached late gets the data, the end and the close, in order', async () => {
    // H2StreamReceiver (the lean path's unary call) in place of the three callbacks: what arrived
    // before it was attached is delivered first, and a reset stream reports its close.
    const events: string[] = [];
    const streams: H2Stream[] = [];
    const receiver = (id: number): H2StreamReceiver => ({
      streamData: (chunk) => events.push(`${id} data ${chunk.toString()}`),
      streamEnd: () => events.push(`${id} end`),
      streamClosed: () => events.push(`${id} closed`),
    });
    const { client } = await rawSetup({ onStream: (stream) => void streams.push(stream) });
    client.send(headersFrame(1, requestFields('/late')), dataFrame(1, 'a'), dataFrame(1, 'b', { endStream: true }));
    await waitFor(() => streams.length === 1, 'the stream');
    await sleep(20);
    expect(events).toEqual([]);
    streams[0]!.attachReceiver(receiver(1));
    expect(events).toEqual(['1 data a', '1 data b', '1 end']);
    streams[0]!.respondGrpcUnary(fieldsBlock(okHeaders), Buffer.alloc(0), fieldsBlock(okTrailers));
    await waitFor(() => events.includes('1 closed'), 'the close after the answer');

    client.send(headersFrame(3, requestFields('/late')));
    await waitFor(() => streams.length === 2, 'the second stream');
    streams[1]!.attachReceiver(receiver(3));
    client.send(rstStreamFrame(3, errorCancel));
    await waitFor(() => events.includes('3 closed'), 'the close after a reset');
    expect(events.filter((e) => e.startsWith('3 '))).toEqual(['3 closed']);
  });

  it('takes a header block split over HEADERS and CONTINUATION frames', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    const long = 'v'.repeat(5000);
    const block = fieldsBlock(requestFields('/split', [['x-long', long], ['x-after', 'yes']]));
    client.send(
      headersFrame(1, block.subarray(0, 10), { endHeaders: false }),
      continuationFrame(1, block.subarray(10, 2000), false),
      continuationFrame(1, Buffer.alloc(0), false),
      continuationFrame(1, block.subarray(2000), true),
      dataFrame(1, 'body', { endStream: true }),
    );
    await waitFor(() => recorder.taken[0]?.ended === true, 'the request');
    const { stream, body } = recorder.taken[0]!;
    expect(stream.headers[':path']).toBe('/split');
    expect(stream.headers['x-long']).toBe(long);
    expect(stream.headers['x-after']).toBe('yes');
    expect(Buffer.concat(body).toString()).toBe('body');

    // END_STREAM on the HEADERS frame ends the request even though CONTINUATION follows (§8.1).
    const second = fieldsBlock(requestFields('/echo'));
    client.send(headersFrame(3, second.subarray(0, 5), { endHeaders: false, endStream: true }), continuationFrame(3, second.subarray(5), true));
    const response = await client.waitForResponse(3);
    expect(response.headers?.['x-path']).toBe('/echo');
    expect(response.data.length).toBe(0);
  });

  it('takes padded HEADERS with the PRIORITY flag, and padded DATA without the padding', async () => {
    const { client } = await rawSetup();
    client.send(
      headersFrame(1, requestFields('/echo'), { padLength: 17, dependsOn: 0 }),
      dataFrame(1, 'hello', { padLength: 9 }),
      dataFrame(1, ' ', { padLength: 0 }),
      dataFrame(1, '', { padLength: 200 }),
      dataFrame(1, 'world', { padLength: 255, endStream: true }),
    );
    const response = await client.waitForResponse(1);
    expect(response.data.toString()).toBe('hello world');
    expect(response.trailers?.['x-body-bytes']).toBe('11');
    // PADDED and PRIORITY each alone, and padding filling the whole frame after the block.
    client.send(headersFrame(3, requestFields('/echo'), { dependsOn: 1, endStream: true }));
    client.send(headersFrame(5, requestFields('/echo'), { padLength: 255, endStream: true }));
    expect((await client.waitForResponse(3)).headers?.[':status']).toBe('200');
    expect((await client.waitForResponse(5)).headers?.[':status']).toBe('200');
    expect(client.violations).toEqual([]);
  });

  it('ends a request with trailers (HEADERS with END_STREAM); trailers without END_STREAM make it malformed', async () => {
    const { client } = await rawSetup();
    client.send(headersFrame(1, requestFields('/echo')), dataFrame(1, 'abc'), headersFrame(1, [['x-trailer', '1']], { endStream: true }));
    const response = await client.waitForResponse(1);
    expect(response.data.toString()).toBe('abc');
    expect(response.rstCode).toBeUndefined();

    client.send(headersFrame(3, requestFields('/echo')), dataFrame(3, 'abc'), headersFrame(3, [['x-trailer', '1']]));
    expect(await client.waitForRst(3)).toBe(errorProtocol);
    await expectServing(client, 5);
  });

  it('keeps the HPACK dynamic table across requests, including malformed and refused ones', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream, maxConcurrentStreams: 1 });
    const indexed = (name: string, value: string) => Buffer.concat([Buffer.from([0x40, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
    // Stream 1 is malformed (upper-case name) and adds x-one to the table; stream 3 refers to it.
    client.send(headersFrame(1, Buffer.concat([fieldsBlock(requestFields('/m', [['X-Bad', '1']])), indexed('x-one', 'first')]), { endStream: true }));
    expect(await client.waitForRst(1)).toBe(errorProtocol);
    client.send(headersFrame(3, Buffer.concat([fieldsBlock(requestFields('/hold')), Buffer.from([0x80 | 62]), indexed('x-two', 'second')])));
    await waitFor(() => recorder.taken.length === 1, 'stream 3');
    expect(recorder.taken[0]!.stream.headers['x-one']).toBe('first');
    // Stream 5 is refused (one stream at most) and adds x-three; stream 7 (after 3 ends) refers to all three.
    client.send(headersFrame(5, Buffer.concat([fieldsBlock(requestFields('/hold')), indexed('x-three', 'third')]), { endStream: true }));
    expect(await client.waitForRst(5)).toBe(errorRefusedStream);
    recorder.taken[0]!.stream.respond(fieldsBlock(okHeaders), true);
    client.send(dataFrame(3, '', { endStream: true }));
    await waitFor(() => recorder.taken[0]!.closed, 'stream 3 to close');
    client.send(headersFrame(7, Buffer.concat([fieldsBlock(requestFields('/hold')), Buffer.from([0x80 | 62, 0x80 | 63, 0x80 | 64])]), { endStream: true }));
    await waitFor(() => recorder.taken.length === 2, 'stream 7');
    const headers = recorder.taken[1]!.stream.headers;
    expect([headers['x-three'], headers['x-two'], headers['x-one']]).toEqual(['third', 'second', 'first']);
  });
});

// =====================================================================================

describe('bytes cut at any point', () => {
  /** Feeds `chunks` one write (and one event-loop turn) at a time into a fresh linked connection; returns what the server saw. */
  async function feed(chunks: Buffer[]) {
    const requests: Array<{ headers: H2RequestHeaders; body: Buffer[]; ended: boolean }> = [];
    const { clientEnd, serverEnd } = linkedConnection({
      onStream: (stream) => {
        const request = { headers: stream.headers, body: [] as Buffer[], ended: false };
        requests.push(request);
        stream.attach((chunk) => request.body.push(chunk), () => {
          request.ended = true;
        });
      },
    });
    let reads = 0;
    serverEnd.on('data', () => reads++);
    const client = new RawClient(clientEnd);
    try {
      for (const chunk of chunks) {
        clientEnd.write(chunk);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await sleep(1);
      return {
        reads,
        requests: requests.map((r) => ({ path: r.headers[':path'], bodyBytes: Buffer.concat(r.body), ended: r.ended })),
        headers: requests.map((r) => r.headers),
        serverFrames: client.frames.map((f) => ({ type: f.type, flags: f.flags, streamId: f.streamId, payload: f.payload.toString('hex') })),
      };
    } finally {
      clientEnd.destroy();
    }
  }

  const fortyK = patternBytes(40_000, 7);
  const opaque = Buffer.from('0123abcd');
  const synthetic = (() => {
    const block = fieldsBlock(requestFields('/a', [['x-long', 'z'.repeat(3000)]]));
    return Buffer.concat([
      clientHandshake([[settingInitialWindowSize, 1 << 20], [settingMaxFrameSize, 16_384]]),
      headersFrame(1, block.subarray(0, 100), { endHeaders: false }),
      continuationFrame(1, block.subarray(100, 1500), false),
      continuationFrame(1, block.subarray(1500), true),
      dataFrame(1, 'first', { padLength: 7 }),
      settingsAckFrame(),
      dataFrame(1, '-second', { endStream: true }),
      pingFrame(opaque),
      headersFrame(3, requestFields('/b'), { padLength: 4, dependsOn: 1 }),
      frame(0x20, 0xff, 0, Buffer.from('unknown frame type')),
      dataFrame(3, fortyK.subarray(0, 16_384)),
      dataFrame(3, fortyK.subarray(16_384, 32_768)),
      frame(framePriority, 0, 9, Buffer.from([0, 0, 0, 1, 200])),
      dataFrame(3, fortyK.subarray(32_768), { padLength: 33, endStream: true }),
      windowUpdateFrame(0, 1000),
      headersFrame(5, requestFields('/c'), { endStream: true }),
    ]);
  })();
  const syntheticExpected = [
    { path: '/a', bodyBytes: Buffer.from('first-second'), ended: true },
    { path: '/b', bodyBytes: fortyK, ended: true },
    { path: '/c', bodyBytes: Buffer.alloc(0), ended: true },
  ];

  it('decodes a hand-built connection the same whatever the chunking (fast-check)', async () => {
    const whole = await feed([synthetic]);
    expect(whole.requests).toEqual(syntheticExpected);
    expect(whole.headers[0]!['x-long']).toBe('z'.repeat(3000));
    // Our preface, the ACK of the client's SETTINGS, the PING's ACK: nothing else (no GOAWAY, no RST_STREAM).
    expect(whole.serverFrames.map((f) => [f.type, f.flags, f.streamId])).toEqual([
      [frameSettings, 0, 0], [frameWindowUpdate, 0, 0], [frameSettings, flagAck, 0], [framePing, flagAck, 0],
    ]);
    expect(whole.serverFrames[3]!.payload).toBe(opaque.toString('hex'));
    await fc.assert(fc.asyncProperty(fc.array(fc.nat({ max: synthetic.length }), { maxLength: 60 }), async (cuts) => {
      const run = await feed(splitAt(synthetic, cuts));
      expect(run.requests).toEqual(syntheticExpected);
      expect(run.serverFrames).toEqual(whole.serverFrames);
    }), { numRuns: 50 });
  });

  it('one byte at a time', async () => {
    const chunks = splitAt(synthetic, Array.from({ length: synthetic.length }, (_, index) => index));
    expect(chunks.length).toBe(synthetic.length);
    const run = await feed(chunks);
    // Each byte reached the connection in a read of its own.
    expect(run.reads).toBe(synthetic.length);
    expect(run.requests).toEqual(syntheticExpected);
  });

  const fixturePaths = {
    statusConnection: ['/etcdserverpb.Maintenance/Status'],
    lockConnection: ['/etcdserverpb.Lease/LeaseGrant', '/etcdserverpb.Lease/LeaseKeepAlive', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange'],
  };
  const fixtureBodies = { statusConnection: [5], lockConnection: [7, 15, 160, 30] };
  const fixturePings = { statusConnection: 1, lockConnection: 2 };

  it.each(['statusConnection', 'lockConnection'] as const)('decodes the recorded etcdctl %s to its requests, whatever the chunking', async (name) => {
    const bytes = { statusConnection, lockConnection }[name];
    const check = (run: Awaited<ReturnType<typeof feed>>) => {
      expect(run.requests.map((r) => r.path)).toEqual(fixturePaths[name]);
      expect(run.requests.map((r) => r.bodyBytes.length)).toEqual(fixtureBodies[name]);
      // LeaseKeepAlive is a stream the client keeps open; every other request ended.
      expect(run.requests.map((r) => r.ended)).toEqual(fixturePaths[name].map((path) => !path.endsWith('LeaseKeepAlive')));
      expect(run.serverFrames.filter((f) => f.type === frameGoaway || f.type === frameRstStream)).toEqual([]);
      expect(run.serverFrames.filter((f) => f.type === framePing && f.flags === flagAck).length).toBe(fixturePings[name]);
    };
    const whole = await feed([bytes]);
    check(whole);
    if (name === 'statusConnection') expect(whole.headers[0]![':authority']).toBe('http://127.0.0.1:23893');
    check(await feed(splitAt(bytes, Array.from({ length: bytes.length }, (_, index) => index))));
    await fc.assert(fc.asyncProperty(fc.array(fc.nat({ max: bytes.length }), { maxLength: 40 }), async (cuts) => {
      const run = await feed(splitAt(bytes, cuts));
      check(run);
      expect(run.serverFrames).toEqual(whole.serverFrames);
    }), { numRuns: 50 });
  });
});

// =====================================================================================

describe('flow control, sending (§6.9)', () => {
  it('delivers a response larger than the stream window to node:http2 (initialWindowSize 1000), complete and in order', async () => {
    const server = await startServer({ onStream: bigStream });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port, { initialWindowSize: 1000 });
    const { response } = nodeRequest(session, '/big/300000/3');
    const result = await response;
    expect(result.headers[':status']).toBe(200);
    expect(result.data.length).toBe(300_000);
    expect(result.data.equals(patternBytes(300_000, 3))).toBe(true);
    expect(result.trailers?.['grpc-status']).toBe('0');
  });

  it('sends exactly what the stream window allows, resumes on WINDOW_UPDATE and SETTINGS, trailers last', async () => {
    const { client } = await rawSetup({ onStream: bigStream, clientSettings: [[settingInitialWindowSize, 1000]] });
    client.send(windowUpdateFrame(0, 10_000_000));
    client.send(headersFrame(1, requestFields('/big/50000'), { endStream: true }));
    await client.waitUntil(() => client.dataBytes(1) === 1000, '1000 bytes');
    await sleep(100);
    expect(client.dataBytes(1)).toBe(1000);

    client.send(windowUpdateFrame(1, 20_000));
    await client.waitUntil(() => client.dataBytes(1) === 21_000, '21000 bytes');
    await sleep(50);
    expect(client.dataBytes(1)).toBe(21_000);

    // §6.9.2: a new SETTINGS_INITIAL_WINDOW_SIZE changes the window of every open stream by the difference.
    client.send(settingsFrame([[settingInitialWindowSize, 11_000]]));
    await client.waitUntil(() => client.dataBytes(1) === 31_000, '31000 bytes');
    await sleep(50);
    expect(client.dataBytes(1)).toBe(31_000);
    expect(client.response(1).trailers).toBeUndefined();

    client.send(windowUpdateFrame(1, 19_000));
    const response = await client.waitForResponse(1);
    expect(response.data.equals(patternBytes(50_000))).toBe(true);
    expect(response.trailers).toEqual({ 'grpc-status': '0' });
    const trailersIndex = response.blocks[1]!.index;
    expect(response.dataFrames.every((f) => f.index < trailersIndex && (f.flags & flagEndStream) === 0)).toBe(true);
    expect(response.dataFrames.every((f) => f.payload.length <= 16_384)).toBe(true);
    await sleep(50);
    // Nothing after the trailers: the client had ended its request, so no RST_STREAM either.
    expect(client.frames.filter((f) => f.streamId === 1 && f.index > trailersIndex)).toEqual([]);
    expect(client.violations).toEqual([]);
  });

  it('lets a SETTINGS change make a stream window negative, and waits until WINDOW_UPDATEs make it positive', async () => {
    const { client } = await rawSetup({ onStream: bigStream, clientSettings: [[settingInitialWindowSize, 1000]] });
    client.send(windowUpdateFrame(0, 10_000_000), headersFrame(1, requestFields('/big/5000'), { endStream: true }));
    await client.waitUntil(() => client.dataBytes(1) === 1000, '1000 bytes');
    client.send(settingsFrame([[settingInitialWindowSize, 0]]));
    await client.waitUntil(() => client.count(isSettingsAck) === 2, 'the ACK');
    // The window is now -1000: 1500 more brings it to 500.
    client.send(windowUpdateFrame(1, 1500));
    await client.waitUntil(() => client.dataBytes(1) === 1500, '1500 bytes');
    await sleep(100);
    expect(client.dataBytes(1)).toBe(1500);
    client.send(windowUpdateFrame(1, 3500));
    const response = await client.waitForResponse(1);
    expect(response.data.equals(patternBytes(5000))).toBe(true);
    expect(response.trailers).toEqual({ 'grpc-status': '0' });
  });

  it('keeps within the connection window shared by all streams', async () => {
    const { client } = await rawSetup({ onStream: bigStream, clientSettings: [[settingInitialWindowSize, 1 << 20]] });
    client.send(headersFrame(1, requestFields('/big/50000/1'), { endStream: true }), headersFrame(3, requestFields('/big/50000/2'), { endStream: true }));
    await client.waitUntil(() => client.dataBytes() === 65_535, 'the first 65535 bytes');
    await sleep(100);
    expect(client.dataBytes()).toBe(65_535);
    client.send(windowUpdateFrame(0, 100_000 - 65_535));
    const [first, second] = [await client.waitForResponse(1), await client.waitForResponse(3)];
    expect(first.data.equals(patternBytes(50_000, 1))).toBe(true);
    expect(second.data.equals(patternBytes(50_000, 2))).toBe(true);
    for (const response of [first, second]) {
      expect(response.trailers).toEqual({ 'grpc-status': '0' });
      expect(response.dataFrames.every((f) => f.index < response.blocks[1]!.index)).toBe(true);
    }
    // The connection window is now 0: a third answer waits for it.
    client.send(headersFrame(5, requestFields('/big/10/5'), { endStream: true }));
    await client.waitUntil(() => client.response(5).headers !== undefined, 'headers on 5');
    await sleep(50);
    expect(client.dataBytes(5)).toBe(0);
    client.send(windowUpdateFrame(0, 10));
    expect((await client.waitForResponse(5)).data.equals(patternBytes(10, 5))).toBe(true);
  });

  it('keeps a unary gRPC answer (respondGrpcUnary) within the windows too', async () => {
    const message = patternBytes(100, 9);
    const { client } = await rawSetup({
      clientSettings: [[settingInitialWindowSize, 10]],
      onStream: (stream) => stream.attach(() => undefined, () => stream.respondGrpcUnary(fieldsBlock(okHeaders), message, fieldsBlock(okTrailers))),
    });
    client.send(headersFrame(1, requestFields('/unary'), { endStream: true }));
    await client.waitUntil(() => client.dataBytes(1) === 10, '10 bytes');
    await sleep(50);
    expect(client.dataBytes(1)).toBe(10);
    client.send(windowUpdateFrame(1, 95));
    const response = await client.waitForResponse(1);
    expect(response.data.subarray(0, 5)).toEqual(Buffer.from([0, 0, 0, 0, 100]));
    expect(response.data.subarray(5).equals(message)).toBe(true);
    expect(response.trailers).toEqual({ 'grpc-status': '0' });
  });

  it('never sends a frame larger than the client SETTINGS_MAX_FRAME_SIZE, splitting large header blocks into CONTINUATION', async () => {
    const bigValue = 'h'.repeat(40_000);
    const bigTrailer = 't'.repeat(20_000);
    const onStream = answerAfterBody(() => ({
      headers: [...okHeaders, ['x-big', bigValue]],
      data: [patternBytes(100_000, 4)],
      trailers: [...okTrailers, ['x-big-trailer', bigTrailer]],
    }));
    for (const maxFrameSize of [16_384, 65_536]) {
      const { client } = await rawSetup({ onStream, clientSettings: [[settingInitialWindowSize, 1 << 20], [settingMaxFrameSize, maxFrameSize]] });
      client.send(windowUpdateFrame(0, 1 << 20), headersFrame(1, requestFields('/any'), { endStream: true }));
      const response = await client.waitForResponse(1);
      expect(response.data.equals(patternBytes(100_000, 4))).toBe(true);
      expect(response.headers?.['x-big']).toBe(bigValue);
      expect(response.trailers?.['x-big-trailer']).toBe(bigTrailer);
      expect(response.blocks[1]!.endStream).toBe(true);
      expect(Math.max(...client.frames.map((f) => f.payload.length))).toBeLessThanOrEqual(maxFrameSize);
      if (maxFrameSize === 16_384) {
        // HEADERS without END_HEADERS, then CONTINUATION frames, the last with END_HEADERS, nothing in between.
        const headerFrames = client.frames.filter((f) => f.index >= response.blocks[0]!.index && f.index <= response.blocks[0]!.lastIndex);
        expect(headerFrames.map((f) => f.type)).toEqual([frameHeaders, frameContinuation, frameContinuation]);
        expect(headerFrames.map((f) => f.flags & flagEndHeaders)).toEqual([0, 0, flagEndHeaders]);
        expect(response.blocks[0]!.lastIndex - response.blocks[0]!.index).toBe(2);
      }
      expect(client.violations).toEqual([]);
      client.destroy();
    }
  });

  it('answers WINDOW_UPDATE overflowing a stream window with RST_STREAM FLOW_CONTROL_ERROR', async () => {
    await expectStreamWindowUpdateReset(0x7fff_ffff, errorFlowControl);
  });

  it('answers WINDOW_UPDATE overflowing the connection window with GOAWAY FLOW_CONTROL_ERROR', async () => {
    const { client } = await rawSetup();
    client.send(windowUpdateFrame(0, 0x7fff_ffff));
    await expectConnectionError(client, errorFlowControl, 0);
  });

  it('answers a SETTINGS_INITIAL_WINDOW_SIZE that overflows an open stream window with GOAWAY FLOW_CONTROL_ERROR', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(headersFrame(1, requestFields('/hold')));
    await waitFor(() => recorder.taken.length === 1, 'stream 1');
    // Stream window 65535 + (2^31-1 - 65535) = 2^31-1, the maximum; then +1 through SETTINGS.
    client.send(windowUpdateFrame(1, 0x7fff_ffff - 65_535));
    await sleep(50);
    expect(client.response(1).rstCode).toBeUndefined();
    client.send(settingsFrame([[settingInitialWindowSize, 65_536]]));
    // Found here: §6.9.2 "An endpoint MUST treat a change to SETTINGS_INITIAL_WINDOW_SIZE that causes any
    // flow-control window to exceed the maximum size as a connection error of type FLOW_CONTROL_ERROR."
    await expectConnectionError(client, errorFlowControl, 1, 1000);
  });
});

// =====================================================================================

describe('flow control, receiving (§6.9)', () => {
  it('takes a 3 MiB request body from node:http2 intact, returning window as it goes', async () => {
    const server = await startServer({
      onStream: answerAfterBody((body) => ({ headers: [...okHeaders, ['x-sha256', sha256(body)], ['x-bytes', String(body.length)]], data: [body] })),
    });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port);
    const body = patternBytes(3 * 1024 * 1024, 11);
    const result = await nodeRequest(session, '/upload', { body }).response;
    expect(result.headers['x-bytes']).toBe(String(body.length));
    expect(result.headers['x-sha256']).toBe(sha256(body));
    expect(result.data.equals(body)).toBe(true);
  });

  it('returns stream and connection window to a raw client that sends only what the windows allow (20 MiB)', async () => {
    let receivedBytes = 0;
    const hash = createHash('sha256');
    const { client } = await rawSetup({
      onStream: (stream) => stream.attach((chunk) => {
        receivedBytes += chunk.length;
        hash.update(chunk);
      }, () => {
        stream.respond(fieldsBlock([...okHeaders, ['x-sha256', hash.digest('hex')], ['x-bytes', String(receivedBytes)]]), true);
      }),
    });
    const total = 20 * 1024 * 1024;
    const body = patternBytes(total, 21);
    const increments = (streamId: number) => client.frames.filter((f) => f.type === frameWindowUpdate && f.streamId === streamId)
      .reduce((sum, f) => sum + (f.payload.readUInt32BE(0) & 0x7fff_ffff), 0);
    let sent = 0;
    const streamWindow = () => streamReceiveWindowBytes + increments(1) - sent;
    const connectionWindow = () => 65_535 + increments(0) - sent;
    client.send(headersFrame(1, requestFields('/upload')));
    while (sent < total) {
      const size = Math.min(16_384, total - sent, streamWindow(), connectionWindow());
      if (size <= 0) {
        await client.waitUntil(() => streamWindow() > 0 && connectionWindow() > 0, `window after ${sent} bytes`);
        continue;
      }
      client.send(dataFrame(1, body.subarray(sent, sent + size), { endStream: sent + size === total }));
      sent += size;
      if (sent % (1 << 20) === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const response = await client.waitForResponse(1, 10_000);
    expect(response.headers?.['x-bytes']).toBe(String(total));
    expect(response.headers?.['x-sha256']).toBe(sha256(body));
    expect(response.rstCode).toBeUndefined();
    // More than the initial connection window went through: the server returned connection window.
    expect(increments(0)).toBeGreaterThan(connectionReceiveWindowBytes - 65_535);
  });

  it('answers a client that overruns the stream window (padding counted) with RST_STREAM FLOW_CONTROL_ERROR', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({
      onStream: (stream) => {
        if (stream.headers[':path'] === '/paused') stream.pause();
        recorder.onStream(stream);
      },
    });
    client.send(headersFrame(1, requestFields('/paused')));
    // Exactly the stream window (1 MiB), the last frame padded: allowed, and nothing is returned while paused.
    for (let index = 0; index < 63; index++) client.send(dataFrame(1, patternBytes(16_384, index + 1)));
    client.send(dataFrame(1, patternBytes(16_384 - 1 - 100, 99), { padLength: 100 }));
    await sleep(150);
    expect(client.response(1).rstCode).toBeUndefined();
    expect(client.count((f) => f.type === frameWindowUpdate && f.streamId === 1)).toBe(0);
    client.send(dataFrame(1, 'x'));
    expect(await client.waitForRst(1)).toBe(errorFlowControl);
    await waitFor(() => recorder.taken[0]!.closed, 'onclose');
    await expectServing(client, 3);
  });

  it('returns a paused stream\'s window once it resumes', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({
      onStream: (stream) => {
        stream.pause();
        recorder.onStream(stream);
      },
    });
    client.send(headersFrame(1, requestFields('/paused')));
    const first = 600 * 1024;
    for (let sent = 0; sent < first; sent += 16_384) client.send(dataFrame(1, Buffer.alloc(Math.min(16_384, first - sent), 1)));
    await sleep(100);
    const record = recorder.taken[0]!;
    expect(record.body.length).toBe(0);
    expect(client.count((f) => f.type === frameWindowUpdate && f.streamId === 1)).toBe(0);
    record.stream.resume();
    await client.waitForFrame((f) => f.type === frameWindowUpdate && f.streamId === 1, 'the stream WINDOW_UPDATE');
    expect(Buffer.concat(record.body).length).toBe(first);
    // The client may now fill the whole window again: 1 MiB - 600 KiB + what was returned.
    const returned = client.frames.filter((f) => f.type === frameWindowUpdate && f.streamId === 1).reduce((sum, f) => sum + f.payload.readUInt32BE(0), 0);
    const more = streamReceiveWindowBytes - first + returned;
    for (let sent = 0; sent < more; sent += 16_384) {
      const size = Math.min(16_384, more - sent);
      client.send(dataFrame(1, Buffer.alloc(size, 2), { endStream: sent + size === more }));
    }
    await waitFor(() => record.ended, 'the end of the request');
    expect(Buffer.concat(record.body).length).toBe(first + more);
    expect(client.response(1).rstCode).toBeUndefined();
  });

  it('answers WINDOW_UPDATE of 0 on a stream with RST_STREAM PROTOCOL_ERROR, on the connection with GOAWAY PROTOCOL_ERROR', async () => {
    const client = await expectStreamWindowUpdateReset(0, errorProtocol);
    client.send(windowUpdateFrame(0, 0));
    await expectConnectionError(client, errorProtocol, 3);
  });

  it('answers DATA after the client ended its request (half-closed remote) with RST_STREAM STREAM_CLOSED', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(headersFrame(1, requestFields('/hold'), { endStream: true }));
    await waitFor(() => recorder.taken[0]?.ended === true, 'stream 1');
    client.send(dataFrame(1, 'late'));
    expect(await client.waitForRst(1)).toBe(errorStreamClosed);
    expect(recorder.taken[0]!.body).toEqual([]);
    await expectServing(client, 3);
  });
});

// =====================================================================================

describe('connection errors (§5.4.1): GOAWAY with the code, then the connection closes', () => {
  const open1 = headersFrame(1, requestFields('/hold'));
  const settingsPayload = (id: number, value: number) => settingsFrame([[id, value]]);
  const cases: Array<[string, Buffer[], number, number]> = [
    ['SETTINGS on a stream', [frame(frameSettings, 0, 1)], errorProtocol, 0],
    ['SETTINGS of 5 bytes', [frame(frameSettings, 0, 0, Buffer.alloc(5))], errorFrameSize, 0],
    ['a SETTINGS ACK with a payload', [frame(frameSettings, flagAck, 0, Buffer.alloc(6))], errorFrameSize, 0],
    ['SETTINGS_ENABLE_PUSH 2', [settingsPayload(settingEnablePush, 2)], errorProtocol, 0],
    ['SETTINGS_INITIAL_WINDOW_SIZE 2^31', [settingsPayload(settingInitialWindowSize, 2 ** 31)], errorFlowControl, 0],
    ['SETTINGS_MAX_FRAME_SIZE 16383', [settingsPayload(settingMaxFrameSize, 16_383)], errorProtocol, 0],
    ['SETTINGS_MAX_FRAME_SIZE 2^24', [settingsPayload(settingMaxFrameSize, 2 ** 24)], errorProtocol, 0],
    ['PING on a stream', [frame(framePing, 0, 1, Buffer.alloc(8))], errorProtocol, 0],
    ['PING of 7 bytes', [frame(framePing, 0, 0, Buffer.alloc(7))], errorFrameSize, 0],
    ['PUSH_PROMISE', [open1, frame(framePushPromise, flagEndHeaders, 1, Buffer.concat([Buffer.from([0, 0, 0, 2]), fieldsBlock(requestFields('/p'))]))], errorProtocol, 1],
    ['DATA of 16385 bytes', [open1, dataFrame(1, Buffer.alloc(16_385))], errorFrameSize, 1],
    ['HEADERS of more than 16384 bytes', [headersFrame(1, requestFields('/hold', [['x-pad', 'p'.repeat(16_400)]]))], errorFrameSize, 0],
    ['an unknown frame type of 16385 bytes', [frame(0xfa, 0, 0, Buffer.alloc(16_385))], errorFrameSize, 0],
    ['an HPACK index 0', [headersFrame(1, Buffer.from([0x82, 0x80]), { endStream: true })], errorCompression, 0],
    ['an HPACK index beyond the dynamic table', [headersFrame(1, Buffer.from([0x82, 0x87, 0x84, 0xbe]), { endStream: true })], errorCompression, 0],
    ['a truncated HPACK literal', [headersFrame(1, Buffer.from([0x82, 0x00, 0x05, 0x61]), { endStream: true })], errorCompression, 0],
    ['an HPACK table size update above the setting', [headersFrame(1, Buffer.from([0x3f, 0xe2, 0x1f, 0x82]), { endStream: true })], errorCompression, 0],
    ['GOAWAY on a stream', [goawayFrameOf(0, errorNoError, 1)], errorProtocol, 0],
    ['WINDOW_UPDATE of 3 bytes', [frame(frameWindowUpdate, 0, 0, Buffer.alloc(3))], errorFrameSize, 0],
    ['WINDOW_UPDATE on an idle stream', [windowUpdateFrame(1, 100)], errorProtocol, 0],
    ['RST_STREAM on stream 0', [rstStreamFrame(0, errorCancel)], errorProtocol, 0],
    ['RST_STREAM on an idle stream', [rstStreamFrame(3, errorCancel)], errorProtocol, 0],
    ['RST_STREAM of 3 bytes', [open1, frame(frameRstStream, 0, 1, Buffer.alloc(3))], errorFrameSize, 1],
    ['DATA on stream 0', [dataFrame(0, 'x')], errorProtocol, 0],
    ['DATA on an idle stream', [dataFrame(1, 'x')], errorProtocol, 0],
    ['DATA padding as long as the payload', [open1, frame(frameData, 0x8, 1, Buffer.from([4, 1, 2, 3]))], errorProtocol, 1],
    ['HEADERS on stream 0', [headersFrame(0, requestFields('/echo'))], errorProtocol, 0],
    ['HEADERS on an even stream', [headersFrame(2, requestFields('/echo'))], errorProtocol, 0],
    ['HEADERS padding longer than the payload', [frame(frameHeaders, 0x8 | flagEndHeaders, 1, Buffer.from([10, 0x82, 0x84]))], errorProtocol, 0],
    ['PRIORITY on stream 0', [frame(framePriority, 0, 0, Buffer.from([0, 0, 0, 1, 16]))], errorProtocol, 0],
    ['CONTINUATION without HEADERS', [continuationFrame(1, fieldsBlock(requestFields('/echo')), true)], errorProtocol, 0],
    ['CONTINUATION after a complete header block', [open1, continuationFrame(1, fieldsBlock([['x', 'y']]), true)], errorProtocol, 1],
    ['a header block interrupted by PING', [headersFrame(1, requestFields('/echo'), { endHeaders: false }), pingFrame(Buffer.alloc(8))], errorProtocol, 0],
    ['a header block interrupted by DATA', [headersFrame(1, requestFields('/echo'), { endHeaders: false }), dataFrame(1, 'x')], errorProtocol, 0],
    ['a header block interrupted by an unknown frame type (§5.5)', [headersFrame(1, requestFields('/echo'), { endHeaders: false }), frame(0xfa, 0, 0)], errorProtocol, 0],
    ['a header block continued on another stream', [headersFrame(1, requestFields('/echo'), { endHeaders: false }), continuationFrame(3, Buffer.alloc(0), true)], errorProtocol, 0],
  ];

  it.each(cases)('%s', async (_name, frames, code, lastStreamId) => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(...frames);
    await expectConnectionError(client, code, lastStreamId);
    // Streams open when the connection failed are closed with it.
    await waitFor(() => recorder.taken.every((r) => r.closed), 'every stream to close');
  });

  it('ends a run of empty CONTINUATION frames with GOAWAY ENHANCE_YOUR_CALM (each frame counts)', async () => {
    const { client } = await rawSetup({ headerBlockBytesMax: 4096 });
    const block = fieldsBlock(requestFields('/m'));
    const empties = Array.from({ length: 1000 }, () => continuationFrame(1, Buffer.alloc(0), false));
    client.send(headersFrame(1, block, { endHeaders: false }), ...empties);
    await expectConnectionError(client, errorEnhanceYourCalm);
  });

  it('answers a header block above headerBlockBytesMax with GOAWAY ENHANCE_YOUR_CALM', async () => {
    const { client } = await rawSetup({ headerBlockBytesMax: 4096 });
    const block = fieldsBlock(requestFields('/echo', [['x-big', 'b'.repeat(5000)]]));
    client.send(headersFrame(1, block.subarray(0, 3000), { endHeaders: false }), continuationFrame(1, block.subarray(3000), true));
    await expectConnectionError(client, errorEnhanceYourCalm);
  });
});

describe('gRPC keep-alive (--grpc-keepalive-*)', () => {
  const hour = 3_600_000;
  const isPing = (f: ServerFrame) => f.type === framePing && (f.flags & flagAck) === 0;
  const isPingAck = (f: ServerFrame) => f.type === framePing && (f.flags & flagAck) !== 0;

  it('answers the fourth ping closer than min-time with its ACK and GOAWAY ENHANCE_YOUR_CALM "too_many_pings", then closes', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream, keepalive: { minClientPingIntervalMs: hour, pingAfterIdleMs: hour, pingTimeoutMs: hour } });
    client.send(headersFrame(1, requestFields('/hold')));
    await waitFor(() => recorder.taken.length === 1, 'the stream');
    for (let n = 1; n <= 3; n += 1) {
      client.send(pingFrame(Buffer.alloc(8, n)));
      await client.waitUntil(() => client.count(isPingAck) === n, `ACK ${n}`);
    }
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
    client.send(pingFrame(Buffer.alloc(8, 4)));
    const goaway = await client.waitForGoaway();
    expect(goaway).toEqual({ lastStreamId: 1, code: errorEnhanceYourCalm, debug: 'too_many_pings' });
    expect(client.count(isPingAck)).toBe(4);
    await client.waitClosed();
    expect(recorder.taken[0]!.closed).toBe(true);
  });

  it('does not count pings that follow a response (a client measuring bandwidth as data arrives)', async () => {
    const { client } = await rawSetup({ keepalive: { minClientPingIntervalMs: hour, pingAfterIdleMs: hour, pingTimeoutMs: hour } });
    for (let id = 1; id <= 19; id += 2) {
      await expectServing(client, id);
      client.send(pingFrame(Buffer.alloc(8, id)));
    }
    await expectServing(client, 21);
    expect(client.count(isPingAck)).toBe(10);
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });

  it('pings (8 zero bytes) a client it has read nothing from for the interval, and closes the connection when no answer comes', async () => {
    const { client } = await rawSetup({ keepalive: { minClientPingIntervalMs: hour, pingAfterIdleMs: 50, pingTimeoutMs: 50 } });
    const ping = await client.waitForFrame(isPing, 'a server PING');
    expect(ping.streamId).toBe(0);
    expect(ping.payload).toEqual(Buffer.alloc(8));
    await client.waitClosed();
  });

  it('keeps a connection whose client answers its pings', async () => {
    const { client, connection } = await rawSetup({ keepalive: { minClientPingIntervalMs: hour, pingAfterIdleMs: 30, pingTimeoutMs: 30 } });
    for (let n = 1; n <= 4; n += 1) {
      const ping = await client.waitForFrame(isPing, `server PING ${n}`, { from: client.frames.length });
      client.send(pingFrame(ping.payload, true));
    }
    expect(client.closed).toBe(false);
    await expectServing(client, 1);
    expect(connection.openStreamCount).toBe(0);
  });
});

describe('other control frames', () => {
  it('answers PING with a PING ACK carrying the same 8 bytes, and ignores a PING ACK', async () => {
    const { client } = await rawSetup();
    const opaque = Buffer.from([1, 2, 3, 4, 0xfe, 0xdc, 0xba, 0x98]);
    client.send(pingFrame(opaque));
    const ack = await client.waitForFrame((f) => f.type === framePing, 'the PING ACK');
    expect(ack).toMatchObject({ streamId: 0, flags: flagAck });
    expect(ack.payload).toEqual(opaque);
    // Flags without meaning for PING (everything but ACK) are ignored (§4.1).
    client.send(frame(framePing, 0xfe, 0, Buffer.from('unknownf')));
    await client.waitUntil(() => client.count((f) => f.type === framePing) === 2, 'the second ACK');
    expect(client.frames.filter((f) => f.type === framePing)[1]!.payload.toString()).toBe('unknownf');
    client.send(pingFrame(opaque, true));
    await expectServing(client, 1);
    expect(client.count((f) => f.type === framePing)).toBe(2);
  });

  it('keeps what waits for a client that floods PINGs while it reads nothing bounded: it stops reading it, or cuts it off', async () => {
    const closed: string[] = [];
    const { serverEnd, clientEnd } = linkedConnection({ onStream: () => undefined, onClose: () => closed.push('connection') });
    // The client end is never read: every PING ACK stays in the server's output.
    clientEnd.write(clientHandshake());
    const ping = pingFrame(Buffer.alloc(8));
    const burst = Buffer.concat(Array.from({ length: 4096 }, () => ping));
    for (let sent = 0; sent < 256 && closed.length === 0; sent++) {
      clientEnd.write(burst);
      await sleep(0);
    }
    // 256 bursts would be 32 MiB of ACKs: the server stopped reading (socketBacklogBytesMax) or
    // ended the connection (controlBacklogBytesMax) long before.
    expect(closed.length === 1 || serverEnd.isPaused()).toBe(true);
    expect(serverEnd.writableLength).toBeLessThan(controlBacklogBytesMax + 1024 * 1024);
  });

  it('ignores frames of unknown types, on the connection and on streams (§5.5)', async () => {
    const { client } = await rawSetup();
    client.send(frame(0xfa, 0xff, 0, Buffer.from('whatever')), frame(0x0b, 0, 1, Buffer.alloc(100)));
    client.send(headersFrame(1, requestFields('/echo')), frame(0x33, 0x1, 1, Buffer.from('x')), dataFrame(1, 'ab'), frame(0xff, 0, 1));
    client.send(dataFrame(1, 'cd', { endStream: true }));
    const response = await client.waitForResponse(1);
    expect(response.data.toString()).toBe('abcd');
    expect(response.rstCode).toBeUndefined();
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });

  it('ignores PRIORITY frames, and answers one of the wrong size with RST_STREAM FRAME_SIZE_ERROR (§6.3)', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(frame(framePriority, 0, 7, Buffer.from([0, 0, 0, 0, 16])), frame(framePriority, 0, 1, Buffer.from([0x80, 0, 0, 3, 255])));
    client.send(headersFrame(1, requestFields('/hold')));
    await waitFor(() => recorder.taken.length === 1, 'stream 1');
    client.send(frame(framePriority, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
    await sleep(30);
    expect(client.response(1).rstCode).toBeUndefined();
    client.send(frame(framePriority, 0, 1, Buffer.from([0, 0, 0, 0])));
    expect(await client.waitForRst(1)).toBe(errorFrameSize);
    await waitFor(() => recorder.taken[0]!.closed, 'onclose');
    await expectServing(client, 3);
  });

  it('keeps serving open streams after the client GOAWAY', async () => {
    const { client } = await rawSetup();
    client.send(headersFrame(1, requestFields('/echo')), goawayFrameOf(0, errorNoError), dataFrame(1, 'after goaway', { endStream: true }));
    const response = await client.waitForResponse(1);
    expect(response.data.toString()).toBe('after goaway');
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });
});

// =====================================================================================

describe('malformed requests (§8.1.1): RST_STREAM PROTOCOL_ERROR, and the connection keeps serving', () => {
  /** Sends each request (with END_STREAM) on the next stream from 1 and collects its RST_STREAM code, if any. */
  async function resetCodesOf(client: RawClient, requests: Array<[string, Fields]>, waitMs?: number) {
    const codes: Array<[string, number | undefined]> = [];
    let nextStreamId = 1;
    for (const [name, fields] of requests) {
      client.send(headersFrame(nextStreamId, fields, { endStream: true }));
      codes.push([name, await client.waitForRst(nextStreamId, waitMs).catch(() => undefined)]);
      nextStreamId += 2;
    }
    return { codes, nextStreamId };
  }

  const base = requestFields('/m');
  const malformed: Array<[string, Fields]> = [
    ['an upper-case header name', [...base, ['X-Upper', '1']]],
    ['connection', [...base, ['connection', 'keep-alive']]],
    ['keep-alive', [...base, ['keep-alive', 'timeout=5']]],
    ['proxy-connection', [...base, ['proxy-connection', 'keep-alive']]],
    ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['upgrade', [...base, ['upgrade', 'h2c']]],
    ['te other than trailers', [...base, ['te', 'gzip']]],
    ['no :path', [[':method', 'POST'], [':scheme', 'http'], [':authority', 'x'], ['content-type', 'application/grpc']]],
    ['no :method', [[':scheme', 'http'], [':path', '/m'], [':authority', 'x']]],
    ['a pseudo-header after a regular header', [[':method', 'POST'], [':scheme', 'http'], ['content-type', 'application/grpc'], [':path', '/m']]],
    ['an unknown pseudo-header', [...requestFields('/m').slice(0, 4), [':protocol-x', 'y']]],
    ['a response pseudo-header', [[':status', '200'], ...base]],
    ['a repeated :path', [[':path', '/m'], ...base]],
  ];

  it('resets each of them, never calls onStream for them, and serves the next stream', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    const { codes, nextStreamId: streamId } = await resetCodesOf(client, malformed);
    expect(codes).toEqual(malformed.map(([name]) => [name, errorProtocol]));
    expect(recorder.taken).toEqual([]);
    // Malformed with a body still coming: its DATA is dropped without further errors.
    client.send(headersFrame(streamId, [...base, ['Bad', 'x']]), dataFrame(streamId, 'dropped', { endStream: true }));
    expect(await client.waitForRst(streamId)).toBe(errorProtocol);
    await expectServing(client, streamId + 2);
    // te: trailers is the one te allowed.
    client.send(headersFrame(streamId + 4, requestFields('/echo', [['te', 'trailers']]), { endStream: true }));
    expect((await client.waitForResponse(streamId + 4)).headers?.[':status']).toBe('200');
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });

  it('resets requests whose field names or values contain forbidden characters (§8.2.1)', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    const invalid: Array<[string, Fields]> = [
      ['CR LF in a value', [...base, ['x-injected', 'a\r\nx-smuggled: 1']]],
      ['NUL in a value', [...base, ['x-nul', 'a\0b']]],
      ['a value starting with a space', [...base, ['x-space', ' leading']]],
      ['a space in a name', [...base, ['x bad', '1']]],
      ['a colon inside a regular name', [...base, ['x:bad', '1']]],
    ];
    const { codes } = await resetCodesOf(client, invalid, 300);
    // Found here: §8.2.1 says a field name MUST NOT contain 0x00-0x20, 0x41-0x5a, 0x7f-0xff or (outside
    // pseudo-headers) ':', a value MUST NOT contain NUL, CR or LF nor start or end with SP/HTAB, and a
    // request with such a field MUST be treated as malformed (it must not reach onStream).
    expect(codes).toEqual(invalid.map(([name]) => [name, errorProtocol]));
    expect(recorder.taken.map((r) => r.stream.headers[':path'])).toEqual([]);
  });
});

// =====================================================================================

describe('stream states', () => {
  it('a client RST_STREAM fires onclose, and later DATA on that stream is ignored', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(headersFrame(1, requestFields('/hold')), dataFrame(1, 'abc'));
    await waitFor(() => recorder.taken[0]?.body.length === 1, 'the first DATA');
    const record = recorder.taken[0]!;
    client.send(rstStreamFrame(1, errorCancel));
    await waitFor(() => record.closed, 'onclose');
    expect(record.stream.resetCode).toBe(errorCancel);
    expect(record.stream.closed).toBe(true);
    client.send(dataFrame(1, 'def'), dataFrame(1, 'ghi', { endStream: true }), rstStreamFrame(1, errorCancel), windowUpdateFrame(1, 10));
    // Answering a reset stream sends nothing.
    record.stream.respond(fieldsBlock(okHeaders));
    record.stream.write(Buffer.from('nothing'));
    record.stream.end(fieldsBlock(okTrailers));
    await expectServing(client, 3);
    await sleep(30);
    expect(record.body.map(String)).toEqual(['abc']);
    expect(record.ended).toBe(false);
    // §5.4.2: no RST_STREAM in answer to RST_STREAM; nothing at all on stream 1.
    expect(client.frames.filter((f) => f.streamId === 1)).toEqual([]);
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });

  it('refuses streams beyond maxConcurrentStreams with RST_STREAM REFUSED_STREAM', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream, maxConcurrentStreams: 2 });
    expect(parseSettings(client.frames[0]!.payload).get(settingMaxConcurrentStreams)).toBe(2);
    client.send(headersFrame(1, requestFields('/hold')), headersFrame(3, requestFields('/hold')), headersFrame(5, requestFields('/hold')));
    expect(await client.waitForRst(5)).toBe(errorRefusedStream);
    expect(recorder.taken.map((r) => r.stream.id)).toEqual([1, 3]);
    // The refused stream's DATA is dropped quietly.
    client.send(dataFrame(5, 'x', { endStream: true }));
    // Stream 1 finishes; then there is room for one more.
    recorder.taken[0]!.stream.respond(fieldsBlock(okHeaders), true);
    client.send(dataFrame(1, '', { endStream: true }));
    await waitFor(() => recorder.taken[0]!.closed, 'stream 1 to close');
    client.send(headersFrame(7, requestFields('/hold')), headersFrame(9, requestFields('/hold')));
    expect(await client.waitForRst(9)).toBe(errorRefusedStream);
    expect(recorder.taken.map((r) => r.stream.id)).toEqual([1, 3, 7]);
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
  });

  it('ends a connection whose client resets more than 1000 streams before their answer began, then more than 33 a second (rapid reset)', async () => {
    let nowMs = 0;
    // Streams on /answered get their response headers at once, as a KeepAliveOnce stream has its answer before the client cancels it.
    const onStream = (stream: H2Stream): void => {
      if (stream.headers[':path'] === '/answered') stream.respond(fieldsBlock(okHeaders));
      else if (stream.headers[':path'] === '/echo') echoStream(stream);
    };
    const { client } = await rawSetup({ onStream, nowMs: () => nowMs });
    let nextId = 1;
    const openAndReset = (path: string, count: number): Buffer[] =>
      Array.from({ length: count }, () => {
        const id = nextId;
        nextId += 2;
        return Buffer.concat([headersFrame(id, requestFields(path), { endStream: true }), rstStreamFrame(id, errorCancel)]);
      });
    client.send(...openAndReset('/answered', 3000));
    client.send(...openAndReset('/hold', unansweredResetBurst));
    await expectServing(client, nextId);
    nextId += 2;
    nowMs += 1000;
    client.send(...openAndReset('/hold', unansweredResetsPerSecond));
    await expectServing(client, nextId);
    nextId += 2;
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
    client.send(...openAndReset('/hold', 1));
    await expectConnectionError(client, errorEnhanceYourCalm);
  });

  it('follows a response completed before the request with RST_STREAM NO_ERROR (§8.1), and drops the rest of the request', async () => {
    const early = (stream: H2Stream): void => {
      if (stream.headers[':path'] !== '/early') {
        echoStream(stream);
        return;
      }
      stream.attach(() => undefined, () => undefined);
      stream.respond(fieldsBlock(okHeaders));
      stream.write(Buffer.from('early answer'));
      stream.end(fieldsBlock(okTrailers));
    };
    const { client } = await rawSetup({ onStream: early });
    client.send(headersFrame(1, requestFields('/early')), dataFrame(1, 'part one'));
    const response = await client.waitForResponse(1);
    expect(response.data.toString()).toBe('early answer');
    expect(response.trailers).toEqual({ 'grpc-status': '0' });
    expect(await client.waitForRst(1)).toBe(errorNoError);
    const rst = client.frames.find((f) => f.type === frameRstStream && f.streamId === 1)!;
    expect(rst.index).toBeGreaterThan(response.blocks[1]!.index);
    client.send(dataFrame(1, 'part two', { endStream: true }));
    await expectServing(client, 3);
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
    expect(client.frames.filter((f) => f.streamId === 1).map((f) => f.type)).toEqual([frameHeaders, frameData, frameHeaders, frameRstStream]);
  });

  it('node:http2 takes a complete early response followed by RST_STREAM NO_ERROR without an error', async () => {
    const server = await startServer({
      onStream: (stream) => {
        stream.attach(() => undefined, () => undefined);
        setTimeout(() => {
          stream.respond(fieldsBlock(okHeaders));
          stream.write(Buffer.from('early'));
          stream.end(fieldsBlock(okTrailers));
        }, 20);
      },
    });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port);
    const { response } = nodeRequest(session, '/early', { body: 'not finished', keepOpen: true });
    const result = await response;
    expect(result.data.toString()).toBe('early');
    expect(result.trailers?.['grpc-status']).toBe('0');
    expect(result.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
  });

  it('sends nothing after a trailers-only answer given inside onStream to a request that came with END_STREAM', async () => {
    const { client } = await rawSetup({
      onStream: (stream) => {
        if (stream.headers[':path'] === '/unimplemented') {
          stream.respond(fieldsBlock([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '12']]), true);
        } else {
          echoStream(stream);
        }
      },
    });
    client.send(headersFrame(1, requestFields('/unimplemented'), { endStream: true }));
    const response = await client.waitForResponse(1);
    expect(response.headers?.['grpc-status']).toBe('12');
    await expectServing(client, 3);
    // Found here: the stream is closed once both sides sent END_STREAM (§5.1: "An endpoint MUST NOT
    // send frames other than PRIORITY on a closed stream"), also when onStream answers at once a
    // request whose HEADERS carried END_STREAM: no RST_STREAM may follow the answer.
    expect(client.frames.filter((f) => f.streamId === 1).map((f) => [f.type, f.flags])).toEqual([[frameHeaders, flagEndHeaders | flagEndStream]]);
  });

  it('ignores trailers the client sent before it could see our RST_STREAM REFUSED_STREAM', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream, maxConcurrentStreams: 1 });
    client.send(headersFrame(1, requestFields('/hold'), { endStream: true }));
    await waitFor(() => recorder.taken.length === 1, 'stream 1');
    // A whole request with trailers in one write: the client cannot have seen the RST_STREAM.
    client.send(headersFrame(3, requestFields('/hold')), dataFrame(3, 'body'), headersFrame(3, [['x-trailer', '1']], { endStream: true }));
    expect(await client.waitForRst(3)).toBe(errorRefusedStream);
    await sleep(50);
    // §5.1 (closed): "An endpoint that sends a RST_STREAM frame on a stream that is in the 'open'
    // or 'half-closed (local)' state could receive any type of frame ... An endpoint MUST minimally
    // process and then discard any frames it receives in this state." (Before d00560d these
    // trailers got GOAWAY STREAM_CLOSED, killing every stream on the connection.)
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
    recorder.taken[0]!.stream.respond(fieldsBlock(okHeaders), true);
    expect((await client.waitForResponse(1)).headers?.[':status']).toBe('200');
  });

  it('ignores trailers that follow a request answered early and reset with NO_ERROR', async () => {
    const { client } = await rawSetup({
      onStream: (stream) => {
        if (stream.headers[':path'] !== '/early') {
          echoStream(stream);
          return;
        }
        stream.respond(fieldsBlock(okHeaders));
        stream.end(fieldsBlock(okTrailers));
      },
    });
    client.send(headersFrame(1, requestFields('/early')), dataFrame(1, 'body'), headersFrame(1, [['x-trailer', '1']], { endStream: true }));
    await client.waitForResponse(1);
    await sleep(50);
    // As above: the trailers cross our RST_STREAM NO_ERROR and must be discarded.
    expect(client.count((f) => f.type === frameGoaway)).toBe(0);
    await expectServing(client, 3);
  });

  it('answers HEADERS on a half-closed (remote) stream with RST_STREAM STREAM_CLOSED (§5.1)', async () => {
    const recorder = streamRecorder();
    const { client } = await rawSetup({ onStream: recorder.onStream });
    client.send(headersFrame(1, requestFields('/hold'), { endStream: true }));
    await waitFor(() => recorder.taken[0]?.ended === true, 'stream 1');
    client.send(headersFrame(1, [['x-trailer', '1']], { endStream: true }));
    const code = await client.waitForRst(1);
    await expectServing(client, 3);
    // Found here: §5.1 half-closed (remote): "If an endpoint receives additional frames, other than
    // WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in this state, it MUST respond
    // with a stream error of type STREAM_CLOSED."
    expect(code).toBe(errorStreamClosed);
  });

  it('answers HEADERS reusing the id of a stream that ended normally on both sides with a connection error', async () => {
    const { client } = await rawSetup();
    await expectServing(client, 1);
    await sleep(20);
    client.send(headersFrame(1, requestFields('/echo'), { endStream: true }));
    // Found here: stream 1 is closed by END_STREAM both ways, no RST_STREAM involved, so these
    // HEADERS can only be a new stream on a used id: §5.1.1 "An endpoint that receives an unexpected
    // stream identifier MUST respond with a connection error of type PROTOCOL_ERROR" (§5.1 also
    // allows STREAM_CLOSED for frames on a closed stream). Dropping it would leave the client waiting.
    const goaway = await client.waitForGoaway(1000);
    expect([errorProtocol, errorStreamClosed]).toContain(goaway.code);
    expect(goaway.lastStreamId).toBe(1);
    await client.waitClosed();
  });

  it('answers HEADERS with a stream id lower than one already used with GOAWAY PROTOCOL_ERROR (§5.1.1)', async () => {
    const { client } = await rawSetup();
    await expectServing(client, 5);
    client.send(headersFrame(3, requestFields('/echo'), { endStream: true }));
    // Found here: stream 3 was never opened (stream 5 implicitly closed it, §5.1.1), so it cannot be
    // frames crossing one of our RST_STREAMs; "an unexpected stream identifier MUST" get a
    // connection error PROTOCOL_ERROR. (Trailers crossing our RST_STREAM are told apart by the ids
    // we reset before the client ended them.)
    await expectConnectionError(client, errorProtocol, 5, 1000);
  });

  it('calls onClose once the connection is gone, after every open stream had its onclose', async () => {
    const order: string[] = [];
    let opened = 0;
    const { client, connection } = await rawSetup({
      onStream: (stream) => {
        opened++;
        stream.onclose = () => order.push(`stream ${stream.id}`);
        stream.attach(() => undefined, () => undefined);
      },
      onClose: () => order.push('connection'),
    });
    client.send(headersFrame(1, requestFields('/hold')), headersFrame(3, requestFields('/hold')));
    await waitFor(() => opened === 2, 'two streams');
    expect(connection.openStreamCount).toBe(2);
    client.destroy();
    await waitFor(() => order.includes('connection'), 'onClose');
    expect(order).toEqual(['stream 1', 'stream 3', 'connection']);
  });
});

// =====================================================================================

describe('closeGracefully()', () => {
  it('sends GOAWAY NO_ERROR with the last stream id, lets open streams finish, refuses new ones, then closes', async () => {
    const recorder = streamRecorder();
    const { client, connection } = await rawSetup({ onStream: recorder.onStream });
    await expectServing(client, 1);
    client.send(headersFrame(3, requestFields('/hold'), { endStream: true }));
    await waitFor(() => recorder.taken.length === 1, 'stream 3');
    let resolved = false;
    const closing = connection.closeGracefully(5000).then(() => {
      resolved = true;
    });
    const goaway = await client.waitForGoaway();
    expect(goaway).toMatchObject({ lastStreamId: 3, code: errorNoError });
    // A new stream is refused; the connection still answers PING and serves stream 3.
    client.send(headersFrame(5, requestFields('/echo'), { endStream: true }), pingFrame(Buffer.alloc(8, 7)));
    expect(await client.waitForRst(5)).toBe(errorRefusedStream);
    await client.waitForFrame((f) => f.type === framePing && (f.flags & flagAck) !== 0, 'the PING ACK');
    expect(recorder.taken.length).toBe(1);
    await sleep(50);
    expect(client.closed).toBe(false);
    expect(resolved).toBe(false);
    const held = recorder.taken[0]!.stream;
    held.respond(fieldsBlock(okHeaders));
    held.write(Buffer.from('finished during the grace'));
    held.end(fieldsBlock(okTrailers));
    const response = await client.waitForResponse(3);
    expect(response.data.toString()).toBe('finished during the grace');
    expect(response.trailers).toEqual({ 'grpc-status': '0' });
    await client.waitClosed();
    await closing;
    expect(connection.openStreamCount).toBe(0);
    expect(client.count((f) => f.type === frameGoaway)).toBe(1);
  });

  it('drops streams still open after graceMs', async () => {
    const recorder = streamRecorder();
    const { client, connection } = await rawSetup({ onStream: recorder.onStream });
    client.send(headersFrame(1, requestFields('/hold'), { endStream: true }));
    await waitFor(() => recorder.taken.length === 1, 'stream 1');
    const started = Date.now();
    await connection.closeGracefully(150);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(2000);
    expect(recorder.taken[0]!.closed).toBe(true);
    expect((await client.waitForGoaway())).toMatchObject({ lastStreamId: 1, code: errorNoError });
    await client.waitClosed();
    expect(client.response(1).headers).toBeUndefined();
  });

  it('closes at once when no stream is open, and resolves again once closed', async () => {
    const { client, connection } = await rawSetup();
    await expectServing(client, 1);
    await connection.closeGracefully(5000);
    expect(await client.waitForGoaway()).toMatchObject({ lastStreamId: 1, code: errorNoError });
    await client.waitClosed();
    await connection.closeGracefully(5000);
  });

  it('node:http2 sees the GOAWAY, finishes its open stream, and cannot open new ones', async () => {
    const recorder = streamRecorder();
    const server = await startServer({ onStream: recorder.onStream });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port);
    const goaway = new Promise<[number, number]>((resolve) => session.once('goaway', (code, lastStreamId) => resolve([code, lastStreamId])));
    const { response } = nodeRequest(session, '/hold', { body: 'x' });
    await waitFor(() => recorder.taken[0]?.ended === true, 'the request');
    const closing = server.connections[0]!.closeGracefully(5000);
    expect(await goaway).toEqual([errorNoError, 1]);
    expect(() => session.request({ ':path': '/echo' })).toThrow();
    const held = recorder.taken[0]!.stream;
    held.respond(fieldsBlock(okHeaders));
    held.end(fieldsBlock(okTrailers));
    const result = await response;
    expect(result.trailers?.['grpc-status']).toBe('0');
    await closing;
  });
});

// =====================================================================================

describe('end to end with node:http2', () => {
  it('answers 200 concurrent streams on one connection', async () => {
    const server = await startServer({ onStream: echoStream });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port);
    const results = await Promise.all(Array.from({ length: 200 }, (_, index) => nodeRequest(session, `/echo/${index}`, { body: `request ${index} `.repeat(index % 7 + 1) }).response));
    results.forEach((result, index) => {
      expect(result.headers[':status']).toBe(200);
      expect(result.headers['x-path']).toBe(`/echo/${index}`);
      expect(result.data.toString()).toBe(`request ${index} `.repeat(index % 7 + 1));
      expect(result.trailers?.['grpc-status']).toBe('0');
    });
    expect(server.connections.length).toBe(1);
  });

  it('applies decorateHeaders to every request before onStream sees it', async () => {
    const seen: H2RequestHeaders[] = [];
    const server = await startServer({
      decorateHeaders: (headers) => {
        headers['x-decorated'] = 'yes';
        delete headers['x-secret'];
      },
      onStream: (stream) => {
        seen.push({ ...stream.headers });
        echoStream(stream);
      },
    });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port);
    await Promise.all(Array.from({ length: 20 }, (_, index) => nodeRequest(session, `/echo/${index}`, { headers: { 'x-secret': 'from the client' } }).response));
    const client = await RawClient.connect(server.port);
    cleanups.push(() => client.destroy());
    client.send(clientHandshake());
    await expectServing(client, 1);
    expect(seen.length).toBe(21);
    for (const headers of seen) {
      expect(headers['x-decorated']).toBe('yes');
      expect(headers['x-secret']).toBeUndefined();
    }
  });

  it('answers a client whose SETTINGS_HEADER_TABLE_SIZE is below 4096', async () => {
    const server = await startServer({ onStream: echoStream });
    cleanups.push(() => server.close());
    const session = await nodeSession(server.port, { headerTableSize: 0 });
    // Found here: RFC 7541 §4.2: after the client lowers SETTINGS_HEADER_TABLE_SIZE below the table
    // size the encoder uses (4096 until then), "this dynamic table size update MUST occur at the
    // beginning of the first header block following the change"; without it nghttp2 (node, curl,
    // Envoy...) rejects our first response header block with COMPRESSION_ERROR.
    const result = await nodeRequest(session, '/echo', { body: 'small table', timeoutMs: 1500 }).response;
    expect(result.headers[':status']).toBe(200);
    expect(result.data.toString()).toBe('small table');
  });

  it('raw check: after SETTINGS_HEADER_TABLE_SIZE 0, the first response header block starts with a table size update', async () => {
    const { client } = await rawSetup({ clientSettings: [[settingHeaderTableSize, 0]] });
    client.send(headersFrame(1, requestFields('/echo'), { endStream: true }));
    const response = await client.waitForResponse(1);
    const headersFrameOf1 = response.frames.find((f) => f.type === frameHeaders)!;
    // See above: the block must start with a size update (001xxxxx), not the ':status: 200' literal.
    expect(headersFrameOf1.payload[0]! & 0xe0).toBe(0x20);
  });
});
