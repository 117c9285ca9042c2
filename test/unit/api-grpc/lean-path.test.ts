// The lean path (unary calls, and the bidi streams on LeanDuplexCall) must answer exactly as grpc-js would: the same server is run twice, once bound
// by grpc-js (every call through grpc-js) and once behind the connection injector (unary calls on
// the lean path), and raw HTTP/2 requests — well-formed and not — must get the same status line,
// response headers, body and trailers from both.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdError } from '../../../src/errors.js';
import { leanPathCallCount } from '../../../src/api/grpc/lean-path.js';
import { EventType } from '../../../src/mvcc/types.js';
import type { WatchStreamResponse } from '../../../src/watch/types.js';
import { maxRequestBytes, ScriptedServer, startServer, until } from './harness.js';

interface RawAnswer {
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  body: Buffer;
}

/** One request on its own HTTP/2 connection; `frames` are written as DATA, then the stream ends. */
function rawCall(port: number, path: string, frames: Buffer[], extraHeaders: Record<string, string> = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const request = session.request({
      ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extraHeaders,
    });
    const answer: RawAnswer = { headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    request.on('response', (headers) => { answer.headers = comparable(headers); });
    request.on('trailers', (trailers) => { answer.trailers = comparable(trailers); });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', reject);
    request.on('close', () => {
      answer.body = Buffer.concat(chunks);
      session.close();
      resolve(answer);
    });
    for (const frame of frames) request.write(frame);
    request.end();
  });
}

/** Headers without the ones that differ by time. */
function comparable(headers: http2.IncomingHttpHeaders): Record<string, unknown> {
  const { date: _date, ...rest } = headers;
  return rest;
}

function grpcFrame(message: Buffer, declaredBytes = message.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declaredBytes, 1);
  return Buffer.concat([prefix, message]);
}

// RangeRequest{key: "k"} and PutRequest{key: "k", value: "v"}.
const rangeK = Buffer.from([0x0a, 0x01, 0x6b]);

/** An empty Range answer that takes `ms` to come. */
function emptyRangeAfter(ms: number): Promise<unknown> {
  return new Promise((resolve) => setTimeout(() => resolve({
    header: { clusterId: 1n, memberId: 1n, revision: 1, raftTerm: 1 }, result: { kvs: [], more: false, count: 0, revision: 1 },
  }), ms));
}
const putKV = Buffer.from([0x0a, 0x01, 0x6b, 0x12, 0x01, 0x76]);

let server: ScriptedServer;
let viaListener: Awaited<ReturnType<typeof startServer>>;
let viaGrpcJs: Awaited<ReturnType<typeof startServer>>;

beforeAll(async () => {
  server = new ScriptedServer();
  viaListener = await startServer(server, 'listener');
  viaGrpcJs = await startServer(server, 'grpc-js');
});
afterAll(async () => {
  await viaListener.stop();
  await viaGrpcJs.stop();
});

async function both(path: string, frames: Buffer[], headers: Record<string, string> = {}): Promise<[RawAnswer, RawAnswer]> {
  const before = leanPathCallCount();
  const lean = await rawCall(viaListener.port, path, frames, headers);
  expect(leanPathCallCount(), 'the listener-side call took the lean path').toBe(before + 1);
  const reference = await rawCall(viaGrpcJs.port, path, frames, headers);
  expect(leanPathCallCount(), 'grpc-js bound server never takes the lean path').toBe(before + 1);
  return [lean, reference];
}

