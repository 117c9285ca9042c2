// Test-only harness for the gRPC layer: an EtcdServerApi that records what it was asked and answers
// what the test scripts, a running gRPC server on 127.0.0.1:0, and raw grpc-js clients built from
// our own protos (longs as strings, so 64-bit values are checked exactly).
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino from 'pino';
import { bindGrpcServer, createGrpcServer } from '../../../src/api/grpc/index.js';
import { protoFiles, protosDir } from '../../../src/api/grpc/definitions.js';
import { createGrpcConnectionHandler } from '../../../src/api/grpc/lean-path.js';
import type { PutRequest, PutResult } from '../../../src/mvcc/types.js';
import type { Completion, EtcdServerApi, RequestContext, ResponseHeader } from '../../../src/server/server-api.js';
import type { WatchStream, WatchStreamResponse } from '../../../src/watch/types.js';

export const bigClusterId = 0xfedcba9876543210n; // > 2^63: must survive as uint64
export const bigMemberId = (1n << 53n) + 1n; // the first integer a double cannot hold

export function header(revision: number): ResponseHeader {
  return { clusterId: bigClusterId, memberId: bigMemberId, revision, raftTerm: 7 };
}

export interface Call { method: string; args: unknown[] }

export interface RecordedWatchStream {
  send: (response: WatchStreamResponse) => boolean;
  commands: unknown[];
  closed: boolean;
  ctx: RequestContext | undefined;
  /** The server's side of the stream-closed notice: a test calls it to end the stream as the hub would. */
  onClosed: ((reason: Error) => void) | undefined;
}

/** Every method records its arguments; `answers[method]` scripts the result (default: a plausible one). */
export class ScriptedServer implements EtcdServerApi {
  calls: Call[] = [];
  answers: Record<string, (...args: unknown[]) => unknown> = {};
  watchStreams: RecordedWatchStream[] = [];
  serving = true;

  private answer<T>(method: string, args: unknown[], fallback: () => T): Promise<T> {
    this.calls.push({ method, args });
    const scripted = this.answers[method];
    return Promise.resolve().then(() => (scripted ? (scripted(...args) as T) : fallback()));
  }

  range(...args: unknown[]) { return this.answer('range', args, () => ({ header: header(5), result: { kvs: [], more: false, count: 0, revision: 5 } })); }
  put(...args: unknown[]) { return this.answer('put', args, () => ({ header: header(6), result: {} })); }
  putWith(request: PutRequest, ctx: RequestContext | undefined, done: Completion<{ header: ResponseHeader; result: PutResult }>) {
    this.put(request, ctx).then((response) => done(undefined, response as { header: ResponseHeader; result: PutResult }), done);
  }
  deleteRange(...args: unknown[]) { return this.answer('deleteRange', args, () => ({ header: header(6), result: { deleted: 0, prevKvs: [] } })); }
  txn(...args: unknown[]) { return this.answer('txn', args, () => ({ header: header(6), result: { succeeded: true, responses: [] } })); }
  compact(...args: unknown[]) { return this.answer('compact', args, () => ({ header: header(6) })); }
  leaseGrant(...args: unknown[]) { return this.answer('leaseGrant', args, () => ({ header: header(6), id: args[1] as bigint, ttl: args[0] as number })); }
  leaseRevoke(...args: unknown[]) { return this.answer('leaseRevoke', args, () => ({ header: header(6) })); }
  leaseKeepAlive(...args: unknown[]) { return this.answer('leaseKeepAlive', args, () => ({ header: header(6), id: args[0] as bigint, ttl: 10 })); }
  leaseTimeToLive(...args: unknown[]) { return this.answer('leaseTimeToLive', args, () => ({ header: header(6), id: args[0] as bigint, ttl: -1, grantedTtl: 0, keys: [] })); }
  leaseLeases(...args: unknown[]) { return this.answer('leaseLeases', args, () => ({ header: header(6), leases: [] })); }
  memberList(...args: unknown[]) { return this.answer('memberList', args, () => ({ header: header(6), members: [] })); }
  memberAdd(...args: unknown[]) { return this.answer('memberAdd', args, () => { throw new Error('not scripted'); }); }
  memberRemove(...args: unknown[]) { return this.answer('memberRemove', args, () => ({ header: header(6), members: [] })); }
  memberUpdate(...args: unknown[]) { return this.answer('memberUpdate', args, () => ({ header: header(6), members: [] })); }
  memberPromote(...args: unknown[]) { return this.answer('memberPromote', args, () => ({ header: header(6), members: [] })); }
  status(...args: unknown[]) { return this.answer('status', args, () => { throw new Error('not scripted'); }); }
  hash(...args: unknown[]) { return this.answer('hash', args, () => ({ header: header(6), hash: 0xffffffff })); }
  hashKv(...args: unknown[]) { return this.answer('hashKv', args, () => ({ header: header(6), hash: 1, compactRevision: 2, hashRevision: 3 })); }
  alarm(...args: unknown[]) { return this.answer('alarm', args, () => ({ header: header(6), alarms: [] })); }
  defragment(...args: unknown[]) { return this.answer('defragment', args, () => ({ header: header(6) })); }
  moveLeader(...args: unknown[]) { return this.answer('moveLeader', args, () => ({ header: header(6) })); }

