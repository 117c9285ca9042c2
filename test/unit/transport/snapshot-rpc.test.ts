// Snapshot transfer and the peer RPC over real sockets on 127.0.0.1.
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType, type Message } from '../../../src/raft/types.js';
import { PeerRequestError } from '../../../src/transport/peer-rpc.js';
import { connectAll, makeMember, message, sleep, startMember, waitFor, type MemberOverrides, type TestMember } from './helpers.js';

const started: TestMember[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((member) => member.transport.stop()));
});

async function pair(overridesA: MemberOverrides = {}, overridesB: MemberOverrides = {}): Promise<[TestMember, TestMember]> {
  const a = await startMember(makeMember(0x1111222233334444n, overridesA));
  const b = await startMember(makeMember(0x9999888877776666n, overridesB));
  started.push(a, b);
  connectAll([a, b]);
  return [a, b];
}

function snapMessage(from: bigint, to: bigint): Message {
  const m = message(MessageType.Snap, from, to, 0);
  m.snapshot = { metadata: { index: 500, term: 4, confState: { voters: [from, to], learners: [] } }, data: new Uint8Array([9, 9]) };
  return m;
}

/** Deterministic, non-repeating content so reordering or loss inside the body changes the hash. */
async function* pseudoRandomChunks(totalBytes: number, chunkBytes: number): AsyncGenerator<Buffer> {
  let counter = 0;
  for (let sent = 0; sent < totalBytes; sent += chunkBytes) {
    const chunk = Buffer.alloc(Math.min(chunkBytes, totalBytes - sent));
    for (let i = 0; i + 4 <= chunk.length; i += 4) chunk.writeUInt32BE(counter++ * 2654435761 >>> 0, i);
    yield chunk;
  }
}

async function sha256Of(chunks: AsyncIterable<Buffer>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

describe('snapshot transfer', () => {
  it('streams several MB, restores before raft sees the message, and reports success', async () => {
    const totalBytes = 6 * 1024 * 1024 + 123;
    const events: string[] = [];
    let receivedHash = '';
    // Chunks larger than the frame limit exercise splitting.
    const [a, b] = await pair(
      { snapshotSource: () => pseudoRandomChunks(totalBytes, 1536 * 1024) },
      {
        onSnapshot: async (m, data) => {
          events.push(`restore-start ${m.snapshot?.metadata.index}`);
          receivedHash = await sha256Of(data);
          events.push('restore-done');
        },
      },
    );
    const originalOnMessage = b.received;
    a.transport.send([snapMessage(a.id, b.id)]);
    await waitFor(() => a.snapshotReports.length === 1, 20_000, 'snapshot report');
    expect(a.snapshotReports).toEqual([{ peerId: b.id, ok: true }]);
    expect(receivedHash).toBe(await sha256Of(pseudoRandomChunks(totalBytes, 1536 * 1024)));
    expect(events).toEqual(['restore-start 500', 'restore-done']);
    expect(originalOnMessage).toHaveLength(1);
    const delivered = originalOnMessage[0]!;
    expect(delivered.type).toBe(MessageType.Snap);
    expect(delivered.from).toBe(a.id);
    expect(delivered.snapshot?.metadata).toEqual({ index: 500, term: 4, confState: { voters: [a.id, b.id], learners: [] } });
    expect(Buffer.from(delivered.snapshot!.data)).toEqual(Buffer.from([9, 9]));
  });

  it('a failed restore reports failure and raft never sees the snapshot', async () => {
    const [a, b] = await pair({}, {
      onSnapshot: async (_m, data) => {
        for await (const chunk of data) void chunk;
        throw new Error('disk full');
      },
    });
    a.transport.send([snapMessage(a.id, b.id)]);
    await waitFor(() => a.snapshotReports.length === 1, 5000, 'snapshot report');
    expect(a.snapshotReports).toEqual([{ peerId: b.id, ok: false }]);
    expect(b.received).toEqual([]);
    expect(b.logLines.some((line) => line.includes('disk full'))).toBe(true);
  });

  it('a source that fails midway aborts the transfer on both sides', async () => {
    let sinkError = '';
    const [a, b] = await pair({
      snapshotSource: async function* () {
        yield Buffer.alloc(100_000, 1);
        throw new Error('backend iterator failed');
      },
    }, {
      onSnapshot: async (_m, data) => {
        try {
          for await (const chunk of data) void chunk;
        } catch (error) {
          sinkError = (error as Error).message;
          throw error;
        }
      },
    });
    a.transport.send([snapMessage(a.id, b.id)]);
    await waitFor(() => a.snapshotReports.length === 1, 5000, 'snapshot report');
    expect(a.snapshotReports).toEqual([{ peerId: b.id, ok: false }]);
    await waitFor(() => sinkError !== '', 5000, 'receiver sees the abort');
    expect(b.received).toEqual([]);
  });

  it('bounds snapshot sends in flight and refuses a second one to the same peer', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => { release = resolve; });
    const [a, b] = await pair({
      snapshotSource: async function* () {
        yield Buffer.from('x');
        await gate;
        yield Buffer.from('y');
      },
      limits: { snapshotSendsInFlightMax: 1 },
    });
    a.transport.send([snapMessage(a.id, b.id)]);
    a.transport.send([snapMessage(a.id, b.id)]);
    expect(a.snapshotReports).toEqual([{ peerId: b.id, ok: false }]);
    release();
    await waitFor(() => a.snapshotReports.length === 2, 5000, 'first snapshot done');
    expect(a.snapshotReports[1]).toEqual({ peerId: b.id, ok: true });
  });

  it('refuses a snapshot from another cluster', async () => {
    let restored = false;
    const [a, b] = await pair({ clusterId: 0x1n }, { clusterId: 0x2n, onSnapshot: async () => { restored = true; } });
    a.transport.send([snapMessage(a.id, b.id)]);
    await waitFor(() => a.snapshotReports.length === 1, 5000, 'snapshot report');
    expect(a.snapshotReports).toEqual([{ peerId: b.id, ok: false }]);
    expect(restored).toBe(false);
    expect(b.received).toEqual([]);
  });
});

