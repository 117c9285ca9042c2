// The first-request probe on recorded etcdctl connections and on built byte streams: a valid
// :authority chooses the native path and hands over the input minus the one SETTINGS ACK; a URL
// :authority or a claimed verified identity chooses the rewritten path; the verdict waits for both
// the ACK and the whole first header block; chunking never changes verdict or bytes. Then the
// ProbingSocket on a real socket: our SETTINGS go out, a silent client times out onto the rewritten
// path with the ACK still owed, and the rewriter drops that ACK when it comes.
import net from 'node:net';
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientFrameRewriter } from '../../../src/api/listener/client-frame-rewriter.js';
import { FirstRequestProbe, type ProbeVerdict } from '../../../src/api/listener/first-request-probe.js';
import { HpackDecoder, type HeaderField } from '../../../src/api/listener/hpack-decoder.js';
import { encodeHeaderBlock } from '../../../src/api/listener/hpack-encoder.js';
import { Http2ParseError } from '../../../src/api/listener/hpack-error.js';
import { clientPreface, emptySettingsFrame, readFrameHeader } from '../../../src/api/listener/http2-frames.js';
import { ProbingSocket, type ProbeOutcome } from '../../../src/api/listener/probing-socket.js';
import { verifiedCommonNameHeader, verifiedIdentityHeaderPrefix } from '../../../src/api/listener/verified-identity.js';
import { frame, lockConnection, splitAt, statusConnection } from './http2-test-bytes.js';

const headerBlockBytesMax = 256 * 1024;

const clientSettings = frame({ type: 0x4, flags: 0, streamId: 0 }, Buffer.from([0, 2, 0, 0, 0, 0, 0, 4, 0, 0x40, 0, 0]));
const windowUpdate = frame({ type: 0x8, flags: 0, streamId: 0 }, Buffer.from([0, 0x0e, 0, 0x01]));
const settingsAck = frame({ type: 0x4, flags: 0x1, streamId: 0 });
const data = frame({ type: 0x0, flags: 0x1, streamId: 1 }, Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]));

function requestFields(authority: string, extra: HeaderField[] = []): HeaderField[] {
  return [
    { name: ':method', value: 'POST', neverIndexed: false },
    { name: ':scheme', value: 'http', neverIndexed: false },
    { name: ':path', value: '/etcdserverpb.KV/Range', neverIndexed: false },
    { name: ':authority', value: authority, neverIndexed: false },
    { name: 'content-type', value: 'application/grpc', neverIndexed: false },
    ...extra,
  ];
}

function headers(fields: HeaderField[], streamId = 1): Buffer {
  return frame({ type: 0x1, flags: 0x4, streamId }, encodeHeaderBlock(fields));
}

/** Go's order: the ACK of the server's SETTINGS, then the request. */
const goStyle = (fields: HeaderField[]) => [clientPreface, clientSettings, windowUpdate, settingsAck, headers(fields), data];
/** grpc-js's order: the request goes out at once; the ACK comes when our SETTINGS arrive. */
const nodeStyle = (fields: HeaderField[]) => [clientPreface, clientSettings, headers(fields), data, settingsAck];

interface ProbeRun {
  verdict: ProbeVerdict | undefined;
  bytes: Buffer;
  ackSeen: boolean;
}

function probe(chunks: Buffer[]): ProbeRun {
  const instance = new FirstRequestProbe({ headerBlockBytesMax });
  let verdict: ProbeVerdict | undefined;
  for (const chunk of chunks) verdict = instance.write(chunk) ?? verdict;
  return { verdict, bytes: instance.takeBytes(), ackSeen: instance.settingsAckSeen };
}

/** The input with its first SETTINGS ACK frame removed: what the probe must hand over. */
function withoutFirstAck(parts: Buffer[]): Buffer {
  const index = parts.indexOf(settingsAck);
  return Buffer.concat(parts.filter((_, i) => i !== index));
}

function frameTypes(bytes: Buffer): Array<[type: number, flags: number]> {
  expect(bytes.subarray(0, clientPreface.length)).toEqual(clientPreface);
  const types: Array<[number, number]> = [];
  for (let offset = clientPreface.length; offset < bytes.length;) {
    const header = readFrameHeader(bytes, offset);
    types.push([header.type, header.flags]);
    offset += 9 + header.lengthBytes;
  }
  return types;
}