  snapshotChunks: Array<{ header: ResponseHeader; remainingBytes: number; blob: Buffer }> = [];
  snapshotReturned = false;
  snapshot() {
    const chunks = this.snapshotChunks;
    const self = this;
    return (async function* produce() {
      try {
        for (const chunk of chunks) yield chunk;
      } finally {
        self.snapshotReturned = true;
      }
    })();
  }

  openWatchStream(send: (response: WatchStreamResponse) => boolean, ctx?: RequestContext, onClosed?: (reason: Error) => void): WatchStream {
    const recorded: RecordedWatchStream = { send, commands: [], closed: false, ctx, onClosed };
    this.watchStreams.push(recorded);
    return {
      create: (request) => { recorded.commands.push({ create: request }); },
      cancel: (watchId) => { recorded.commands.push({ cancel: watchId }); },
      progress: () => { recorded.commands.push({ progress: true }); },
      resume: () => { recorded.commands.push({ resume: true }); },
      close: () => { recorded.closed = true; },
    };
  }

  isServing(): boolean { return this.serving; }

  responseHeader(revision: number): ResponseHeader { return header(revision); }
}

export const maxRequestBytes = 64 * 1024;

/**
 * How the test server takes connections: 'listener' as etcd-ts does (each socket served by our
 * HTTP/2 connection, unary calls and bidi streams on the lean path of lean-path.ts), 'grpc-js' bound
 * by grpc-js itself (every call through grpc-js), to compare the two.
 */
export type ServerTransport = 'listener' | 'grpc-js';

export async function startServer(server: EtcdServerApi, transport: ServerTransport = 'listener'): Promise<{ port: number; stop: () => Promise<void> }> {
  const grpcServer = createGrpcServer({ server, maxRequestBytes, logger: pino({ level: 'silent' }) });
  const shutdown = () => new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())).then(() => grpcServer.forceShutdown());
  if (transport === 'grpc-js') {
    const port = await bindGrpcServer(grpcServer, '127.0.0.1', 0);
    return { port, stop: shutdown };
  }
  const handler = createGrpcConnectionHandler(grpcServer, { logger: pino({ level: 'silent' }) });
  const listener = net.createServer((socket) => handler.serve(socket, Buffer.alloc(0)));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    port,
    stop: async () => {
      listener.close();
      await handler.closeAll(100);
      await Promise.race([shutdown(), new Promise((resolve) => setTimeout(resolve, 2000))]);
      grpcServer.forceShutdown();
    },
  };
}

type ClientConstructor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

export function rawClients(port: number) {
  const definition = protoLoader.loadSync(protoFiles, { keepCase: true, longs: String, defaults: true, arrays: true, includeDirs: [protosDir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    etcdserverpb: Record<string, ClientConstructor>;
    grpc: { health: { v1: { Health: ClientConstructor } } };
  };
  const address = `127.0.0.1:${port}`;
  const credentials = grpc.credentials.createInsecure();
  const make = (ctor: ClientConstructor) => new ctor(address, credentials) as grpc.Client & Record<string, (...args: unknown[]) => unknown>;
  return {
    kv: make(loaded.etcdserverpb.KV!),
    watch: make(loaded.etcdserverpb.Watch!),
    lease: make(loaded.etcdserverpb.Lease!),
    cluster: make(loaded.etcdserverpb.Cluster!),
    maintenance: make(loaded.etcdserverpb.Maintenance!),
    auth: make(loaded.etcdserverpb.Auth!),
    health: make(loaded.grpc.health.v1.Health),
    generic: new grpc.Client(address, credentials),
  };
}

/** Promisified unary call on a raw client; resolves with the response or the ServiceError. */
export function callUnary(client: Record<string, unknown>, method: string, request: unknown, metadata = new grpc.Metadata()):
Promise<{ response?: Record<string, any>; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    (client[method] as (...args: unknown[]) => void).call(client, request, metadata, (error: grpc.ServiceError | null, response: Record<string, any>) => {
      resolve(error ? { error } : { response });
    });
  });
}

/** Sends raw bytes as the request of `path`, bypassing any serializer. */
export function callRawBytes(client: grpc.Client, path: string, bytes: Buffer): Promise<{ error?: grpc.ServiceError; response?: Buffer }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (value: Buffer) => value, (value: Buffer) => value, bytes, (error, response) => {
      resolve(error ? { error } : { response: response as Buffer });
    });
  });
}

export async function until(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
