// The frame rewriter on recorded etcdctl connections and on hand-built frames: header blocks come
// out re-encoded with a repaired :authority and no indexing, every other frame byte for byte, the
// result does not depend on how the bytes were chunked, and nghttp2 accepts what it refused before.
import http2 from 'node:http2';
import { Duplex } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ClientFrameRewriter, frameHeaderBlock } from '../../../src/api/listener/client-frame-rewriter.js';
import { HpackDecoder } from '../../../src/api/listener/hpack-decoder.js';
import { encodeHeaderBlock } from '../../../src/api/listener/hpack-encoder.js';
import { Http2ParseError } from '../../../src/api/listener/hpack-error.js';
import { clientPreface, readFrameHeader, type FrameHeader } from '../../../src/api/listener/http2-frames.js';
import { frame, lockConnection, splitAt, statusConnection } from './http2-test-bytes.js';


interface Frame extends FrameHeader {
  payload: Buffer;
}

function parseFrames(bytes: Buffer): Frame[] {
  expect(bytes.subarray(0, clientPreface.length)).toEqual(clientPreface);
  const frames: Frame[] = [];
  let offset = clientPreface.length;
  while (offset < bytes.length) {
    const header = readFrameHeader(bytes, offset);
    frames.push({ ...header, payload: bytes.subarray(offset + 9, offset + 9 + header.lengthBytes) });
    offset += 9 + header.lengthBytes;
  }
  expect(offset).toBe(bytes.length);
  return frames;
}

function rewrite(chunks: Buffer[]): { output: Buffer; rewriter: ClientFrameRewriter } {
  const out: Buffer[] = [];
  const rewriter = new ClientFrameRewriter((chunk) => out.push(Buffer.from(chunk)));
  for (const chunk of chunks) rewriter.write(chunk);
  return { output: Buffer.concat(out), rewriter };
}

const requestFields = (authority: string) => [
  { name: ':method', value: 'POST', neverIndexed: false },
  { name: ':scheme', value: 'http', neverIndexed: false },
  { name: ':path', value: '/etcdserverpb.KV/Range', neverIndexed: false },
  { name: ':authority', value: authority, neverIndexed: false },
  { name: 'content-type', value: 'application/grpc', neverIndexed: false },
];

describe('ClientFrameRewriter on recorded etcdctl connections', () => {
  it('repairs the http:// authority of endpoint status and forwards every other frame unchanged', () => {
    const { output, rewriter } = rewrite([statusConnection]);
    expect(rewriter.authorityRepairCount).toBe(1);
    const before = parseFrames(statusConnection);
    const after = parseFrames(output);
    expect(after.map((f) => [f.type, f.streamId, f.flags])).toEqual(before.map((f) => [f.type, f.streamId, f.flags]));
    const clientDecoder = new HpackDecoder();
    const serverDecoder = new HpackDecoder();
    for (let i = 0; i < before.length; i++) {
      if (before[i]!.type !== 0x1) {
        expect(after[i]!.payload).toEqual(before[i]!.payload);
        continue;
      }
      const sent = clientDecoder.decode(before[i]!.payload);
      const received = serverDecoder.decode(after[i]!.payload);
      expect(sent.find((f) => f.name === ':authority')!.value).toBe('http://127.0.0.1:23893');
      expect(received.find((f) => f.name === ':authority')!.value).toBe('127.0.0.1:23893');
      expect(received.filter((f) => f.name !== ':authority')).toEqual(sent.filter((f) => f.name !== ':authority'));
    }
    expect(serverDecoder.tableEntryCount).toBe(0);
  });

  it('keeps the client dynamic table across RPCs of one connection and leaves the server table empty', () => {
    const { output, rewriter } = rewrite([lockConnection]);
    expect(rewriter.authorityRepairCount).toBe(0);
    const before = parseFrames(lockConnection).filter((f) => f.type === 0x1);
    const after = parseFrames(output).filter((f) => f.type === 0x1);
    expect(before.length).toBe(4);
    const clientDecoder = new HpackDecoder();
    const serverDecoder = new HpackDecoder();
    const paths: string[] = [];
    for (let i = 0; i < before.length; i++) {
      const sent = clientDecoder.decode(before[i]!.payload);
      expect(serverDecoder.decode(after[i]!.payload)).toEqual(sent);
      paths.push(sent.find((f) => f.name === ':path')!.value);
    }
    expect(paths).toEqual(['/etcdserverpb.Lease/LeaseGrant', '/etcdserverpb.Lease/LeaseKeepAlive', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange']);
    expect(clientDecoder.tableEntryCount).toBeGreaterThan(0);
    expect(serverDecoder.tableEntryCount).toBe(0);
  });

  it('gives the same bytes however the input is chunked', () => {
    for (const connection of [statusConnection, lockConnection]) {
      const whole = rewrite([connection]).output;
      const byByte = rewrite([...connection].map((octet) => Buffer.from([octet]))).output;
      expect(byByte).toEqual(whole);
      fc.assert(
        fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
          expect(rewrite(splitAt(connection, cuts)).output).toEqual(whole);
        }),
        { numRuns: 200 },
      );
    }
  });

  it('passes forwarded frames as slices of the input, not copies', () => {
    const emitted: Buffer[] = [];
    const rewriter = new ClientFrameRewriter((chunk) => emitted.push(chunk));
    const ping = frame({ type: 0x6, flags: 0, streamId: 0 }, Buffer.alloc(8, 7));
    const data = frame({ type: 0x0, flags: 1, streamId: 1 }, Buffer.alloc(100, 1));
    const input = Buffer.concat([clientPreface, ping, data]);
    rewriter.write(input);
    expect(emitted.length).toBe(1);
    expect(emitted[0]!.buffer).toBe(input.buffer);
    expect(emitted[0]).toEqual(input);
  });
});

