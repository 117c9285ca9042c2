// PeerTransport between real sockets on 127.0.0.1: ordering, reconnects, bounds, cluster isolation,
// membership and shutdown.
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { MessageType } from '../../../src/raft/types.js';
import { EMPTY_FRAME, FrameDecoder } from '../../../src/transport/frames.js';
import { decodeMessage } from '../../../src/transport/message-codec.js';
import { defaultPeerTransportTimings, peerConnectionTimings } from '../../../src/transport/peer-transport.js';
import { connectAll, fastTimings, freePort, makeMember, message, sleep, startMember, waitFor, type TestMember } from './helpers.js';

const started: TestMember[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((member) => member.transport.stop()));
});

async function members(...ids: bigint[]): Promise<TestMember[]> {
  const list = await Promise.all(ids.map((id) => startMember(makeMember(id))));
  started.push(...list);
  connectAll(list);
  return list;
}

describe('PeerTransport streams', () => {
  it('delivers messages between two members in order with exact 64-bit ids', async () => {
    const [a, b] = await members(0x8e9e05c52164694dn, 0xfffffffffffffffen);
    const count = 2000;
    for (let i = 1; i <= count; i++) a!.transport.send([message(MessageType.App, a!.id, b!.id, i, Buffer.from(`e${i}`))]);
    b!.transport.send([message(MessageType.AppResp, b!.id, a!.id, 42)]);
    await waitFor(() => b!.received.length === count && a!.received.length === 1, 5000, 'all messages');
    expect(b!.received.map((m) => m.index)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    expect(b!.received.every((m) => m.from === 0x8e9e05c52164694dn && m.to === 0xfffffffffffffffen)).toBe(true);
    expect(b!.received[9]!.entries[0]!.data.toString()).toBe('e10');
    expect(a!.received[0]).toMatchObject({ type: MessageType.AppResp, index: 42, from: 0xfffffffffffffffen });
    expect(a!.unreachable).toEqual([]);
    expect(a!.transport.activeSince(b!.id)).toBeTypeOf('number');
  });

  it('three members: every pair exchanges an ordered stream, per sender', async () => {
    const list = await members(1n, 2n, 3n);
    const perPair = 300;
    for (let i = 1; i <= perPair; i++) {
      for (const from of list) {
        from.transport.send(list.filter((to) => to !== from).map((to) => message(MessageType.Heartbeat, from.id, to.id, i)));
      }
    }
    await waitFor(() => list.every((m) => m.received.length === 2 * perPair), 5000, 'all messages');
    for (const to of list) {
      for (const from of list.filter((m) => m !== to)) {
        expect(to.received.filter((m) => m.from === from.id).map((m) => m.index)).toEqual(Array.from({ length: perPair }, (_, i) => i + 1));
      }
    }
  });

  it('a peer that is down: bounded queue, unreachable reported, reconnects when it comes up', async () => {
    const port = await freePort();
    const a = await startMember(makeMember(1n, { limits: { peerQueueMessagesMax: 100 } }));
    started.push(a);
    a.transport.addPeer(2n, [`http://127.0.0.1:${port}`]);
    // 1000 messages before the lazily opened stream can possibly be up: only the queue's worth is kept.
    a.transport.send(Array.from({ length: 1000 }, (_, i) => message(MessageType.App, 1n, 2n, i + 1)));
    expect(a.unreachable.length).toBe(900);
    await waitFor(() => a.unreachable.length > 900, 3000, 'connection failure reported');
    expect(a.transport.activeSince(2n)).toBeUndefined();
    // While the stream is known to be down, appends and heartbeats are dropped and reported at once.
    const before = a.unreachable.length;
    a.transport.send([message(MessageType.Heartbeat, 1n, 2n, 1)]);
    expect(a.unreachable.length).toBe(before + 1);
    expect(a.logLines.some((line) => line.includes('failed to dial remote peer'))).toBe(true);

    const b = await startMember(makeMember(2n), port);
    started.push(b);
    b.transport.addPeer(1n, [a.url]);
    await waitFor(() => a.transport.activeSince(2n) !== undefined, 3000, 'reconnect');
    expect(b.received).toEqual([]);
    for (let i = 1; i <= 50; i++) a.transport.send([message(MessageType.App, 1n, 2n, 1000 + i)]);
    await waitFor(() => b.received.length === 50, 3000, 'messages after reconnect');
    expect(b.received.map((m) => m.index)).toEqual(Array.from({ length: 50 }, (_, i) => 1001 + i));

    // The peer goes away: the stream is declared down and reconnects when it is back.
    const stoppedAt = a.unreachable.length;
    await b.transport.stop();
    await waitFor(() => a.transport.activeSince(2n) === undefined, 3000, 'stream down');
    a.transport.send([message(MessageType.App, 1n, 2n, 1)]);
    expect(a.unreachable.length).toBeGreaterThan(stoppedAt);
    expect(a.logLines.some((line) => line.includes('lost TCP streaming connection'))).toBe(true);
  });

  it('connectPeers opens every stream before anything is sent, retrying until a late peer listens', async () => {
    const port = await freePort();
    const a = await startMember(makeMember(1n));
    started.push(a);
    a.transport.addPeer(2n, [`http://127.0.0.1:${port}`]);
    a.transport.connectPeers();
    await waitFor(() => a.logLines.some((line) => line.includes('failed to dial remote peer')), 3000, 'first dial refused');
    const b = await startMember(makeMember(2n), port);
    started.push(b);
    b.transport.addPeer(1n, [a.url]);
    await waitFor(() => a.transport.activeSince(2n) !== undefined, 3000, 'stream up without a message');
    expect(b.received).toEqual([]);
    // Unreachable is for messages lost: none were sent.
    expect(a.unreachable).toEqual([]);
  });

  it('a black-hole peer and a slow peer do not delay messages to a healthy one', async () => {
    const sockets: Socket[] = [];
    // Accepts connections and never answers: the stream must time out dialling.
    const blackHole = createServer((socket) => void sockets.push(socket));
    // Answers the stream request and then never reads: the socket buffers fill, then our queue.
    const slow = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
        socket.pause();
      });
    });
    await Promise.all([blackHole, slow].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
    try {
      const [a, b] = await members(1n, 2n);
      a!.transport.addPeer(8n, [`http://127.0.0.1:${(blackHole.address() as { port: number }).port}`]);
      a!.transport.addPeer(9n, [`http://127.0.0.1:${(slow.address() as { port: number }).port}`]);
      const payload = Buffer.alloc(64 * 1024, 7);
      for (let round = 1; round <= 200; round++) {
        a!.transport.send([
          message(MessageType.App, 1n, 8n, round, payload),
          message(MessageType.App, 1n, 9n, round, payload),
          message(MessageType.App, 1n, 2n, round, payload),
        ]);
        if (round % 20 === 0) await sleep(5);
      }
      await waitFor(() => b!.received.length === 200, 5000, 'healthy peer receives everything');
      expect(b!.received.map((m) => m.index)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      await waitFor(() => a!.unreachable.includes(8n) && a!.unreachable.includes(9n), 5000, 'both bad peers reported');
      expect(a!.unreachable.includes(2n)).toBe(false);
      // The slow peer never pings back: the stream is declared dead after the idle timeout.
      await waitFor(() => a!.logLines.some((line) => line.includes('no data from peer') && line.includes('"remote-peer-id":"9"')), 3000, 'idle timeout');
      expect(a!.transport.activeSince(9n)).toBeUndefined();
      expect(a!.transport.activeSince(2n)).toBeTypeOf('number');
    } finally {
      for (const socket of sockets) socket.destroy();
      await Promise.all([blackHole, slow].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    }
  });

  it('a peer that stops reading and resumes gets every message once, in order, as chunked frames', async () => {
    // The stream's body is written to its socket as HTTP/1.1 chunks by hand (peer-stream.ts):
    // node's own HTTP parser reads it here, so a framing mistake fails the request. The receiver
    // stops reading until the socket refuses writes (the stream then waits for 'drain'), then reads
    // on: nothing may be lost, doubled or reordered across the wait.
    const received: number[] = [];
    let paused: (() => void) | undefined;
    let parseError: unknown;
    const peer = createHttpServer((request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      response.flushHeaders();
      const decoder = new FrameDecoder(1 << 20);
      request.pause();
      paused = () => request.resume();
      request.on('data', (chunk: Buffer) => {
        for (const frame of decoder.push(chunk)) if (frame.length > 0) received.push(decodeMessage(frame).index);
      });
      request.on('error', (error) => { parseError = error; });
    });
    peer.on('clientError', (error) => { parseError = error; });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      const a = await startMember(makeMember(1n, { limits: { peerQueueMessagesMax: 4096, peerQueueBytesMax: 64 << 20 } }));
      started.push(a);
      a.transport.addPeer(2n, [`http://127.0.0.1:${(peer.address() as { port: number }).port}`]);
      const payload = Buffer.alloc(16 * 1024, 5);
      let sent = 0;
      const sendBatch = (n: number) => {
        a.transport.send(Array.from({ length: n }, () => message(MessageType.App, 1n, 2n, ++sent, payload)));
      };
      sendBatch(1);
      await waitFor(() => paused !== undefined && a.transport.activeSince(2n) !== undefined, 3000, 'stream up');
      // ~32 MB while nobody reads: far past what the sockets buffer.
      for (let i = 0; i < 16; i++) {
        sendBatch(128);
        await sleep(5);
      }
      await sleep(100);
      expect(received.length).toBeLessThan(sent);
      paused!();
      await waitFor(() => received.length === sent, 10_000, 'every message after the receiver resumed');
      expect(received).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
      expect(a.unreachable).toEqual([]);
      expect(parseError).toBeUndefined();
    } finally {
      peer.closeAllConnections();
      await new Promise<void>((resolve) => peer.close(() => resolve()));
    }
  });

  it('closes a stream whose peer keeps pinging but takes no data (the write timeout), and redials it', async () => {
    // The peer answers the stream and pings every 50 ms, so the read timeout never fires, but reads
    // nothing after the headers: our writes pile up in the socket until the write timeout.
    const sockets: Socket[] = [];
    let accepted = 0;
    const stuck = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => {
        accepted++;
        socket.pause();
        socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n');
        const ping = setInterval(() => socket.write(`${EMPTY_FRAME.length.toString(16)}\r\n${EMPTY_FRAME.toString('latin1')}\r\n`, 'latin1'), 50);
        socket.on('close', () => clearInterval(ping));
      });
    });
    await new Promise<void>((resolve) => stuck.listen(0, '127.0.0.1', resolve));
    try {
      const a = await startMember(makeMember(1n, { timings: { ...fastTimings, writeTimeoutMs: 400 } }));
      started.push(a);
      a.transport.addPeer(2n, [`http://127.0.0.1:${(stuck.address() as { port: number }).port}`]);
      a.transport.connectPeers();
      await waitFor(() => a.transport.activeSince(2n) !== undefined, 3000, 'stream up');
      const payload = Buffer.alloc(64 * 1024, 3);
      for (let i = 0; i < 8; i++) {
        a.transport.send(Array.from({ length: 64 }, (_, j) => message(MessageType.App, 1n, 2n, i * 64 + j + 1, payload)));
        await sleep(5);
      }
      await waitFor(() => a.logLines.some((line) => line.includes('peer took no data for 400 ms')), 5000, 'write timeout');
      expect(a.logLines.some((line) => line.includes('no data from peer'))).toBe(false);
      expect(a.unreachable).toContain(2n);
      await waitFor(() => accepted >= 2, 3000, 'redialled');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => stuck.close(() => resolve()));
    }
  });

  it('--raft-read-timeout and --raft-write-timeout set the limits, 0 for none; pings come thrice per read timeout', () => {
    expect(peerConnectionTimings(5000, 5000)).toEqual({ idleTimeoutMs: 5000, writeTimeoutMs: 5000, pingIntervalMs: defaultPeerTransportTimings.pingIntervalMs });
    expect(peerConnectionTimings(300, 0)).toEqual({ idleTimeoutMs: 300, writeTimeoutMs: Infinity, pingIntervalMs: 100 });
    expect(peerConnectionTimings(0, 700)).toEqual({ idleTimeoutMs: Infinity, writeTimeoutMs: 700, pingIntervalMs: defaultPeerTransportTimings.pingIntervalMs });
    expect(peerConnectionTimings(20, 20).pingIntervalMs).toBe(10);
  });

  it('refuses and logs a member of another cluster', async () => {
    const a = await startMember(makeMember(1n, { clusterId: 0xaaaan }));
    const b = await startMember(makeMember(2n, { clusterId: 0xbbbbn }));
    started.push(a, b);
    connectAll([a, b]);
    a.transport.send([message(MessageType.Vote, 1n, 2n, 1)]);
    await waitFor(() => a.unreachable.includes(2n), 3000, 'sender sees refusal');
    await sleep(100);
    expect(b.received).toEqual([]);
    expect(a.transport.activeSince(2n)).toBeUndefined();
    expect(b.logLines.some((line) => line.includes('cluster ID mismatch') && line.includes('"remote-cluster-id":"aaaa"'))).toBe(true);
    expect(a.logLines.some((line) => line.includes('peer refused stream'))).toBe(true);
  });

  it('refuses a sender it does not know, and tells a removed member it was removed', async () => {
    const [a, b] = await members(1n, 2n);
    b!.transport.removePeer(1n);
    // Messages to a removed member go nowhere and are not "unreachable": it is simply gone.
    b!.transport.send([message(MessageType.Heartbeat, 2n, 1n, 1)]);
    expect(b!.unreachable).toEqual([]);
    a!.transport.send([message(MessageType.Vote, 1n, 2n, 1)]);
    await waitFor(() => a!.removedBy.includes(2n), 3000, '410 seen by the removed member');
    expect(b!.received).toEqual([]);
    expect(() => b!.transport.addPeer(1n, [a!.url])).toThrow(/removed/);
  });

  it('drops messages whose from field does not match the authenticated stream', async () => {
    const [a, b] = await members(1n, 2n, 3n);
    a!.transport.send([message(MessageType.App, 3n, 2n, 1), message(MessageType.App, 1n, 2n, 2)]);
    await waitFor(() => b!.received.length === 1, 3000, 'genuine message');
    await sleep(50);
    expect(b!.received.map((m) => m.index)).toEqual([2]);
    expect(b!.logLines.some((line) => line.includes('do not match its stream'))).toBe(true);
  });

  it('updatePeer moves the stream to the new URL', async () => {
    const [a, b] = await members(1n, 2n);
    a!.transport.addPeer(2n, [`http://127.0.0.1:${await freePort()}`]);
    a!.transport.send([message(MessageType.Vote, 1n, 2n, 1)]);
    await waitFor(() => a!.unreachable.includes(2n), 3000, 'old URL fails');
    a!.transport.updatePeer(2n, [b!.url]);
    await waitFor(() => a!.transport.activeSince(2n) !== undefined, 3000, 'connected at new URL');
    a!.transport.send([message(MessageType.Vote, 1n, 2n, 5)]);
    await waitFor(() => b!.received.some((m) => m.index === 5), 3000, 'message at new URL');
  });

  it('activeSince reads the injected monotonic clock and stays put across idle periods thanks to pings', async () => {
    const offsetMs = 1e9;
    const clock = () => performance.now() + offsetMs;
    const a = await startMember(makeMember(1n, { nowMs: clock }));
    const b = await startMember(makeMember(2n));
    started.push(a, b);
    connectAll([a, b]);
    const beforeMs = clock();
    a.transport.send([message(MessageType.Heartbeat, 1n, 2n, 1)]);
    await waitFor(() => a.transport.activeSince(2n) !== undefined, 3000, 'stream up');
    const since = a.transport.activeSince(2n)!;
    expect(since).toBeGreaterThanOrEqual(beforeMs);
    expect(since).toBeLessThanOrEqual(clock());
    // Longer than the idle timeout (600 ms) with no raft traffic: only pings keep the stream up.
    await sleep(1000);
    expect(a.transport.activeSince(2n)).toBe(since);
    expect(b.received.length).toBe(1);
  });

  it('closes a stream that carries a frame over the limit, and the sender reconnects', async () => {
    const a = await startMember(makeMember(1n));
    const b = await startMember(makeMember(2n, { limits: { frameBytesMax: 1000 } }));
    started.push(a, b);
    connectAll([a, b]);
    a.transport.send([message(MessageType.App, 1n, 2n, 1)]);
    await waitFor(() => b.received.length === 1, 3000, 'first message');
    a.transport.send([message(MessageType.App, 1n, 2n, 2, Buffer.alloc(5000))]);
    await waitFor(() => b.logLines.some((line) => line.includes('undecodable data')), 3000, 'oversized frame refused');
    await waitFor(() => a.transport.activeSince(2n) !== undefined && a.logLines.filter((line) => line.includes('established')).length >= 2, 3000, 'reconnected');
    a.transport.send([message(MessageType.App, 1n, 2n, 3)]);
    await waitFor(() => b.received.length === 2, 3000, 'message after reconnect');
    expect(b.received.map((m) => m.index)).toEqual([1, 3]);
  });
});