describe('FirstRequestProbe', () => {
  it('chooses native for a valid :authority and hands over the input minus the SETTINGS ACK', () => {
    for (const parts of [goStyle(requestFields('127.0.0.1:2379')), nodeStyle(requestFields('localhost:2379'))]) {
      const run = probe([Buffer.concat(parts)]);
      expect(run.verdict).toEqual({ path: 'native', reason: expect.any(String) });
      expect(run.ackSeen).toBe(true);
      expect(run.bytes).toEqual(withoutFirstAck(parts));
    }
  });

  it('chooses rewritten for the authorities etcdctl 3.4 and clientv3 send', () => {
    for (const authority of ['http://127.0.0.1:2379', 'client-abc/127.0.0.1:2379', 'https://[::1]:2379']) {
      for (const parts of [goStyle(requestFields(authority)), nodeStyle(requestFields(authority))]) {
        const run = probe([Buffer.concat(parts)]);
        expect(run.verdict, authority).toEqual({ path: 'rewritten', reason: 'the first request has an invalid :authority' });
        expect(run.bytes).toEqual(withoutFirstAck(parts));
      }
    }
  });

  it('chooses rewritten when the first request claims a verified identity, and the rewriter strips the claim', () => {
    const claims = [verifiedIdentityHeaderPrefix, `${verifiedIdentityHeaderPrefix}-${'0'.repeat(32)}`, verifiedCommonNameHeader];
    for (const name of claims) {
      const parts = goStyle(requestFields('127.0.0.1:2379', [{ name, value: 'root', neverIndexed: false }]));
      const run = probe([Buffer.concat(parts)]);
      expect(run.verdict, name).toEqual({ path: 'rewritten', reason: 'the first request claims a verified identity' });
      const out: Buffer[] = [];
      new ClientFrameRewriter((chunk) => out.push(Buffer.from(chunk))).write(run.bytes);
      const rewritten = Buffer.concat(out);
      const headersAt = clientPreface.length + clientSettings.length + windowUpdate.length;
      const header = readFrameHeader(rewritten, headersAt);
      expect(header.type).toBe(0x1);
      const fields = new HpackDecoder().decode(rewritten.subarray(headersAt + 9, headersAt + 9 + header.lengthBytes));
      expect(fields).toEqual(requestFields('127.0.0.1:2379'));
    }
  });

  it('waits for the ACK when the request comes first, and for the whole header block when the ACK does', () => {
    const instance = new FirstRequestProbe({ headerBlockBytesMax });
    expect(instance.write(Buffer.concat([clientPreface, clientSettings, headers(requestFields('127.0.0.1:1')), data]))).toBeUndefined();
    expect(instance.settingsAckSeen).toBe(false);
    expect(instance.write(settingsAck)?.path).toBe('native');

    const block = encodeHeaderBlock(requestFields('127.0.0.1:1'));
    const split = new FirstRequestProbe({ headerBlockBytesMax });
    expect(split.write(Buffer.concat([clientPreface, clientSettings, settingsAck]))).toBeUndefined();
    expect(split.settingsAckSeen).toBe(true);
    expect(split.write(frame({ type: 0x1, flags: 0, streamId: 1 }, block.subarray(0, 10)))).toBeUndefined();
    expect(split.write(frame({ type: 0x9, flags: 0, streamId: 1 }, block.subarray(10, 20)))).toBeUndefined();
    expect(split.write(frame({ type: 0x9, flags: 0x4, streamId: 1 }, block.subarray(20)))?.path).toBe('native');
  });

  it('reads padded and prioritised HEADERS, and judges only the first request', () => {
    const block = encodeHeaderBlock(requestFields('http://127.0.0.1:1'));
    const padded = frame({ type: 0x1, flags: 0x4 | 0x8 | 0x20, streamId: 1 }, Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 15]), block, Buffer.alloc(3)]));
    expect(probe([Buffer.concat([clientPreface, clientSettings, padded, settingsAck])]).verdict?.path).toBe('rewritten');
    const later = headers(requestFields('http://127.0.0.1:1'), 3);
    expect(probe([Buffer.concat([clientPreface, clientSettings, headers(requestFields('127.0.0.1:1')), later, settingsAck])]).verdict?.path).toBe('native');
  });

  it('gives the same verdict and bytes however the input is chunked', () => {
    for (const parts of [goStyle(requestFields('127.0.0.1:2379')), nodeStyle(requestFields('http://127.0.0.1:2379'))]) {
      const input = Buffer.concat(parts);
      const whole = probe([input]);
      expect(whole.verdict).toBeDefined();
      for (let cut = 0; cut <= input.length; cut++) {
        expect(probe([input.subarray(0, cut), input.subarray(cut)]), `cut at ${cut}`).toEqual(whole);
      }
      expect(probe([...input].map((octet) => Buffer.from([octet])))).toEqual(whole);
      fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
        expect(probe(splitAt(input, cuts))).toEqual(whole);
      }), { numRuns: 200 });
    }
  });

  it('on recorded etcdctl connections: the http:// endpoint is rewritten, the host:port one native, one ACK removed', () => {
    const status = probe([statusConnection]);
    expect(status.verdict?.path).toBe('rewritten');
    const lock = probe([lockConnection]);
    expect(lock.verdict?.path).toBe('native');
    for (const [input, run] of [[statusConnection, status], [lockConnection, lock]] as const) {
      const before = frameTypes(input);
      const after = frameTypes(run.bytes);
      const firstAck = before.findIndex(([type, flags]) => type === 0x4 && (flags & 0x1) !== 0);
      expect(firstAck).toBeGreaterThan(0);
      expect(after).toEqual(before.filter((_, i) => i !== firstAck));
      expect(run.bytes.length).toBe(input.length - 9);
    }
  });

  it('refuses what it cannot read', () => {
    const block = encodeHeaderBlock(requestFields('a'));
    const cases: Array<[string, Buffer]> = [
      ['bad preface', Buffer.from('PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n')],
      ['SETTINGS ACK with a payload', Buffer.concat([clientPreface, frame({ type: 0x4, flags: 0x1, streamId: 0 }, Buffer.alloc(6))])],
      ['frame inside a header block', Buffer.concat([clientPreface, frame({ type: 0x1, flags: 0, streamId: 1 }, block), settingsAck])],
      ['CONTINUATION without HEADERS', Buffer.concat([clientPreface, frame({ type: 0x9, flags: 0x4, streamId: 1 }, block)])],
      ['HEADERS on stream 0', Buffer.concat([clientPreface, frame({ type: 0x1, flags: 0x4, streamId: 0 }, block)])],
      ['bad HPACK', Buffer.concat([clientPreface, frame({ type: 0x1, flags: 0x4, streamId: 1 }, Buffer.from([0x80]))])],
    ];
    for (const [name, input] of cases) {
      expect(() => new FirstRequestProbe({ headerBlockBytesMax }).write(input), name).toThrow(Http2ParseError);
    }
    const small = new FirstRequestProbe({ headerBlockBytesMax: 50 });
    expect(() => small.write(Buffer.concat([clientPreface, frame({ type: 0x1, flags: 0x4, streamId: 1 }, Buffer.alloc(51, 0x82))]))).toThrow(/header block exceeds 50/);
  });
});