describe('ClientFrameRewriter on built frames', () => {
  it('drops padding and priority from a HEADERS frame it rewrites and keeps END_STREAM', () => {
    const block = encodeHeaderBlock(requestFields('http://localhost:2379/x'));
    const padBytes = 6;
    const payload = Buffer.concat([Buffer.from([padBytes]), Buffer.from([0, 0, 0, 3, 15]), block, Buffer.alloc(padBytes)]);
    const input = Buffer.concat([clientPreface, frame({ type: 0x1, flags: 0x1 | 0x4 | 0x8 | 0x20, streamId: 5 }, payload)]);
    const [headers] = parseFrames(rewrite([input]).output);
    expect(headers!.flags).toBe(0x1 | 0x4);
    expect(headers!.streamId).toBe(5);
    expect(new HpackDecoder().decode(headers!.payload)).toEqual(requestFields('localhost:2379'));
  });

  it('joins CONTINUATION fragments and splits blocks larger than 16 KiB again', () => {
    const fields = [...requestFields('127.0.0.1:1'), { name: 'x-big', value: 'b'.repeat(40_000), neverIndexed: false }];
    const block = encodeHeaderBlock(fields);
    const input = Buffer.concat([
      clientPreface,
      frame({ type: 0x1, flags: 0, streamId: 1 }, block.subarray(0, 100)),
      frame({ type: 0x9, flags: 0, streamId: 1 }, block.subarray(100, 30_000)),
      frame({ type: 0x9, flags: 0x4, streamId: 1 }, block.subarray(30_000)),
      frame({ type: 0x0, flags: 0x1, streamId: 1 }, Buffer.from('body')),
    ]);
    const frames = parseFrames(rewrite([input]).output);
    expect(frames.map((f) => [f.type, f.flags])).toEqual([[0x1, 0], [0x9, 0], [0x9, 0x4], [0x0, 0x1]]);
    expect(frames.slice(0, 3).every((f) => f.lengthBytes <= 16_384)).toBe(true);
    expect(new HpackDecoder().decode(Buffer.concat(frames.slice(0, 3).map((f) => f.payload)))).toEqual(fields);
    expect(frames[3]!.payload.toString()).toBe('body');
  });

  it('frameHeaderBlock writes one frame for an empty block', () => {
    const frames = parseFrames(Buffer.concat([clientPreface, frameHeaderBlock(9, true, Buffer.alloc(0))]));
    expect(frames).toEqual([{ lengthBytes: 0, type: 0x1, flags: 0x5, streamId: 9, payload: Buffer.alloc(0) }]);
  });

  it('refuses what it cannot read, and everything after', () => {
    const headers = (flags: number, payload: Buffer, streamId = 1) => frame({ type: 0x1, flags, streamId }, payload);
    const block = encodeHeaderBlock(requestFields('a'));
    const cases: Array<[string, Buffer]> = [
      ['bad preface', Buffer.from('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n')],
      ['frame inside a header block', Buffer.concat([clientPreface, headers(0, block), frame({ type: 0x6, flags: 0, streamId: 0 }, Buffer.alloc(8))])],
      ['CONTINUATION without HEADERS', Buffer.concat([clientPreface, frame({ type: 0x9, flags: 0x4, streamId: 1 }, block)])],
      ['CONTINUATION on another stream', Buffer.concat([clientPreface, headers(0, block), frame({ type: 0x9, flags: 0x4, streamId: 3 }, block)])],
      ['HEADERS on stream 0', Buffer.concat([clientPreface, headers(0x4, block, 0)])],
      ['padding beyond the payload', Buffer.concat([clientPreface, headers(0x4 | 0x8, Buffer.from([200, 0x82]))])],
      ['bad HPACK', Buffer.concat([clientPreface, headers(0x4, Buffer.from([0x80]))])],
    ];
    for (const [name, input] of cases) {
      const rewriter = new ClientFrameRewriter(() => {});
      expect(() => rewriter.write(input), name).toThrow(Http2ParseError);
      expect(() => rewriter.write(Buffer.from(clientPreface)), name).toThrow(Http2ParseError);
    }
    const small = new ClientFrameRewriter(() => {}, { headerBlockBytesMax: 50 });
    expect(() => small.write(Buffer.concat([clientPreface, headers(0x4, Buffer.alloc(51, 0x82))]))).toThrow(/header block exceeds 50/);
  });
});