describe('the lean unary path answers as grpc-js does', () => {
  it('a well-formed Range and Put: same headers, message and trailers', async () => {
    for (const [path, message] of [['/etcdserverpb.KV/Range', rangeK], ['/etcdserverpb.KV/Put', putKV]] as const) {
      const [lean, reference] = await both(path, [grpcFrame(message)]);
      expect(lean).toEqual(reference);
      expect(lean.trailers['grpc-status']).toBe('0');
      expect(lean.body.length).toBeGreaterThan(5);
    }
  });

  it('a message split over many DATA frames', async () => {
    const frame = grpcFrame(putKV);
    const pieces = [...frame].map((byte) => Buffer.from([byte]));
    const [lean, reference] = await both('/etcdserverpb.KV/Put', pieces);
    expect(lean).toEqual(reference);
    expect(lean.trailers['grpc-status']).toBe('0');
  });

  it('an etcd error: a trailers-only answer with the same code and text', async () => {
    server.answers.put = () => { throw new EtcdError('KeyNotFound'); };
    try {
      const [lean, reference] = await both('/etcdserverpb.KV/Put', [grpcFrame(putKV)]);
      expect(lean).toEqual(reference);
      expect(lean.headers['grpc-message']).toBe(encodeURI('etcdserver: key not found'));
    } finally {
      delete server.answers.put;
    }
  });

  it('no request message, a second message, a truncated message', async () => {
    for (const frames of [[], [grpcFrame(rangeK), grpcFrame(rangeK)], [grpcFrame(rangeK, 10)]]) {
      const [lean, reference] = await both('/etcdserverpb.KV/Range', frames);
      expect(lean).toEqual(reference);
      expect(lean.headers['grpc-status']).toBe('12');
    }
  });

  it('a message declared larger than the limit', async () => {
    const declared = maxRequestBytes + 512 * 1024 + 1;
    const [lean, reference] = await both('/etcdserverpb.KV/Put', [grpcFrame(putKV, declared)]);
    expect(lean).toEqual(reference);
    expect(lean.headers['grpc-status']).toBe('8');
  });

  it('garbage bytes as the message', async () => {
    const [lean, reference] = await both('/etcdserverpb.KV/Put', [grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0x07]))]);
    expect(lean).toEqual(reference);
    expect(lean.headers['grpc-status']).toBe('13');
  });

  it('an unreadable grpc-timeout', async () => {
    const [lean, reference] = await both('/etcdserverpb.KV/Range', [grpcFrame(rangeK)], { 'grpc-timeout': 'soon' });
    expect(lean).toEqual(reference);
    expect(lean.headers['grpc-status']).toBe('13');
  });

  it('a deadline that passes before the answer', async () => {
    server.answers.range = () => emptyRangeAfter(300);
    try {
      const [lean, reference] = await both('/etcdserverpb.KV/Range', [grpcFrame(rangeK)], { 'grpc-timeout': '20m' });
      expect(lean).toEqual(reference);
      expect(lean.headers['grpc-status']).toBe('4');
      expect(lean.headers['grpc-message']).toBe(encodeURI('Deadline exceeded'));
    } finally {
      delete server.answers.range;
    }
  });
});

// LeaseKeepAliveRequest{ID: 7}.
const keepAlive7 = Buffer.from([0x08, 0x07]);
// WatchRequest{create_request: {key: "k"}}.
const watchCreateK = Buffer.from([0x0a, 0x03, 0x0a, 0x01, 0x6b]);

describe('the lean bidi path answers as grpc-js does', () => {
  it('LeaseKeepAlive: two requests in one DATA frame, then a half-close', async () => {
    const [lean, reference] = await both('/etcdserverpb.Lease/LeaseKeepAlive', [Buffer.concat([grpcFrame(keepAlive7), grpcFrame(keepAlive7)])]);
    expect(lean).toEqual(reference);
    expect(lean.trailers['grpc-status']).toBe('0');
    // Two length-prefixed responses.
    const first = lean.body.readUInt32BE(1);
    expect(lean.body.length).toBe(2 * (5 + first));
  });

  it('LeaseKeepAlive: a request split byte by byte', async () => {
    const pieces = [...grpcFrame(keepAlive7)].map((byte) => Buffer.from([byte]));
    const [lean, reference] = await both('/etcdserverpb.Lease/LeaseKeepAlive', pieces);
    expect(lean).toEqual(reference);
  });

  it('LeaseKeepAlive: no request, garbage, an oversized message, an etcd error', async () => {
    server.answers.leaseKeepAlive = () => { throw new EtcdError('LeaseNotFound'); };
    try {
      const cases = [
        [],
        [grpcFrame(Buffer.from([0xff, 0xff, 0xff, 0x07]))],
        [grpcFrame(keepAlive7, maxRequestBytes + 512 * 1024 + 1)],
        [grpcFrame(keepAlive7)],
      ];
      for (const frames of cases) {
        const [lean, reference] = await both('/etcdserverpb.Lease/LeaseKeepAlive', frames);
        expect(lean).toEqual(reference);
      }
    } finally {
      delete server.answers.leaseKeepAlive;
    }
  });

  it('Watch: a create request then a half-close; and an unreadable grpc-timeout', async () => {
    const [lean, reference] = await both('/etcdserverpb.Watch/Watch', [grpcFrame(watchCreateK)]);
    expect(lean).toEqual(reference);
    const [leanTimeout, referenceTimeout] = await both('/etcdserverpb.Watch/Watch', [grpcFrame(watchCreateK)], { 'grpc-timeout': 'x' });
    expect(leanTimeout).toEqual(referenceTimeout);
    expect(leanTimeout.headers['grpc-status']).toBe('13');
  });
});