describe('peer RPC', () => {
  it('calls a handler on the peer with the caller id and returns its bytes', async () => {
    const [a, b] = await pair();
    b.transport.handle('/leases', async (body, fromId) => Buffer.from(`${fromId.toString(16)}:${body.toString()}`));
    const answer = await a.transport.request(b.id, '/leases', Buffer.from('keepalive 7'), 2000);
    expect(answer.toString()).toBe('1111222233334444:keepalive 7');
  });

  it('times out, reports handler errors, unknown paths and unknown peers', async () => {
    const [a, b] = await pair();
    b.transport.handle('/slow', async () => {
      await sleep(1000);
      return Buffer.from('late');
    });
    b.transport.handle('/broken', async () => {
      throw new Error('not the leader');
    });
    const startedMs = Date.now();
    const timeout = await a.transport.request(b.id, '/slow', Buffer.alloc(0), 100).catch((error: unknown) => error);
    expect(timeout).toBeInstanceOf(PeerRequestError);
    expect((timeout as PeerRequestError).failure).toBe('timeout');
    expect(Date.now() - startedMs).toBeLessThan(800);

    const broken = await a.transport.request(b.id, '/broken', Buffer.alloc(0), 2000).catch((error: unknown) => error);
    expect((broken as PeerRequestError).failure).toBe('handler-failed');
    expect((broken as PeerRequestError).message).toContain('not the leader');

    const missing = await a.transport.request(b.id, '/nothing', Buffer.alloc(0), 2000).catch((error: unknown) => error);
    expect((missing as PeerRequestError).statusCode).toBe(404);

    const unknown = await a.transport.request(0x77n, '/leases', Buffer.alloc(0), 2000).catch((error: unknown) => error);
    expect((unknown as PeerRequestError).failure).toBe('unreachable');

    expect(() => b.transport.handle('/raft/x', async () => Buffer.alloc(0))).toThrow();
  });

  it('refuses callers of another cluster unless the handler accepts any cluster', async () => {
    const [a, b] = await pair({ clusterId: 0n }, { clusterId: 0xabcn });
    b.transport.handle('/members', async () => Buffer.from('[member list]'), { acceptAnyCluster: true });
    b.transport.handle('/leases', async () => Buffer.from('renewed'));
    const refused = await a.transport.request(b.id, '/leases', Buffer.alloc(0), 2000).catch((error: unknown) => error);
    expect((refused as PeerRequestError).statusCode).toBe(412);
    // A joining member knows only a URL: the answer tells it who answered and the cluster id.
    const joined = await a.transport.requestUrl(b.url, '/members', Buffer.alloc(0), 2000);
    expect(joined.body.toString()).toBe('[member list]');
    expect(joined.clusterId).toBe(0xabcn);
    expect(joined.fromId).toBe(b.id);
    a.transport.setClusterId(joined.clusterId!);
    expect((await a.transport.request(b.id, '/leases', Buffer.alloc(0), 2000)).toString()).toBe('renewed');
  });

  it('refuses request bodies over the limit', async () => {
    const [a, b] = await pair({}, { limits: { rpcBodyBytesMax: 1000 } });
    b.transport.handle('/leases', async (body) => body);
    const tooLarge = await a.transport.request(b.id, '/leases', Buffer.alloc(5000), 2000).catch((error: unknown) => error);
    expect((tooLarge as PeerRequestError).failure).toBe('refused');
    expect((tooLarge as PeerRequestError).statusCode).toBe(413);
  });
});