describe('ClientFrameRewriter with a SETTINGS ACK owed to the listener', () => {
  const settings = frame({ type: 0x4, flags: 0, streamId: 0 }, Buffer.from([0, 4, 0, 0, 0x40, 0]));
  const ack = frame({ type: 0x4, flags: 0x1, streamId: 0 }, Buffer.alloc(0));
  const ping = frame({ type: 0x6, flags: 0, streamId: 0 }, Buffer.alloc(8, 1));
  const input = Buffer.concat([clientPreface, settings, ping, ack, ping, ack]);

  function rewriteOwing(chunks: Buffer[], settingsAcksToDrop: 0 | 1): Buffer {
    const out: Buffer[] = [];
    const rewriter = new ClientFrameRewriter((chunk) => out.push(Buffer.from(chunk)), { settingsAcksToDrop });
    for (const chunk of chunks) rewriter.write(chunk);
    return Buffer.concat(out);
  }

  it('drops the first SETTINGS ACK only, however the input is chunked', () => {
    const expected = Buffer.concat([clientPreface, settings, ping, ping, ack]);
    expect(rewriteOwing([input], 1)).toEqual(expected);
    for (let cut = 0; cut <= input.length; cut++) expect(rewriteOwing([input.subarray(0, cut), input.subarray(cut)], 1), `cut at ${cut}`).toEqual(expected);
    expect(rewriteOwing([...input].map((octet) => Buffer.from([octet])), 1)).toEqual(expected);
    expect(rewriteOwing([input], 0)).toEqual(input);
  });

  it('refuses an owed ACK with a payload', () => {
    const rewriter = new ClientFrameRewriter(() => {}, { settingsAcksToDrop: 1 });
    expect(() => rewriter.write(Buffer.concat([clientPreface, frame({ type: 0x4, flags: 0x1, streamId: 0 }, Buffer.alloc(6))]))).toThrow(/SETTINGS ACK with a payload/);
  });
});

describe('nghttp2 behind the rewriter', () => {
  /** Feeds client bytes to a node:http2 server and returns the :authority of the streams it accepted. */
  async function acceptedAuthorities(clientBytes: Buffer): Promise<string[]> {
    const server = http2.createServer();
    const authorities: string[] = [];
    const sessionErrors: string[] = [];
    server.on('session', (session) => session.on('error', (error: Error) => sessionErrors.push(error.message)));
    server.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      authorities.push(String(headers[':authority']));
    });
    const connection = new Duplex({ read() {}, write: (_chunk, _encoding, callback) => callback() });
    server.emit('connection', connection);
    connection.push(clientBytes);
    await new Promise((resolve) => setTimeout(resolve, 100));
    connection.destroy();
    server.close();
    if (authorities.length > 0) expect(sessionErrors).toEqual([]);
    return authorities;
  }

  it('refuses the recorded stream as sent and accepts it rewritten', async () => {
    // The recording goes on with acks of the recorded server's PINGs, which a fresh server would
    // rightly call a protocol error: replay up to the request's DATA frame only.
    const frames = parseFrames(statusConnection);
    const requestEnd = clientPreface.length + frames.slice(0, frames.findIndex((f) => f.type === 0x0) + 1).reduce((sum, f) => sum + 9 + f.lengthBytes, 0);
    const request = statusConnection.subarray(0, requestEnd);
    expect(await acceptedAuthorities(request)).toEqual([]);
    expect(await acceptedAuthorities(rewrite([request]).output)).toEqual(['127.0.0.1:23893']);
  });
});