/**
 * A Watch call whose server side sends `responses` all at once after the create request; the
 * answer, and how many DATA chunks its body came in.
 */
async function watchSending(port: number, responses: WatchStreamResponse[]): Promise<RawAnswer & { chunks: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const request = session.request({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    const answer = { headers: {}, trailers: {}, body: Buffer.alloc(0), chunks: 0 };
    const chunks: Buffer[] = [];
    request.on('response', (headers) => { answer.headers = comparable(headers); });
    request.on('trailers', (trailers) => { answer.trailers = comparable(trailers); });
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise<void>((resolve, reject) => {
      request.on('error', reject);
      request.on('close', () => resolve());
    });
    const before = server.watchStreams.length;
    request.write(grpcFrame(watchCreateK));
    await until(() => server.watchStreams.length > before && server.watchStreams[before]!.commands.length === 1);
    const stream = server.watchStreams[before]!;
    for (const response of responses) stream.send(response);
    await until(() => Buffer.concat(chunks).length > 0);
    request.end();
    await closed;
    answer.body = Buffer.concat(chunks);
    answer.chunks = chunks.length;
    return answer;
  } finally {
    session.close();
  }
}

describe('Watch responses on the lean path', () => {
  it('responses sent together arrive in one DATA frame, with the bytes grpc-js sends one message at a time', async () => {
    const kv = { key: Buffer.from('k'), value: Buffer.from('v'), createRevision: 2, modRevision: 2, version: 1, lease: 0n };
    const responses = Array.from({ length: 20 }, (_, watchId): WatchStreamResponse => ({
      revision: 2, watchId, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false,
      events: [{ type: EventType.PUT, kv }],
    }));
    const lean = await watchSending(viaListener.port, responses);
    const reference = await watchSending(viaGrpcJs.port, responses);
    expect(lean.body.equals(reference.body)).toBe(true);
    expect({ ...lean, chunks: 0 }).toEqual({ ...reference, chunks: 0 });
    expect(lean.trailers['grpc-status']).toBe('0');
    expect(lean.chunks).toBe(1);
  });
});

describe('what stays with grpc-js', () => {
  it('a compressed request and an unknown method never take the lean path', async () => {
    const before = leanPathCallCount();
    const compressed = await rawCall(viaListener.port, '/etcdserverpb.KV/Range', [grpcFrame(rangeK)], { 'grpc-encoding': 'gzip' });
    const unknown = await rawCall(viaListener.port, '/etcdserverpb.KV/Nope', [grpcFrame(rangeK)]);
    expect(leanPathCallCount()).toBe(before);
    // The uncompressed flag with a gzip header is fine for grpc-js: it reads the message as is.
    expect(compressed.trailers['grpc-status']).toBe('0');
    expect(unknown.headers['grpc-status']).toBe('12');
  });

  it('a client that resets its stream mid-call leaves the server serving', async () => {
    server.answers.range = () => emptyRangeAfter(100);
    try {
      const session = http2.connect(`http://127.0.0.1:${viaListener.port}`);
      const request = session.request({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
      request.on('error', () => {});
      request.end(grpcFrame(rangeK));
      await new Promise((resolve) => setTimeout(resolve, 20));
      request.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise((resolve) => setTimeout(resolve, 200));
      session.close();
    } finally {
      delete server.answers.range;
    }
    const after = await rawCall(viaListener.port, '/etcdserverpb.KV/Range', [grpcFrame(rangeK)]);
    expect(after.trailers['grpc-status']).toBe('0');
  });
});