describe('ProbingSocket on a real socket', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });

  /** A connected pair: the server side is probed, the client side is returned with what it receives. */
  async function probedPair(timeoutMs: number, firstBytes: Buffer): Promise<{ client: net.Socket; received: () => Buffer; outcome: Promise<ProbeOutcome>; server: net.Socket }> {
    const listener = net.createServer();
    cleanups.push(() => listener.close());
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const accepted = new Promise<net.Socket>((resolve) => listener.once('connection', resolve));
    const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
    cleanups.push(() => client.destroy());
    const receivedChunks: Buffer[] = [];
    client.on('data', (chunk) => receivedChunks.push(chunk));
    const server = await accepted;
    cleanups.push(() => server.destroy());
    server.pause();
    const outcome = new Promise<ProbeOutcome>((resolve) => {
      new ProbingSocket(server, firstBytes, { headerBlockBytesMax, timeoutMs, logger: pino({ level: 'silent' }) }, resolve).start();
    });
    return { client, received: () => Buffer.concat(receivedChunks), outcome, server };
  }

  it('sends an empty SETTINGS first and decides native once the ACK and the request arrive', async () => {
    const parts = nodeStyle(requestFields('127.0.0.1:2379'));
    const { client, received, outcome } = await probedPair(5_000, Buffer.concat([clientPreface, clientSettings]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received()).toEqual(emptySettingsFrame);
    client.write(Buffer.concat(parts.slice(2)));
    const decided = await outcome;
    expect(decided).toMatchObject({ path: 'native', settingsAckOwed: false });
    expect(decided.bytes).toEqual(withoutFirstAck(parts));
  });

  it('times out onto the rewritten path with the ACK owed, which the rewriter then drops', async () => {
    const { client, outcome, server } = await probedPair(50, Buffer.concat([clientPreface, clientSettings]));
    const decided = await outcome;
    expect(decided).toMatchObject({ path: 'rewritten', settingsAckOwed: true, reason: 'no first request within 50 ms' });
    expect(decided.bytes).toEqual(Buffer.concat([clientPreface, clientSettings]));
    expect(server.isPaused()).toBe(true);

    // The late ACK of our SETTINGS, the request, and the ACK of the server session's own SETTINGS.
    const late = Buffer.concat([settingsAck, headers(requestFields('127.0.0.1:2379')), data, settingsAck]);
    client.write(late);
    const lateBytes = await new Promise<Buffer>((resolve) => {
      let seen = Buffer.alloc(0);
      server.on('data', (chunk: Buffer) => {
        seen = Buffer.concat([seen, chunk]);
        if (seen.length === late.length) resolve(seen);
      });
      server.resume();
    });
    for (const cut of [0, 5, 9, 20]) {
      const out: Buffer[] = [];
      const rewriter = new ClientFrameRewriter((chunk) => out.push(Buffer.from(chunk)), { settingsAcksToDrop: decided.settingsAckOwed ? 1 : 0 });
      rewriter.write(decided.bytes);
      rewriter.write(lateBytes.subarray(0, cut));
      rewriter.write(lateBytes.subarray(cut));
      expect(frameTypes(Buffer.concat(out)), `cut at ${cut}`).toEqual([[0x4, 0], [0x1, 0x4], [0x0, 0x1], [0x4, 0x1]]);
    }
  });

  it('closes the connection on bytes it cannot read', async () => {
    const { client } = await probedPair(5_000, Buffer.concat([clientPreface, frame({ type: 0x9, flags: 0x4, streamId: 1 }, Buffer.from([0x82]))]));
    await new Promise((resolve) => client.once('close', resolve));
    expect(client.destroyed).toBe(true);
  });
});
