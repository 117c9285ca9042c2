// gRPC keep-alive on a real etcd 3.4 and on etcd-ts, both started with the same
// --grpc-keepalive-* flags, driven by the same raw HTTP/2 client: a client pinging faster than
// min-time gets four PING ACKs and GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (pings with no stream
// open are held to one in two hours), a response from the server clears the strikes, and a client
// that does not answer the server's ping (8 zero bytes, sent after the interval without reads) is
// closed after the timeout, without a GOAWAY. A grpc-js client, which answers pings, keeps its
// Watch stream across many of them.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { flagAck, frameData, frameGoaway, framePing } from '../../src/api/h2/frame-types.js';
import { protoFiles, protosDir } from '../../src/api/grpc/definitions.js';
import { etcdctl, startEtcdTs, startRealEtcd, type EtcdProcess } from '../helpers/index.js';
import { clientHandshake, dataFrame, headersFrame, pingFrame, RawClient, sleep, type ServerFrame } from '../unit/h2/h2-test-peer.js';

// min-time 100 ms: pings 300 ms apart are allowed on a connection with a stream open, and not on one
// without (those are held to one in two hours). Pinging every 300 ms, a client is never idle for
// the 400 ms after which the server pings it.
const keepaliveFlags = ['--grpc-keepalive-min-time=100ms', '--grpc-keepalive-interval=400ms', '--grpc-keepalive-timeout=300ms'];
const isPingAck = (f: ServerFrame) => f.type === framePing && (f.flags & flagAck) !== 0;
const isKeepalivePing = (f: ServerFrame) => f.type === framePing && (f.flags & flagAck) === 0 && f.payload.equals(Buffer.alloc(8));
const watchFields: Array<[string, string]> = [
  [':method', 'POST'], [':scheme', 'http'], [':path', '/etcdserverpb.Watch/Watch'], [':authority', '127.0.0.1'],
  ['content-type', 'application/grpc'], ['te', 'trailers'],
];

interface PingRunResult {
  acks: number;
  goaway?: { lastStreamId: number; code: number; debug: string };
  closed: boolean;
}

/**
 * Opens a Watch stream (headers only) when `withStream`, then sends up to `pings` PINGs `everyMs`
 * apart, each after its predecessor's ACK, stopping at a GOAWAY; `before` runs before each ping.
 */
async function pingRun(server: EtcdProcess, options: { withStream: boolean; everyMs: number; pings: number; before?: (client: RawClient, ping: number) => Promise<void> }): Promise<PingRunResult> {
  const client = await RawClient.connect(server.clientPort);
  try {
    client.send(clientHandshake());
    if (options.withStream) client.send(headersFrame(1, watchFields));
    for (let ping = 1; ping <= options.pings && client.count((f) => f.type === frameGoaway) === 0; ping++) {
      await options.before?.(client, ping);
      client.send(pingFrame(Buffer.alloc(8, ping)));
      await client.waitUntil(() => client.count(isPingAck) >= ping || client.closed, `the ACK of ping ${ping}`);
      if (ping < options.pings) await sleep(options.everyMs);
    }
    // A GOAWAY comes right after the ACK of the ping that was one too many.
    await sleep(100);
    const goaway = client.frames.find((f) => f.type === frameGoaway);
    if (goaway !== undefined) await client.waitClosed();
    return {
      acks: client.count(isPingAck),
      ...(goaway === undefined ? {} : { goaway: { lastStreamId: goaway.payload.readUInt32BE(0), code: goaway.payload.readUInt32BE(4), debug: goaway.payload.subarray(8).toString() } }),
      closed: client.closed,
    };
  } finally {
    client.destroy();
  }
}

const tooManyPings = (lastStreamId: number) => ({ lastStreamId, code: 11, debug: 'too_many_pings' });

describe.each([
  ['etcd 3.4', startRealEtcd],
  ['etcd-ts', startEtcdTs],
] as const)('gRPC keep-alive on %s', (_name, start) => {
  let server: EtcdProcess;

  beforeAll(async () => {
    server = await start({ extraArgs: keepaliveFlags });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('ends a connection on the fourth ping closer than min-time, after its ACK, with GOAWAY ENHANCE_YOUR_CALM "too_many_pings"', async () => {
    expect(await pingRun(server, { withStream: true, everyMs: 10, pings: 10 })).toEqual({ acks: 4, goaway: tooManyPings(1), closed: true });
  });

  it('takes pings min-time apart while a stream is open, and holds a connection without one to far fewer', async () => {
    expect(await pingRun(server, { withStream: true, everyMs: 300, pings: 6 })).toEqual({ acks: 6, closed: false });
    expect(await pingRun(server, { withStream: false, everyMs: 300, pings: 6 })).toEqual({ acks: 4, goaway: tooManyPings(0), closed: true });
  });

  it('clears the strikes when the server sends a response: a watch event after ping 2 lets four more pings pass', async () => {
    const result = await pingRun(server, {
      withStream: true,
      everyMs: 10,
      pings: 10,
      before: async (client, ping) => {
        if (ping !== 3) return;
        // WatchCreateRequest{key: "ka"} on stream 1, then a put of "ka": the created response and the event reach the client.
        client.send(dataFrame(1, Buffer.from([0, 0, 0, 0, 6, 0x0a, 0x04, 0x0a, 0x02, 0x6b, 0x61])));
        await client.waitUntil(() => client.frames.some((f) => f.type === frameData && f.streamId === 1), 'the watch created response');
        const put = await etcdctl(server.clientUrl, ['put', 'ka', 'v'], { timeoutMs: 10_000 });
        expect(put.exitCode).toBe(0);
        await client.waitUntil(() => client.count((f) => f.type === frameData && f.streamId === 1) >= 2, 'the watch event');
      },
    });
    expect(result).toEqual({ acks: 6, goaway: tooManyPings(1), closed: true });
  });

  it('pings a client it read nothing from (8 zero bytes) and closes the connection, without GOAWAY, when no ACK comes', async () => {
    const client = await RawClient.connect(server.clientPort);
    try {
      client.send(clientHandshake());
      await client.waitForFrame(isKeepalivePing, 'the keep-alive PING');
      await client.waitClosed();
      expect(client.count((f) => f.type === frameGoaway)).toBe(0);
      expect(client.count(isKeepalivePing)).toBe(1);
    } finally {
      client.destroy();
    }
  });

  it('keeps the Watch stream of a grpc-js client, which answers the pings, across many intervals', async () => {
    const definition = protoLoader.loadSync(protoFiles, { includeDirs: [protosDir], keepCase: true, longs: String, defaults: true });
    const proto = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: { Watch: grpc.ServiceClientConstructor; KV: grpc.ServiceClientConstructor } };
    const watchClient = new proto.etcdserverpb.Watch(`127.0.0.1:${server.clientPort}`, grpc.credentials.createInsecure());
    try {
      const call = watchClient.Watch();
      const events: string[] = [];
      let failure: unknown;
      call.on('data', (response: { created: boolean; events: Array<{ kv: { value: Buffer } }> }) => {
        for (const event of response.events) events.push(event.kv.value.toString());
      });
      call.on('error', (error: Error) => {
        failure = error;
      });
      call.write({ create_request: { key: Buffer.from('ka-grpc-js') } });
      // Idle for five intervals: the server pings, grpc-js answers.
      await sleep(5 * 400);
      const put = await etcdctl(server.clientUrl, ['put', 'ka-grpc-js', 'after-pings'], { timeoutMs: 10_000 });
      expect(put.exitCode).toBe(0);
      const deadline = Date.now() + 5000;
      while (events.length === 0 && failure === undefined && Date.now() < deadline) await sleep(20);
      expect(failure).toBeUndefined();
      expect(events).toEqual(['after-pings']);
      call.cancel();
    } finally {
      watchClient.close();
    }
  });
});
