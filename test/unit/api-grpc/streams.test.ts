// The streaming RPCs: Watch (create/cancel/progress, responses, close on end), LeaseKeepAlive
// (answers in request order), Snapshot (chunks in order, producer released on cancel); plus the
// Cluster/Maintenance/Health unary translations with uint64 ids.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { ClientDuplexStream, ClientReadableStream } from '@grpc/grpc-js';
import { EtcdError } from '../../../src/errors.js';
import { EventType } from '../../../src/mvcc/types.js';
import {
  bigClusterId, bigMemberId, callUnary, header, rawClients, ScriptedServer, startServer, until,
} from './harness.js';

let server: ScriptedServer;
let running: Awaited<ReturnType<typeof startServer>>;
let clients: ReturnType<typeof rawClients>;

beforeAll(async () => {
  server = new ScriptedServer();
  running = await startServer(server);
  clients = rawClients(running.port);
});
afterAll(() => running.stop());
beforeEach(() => {
  server.calls = [];
  server.answers = {};
  server.watchStreams = [];
});

describe('Watch', () => {
  it('forwards create/cancel/progress, sends responses with full headers, closes on end', async () => {
    const call = (clients.watch.Watch as () => ClientDuplexStream<unknown, any>).call(clients.watch);
    const received: any[] = [];
    call.on('data', (response) => received.push(response));
    const ended = new Promise<void>((resolve) => call.on('end', () => resolve()));

    call.write({ create_request: { key: Buffer.from('a'), range_end: Buffer.from('b'), start_revision: 3, progress_notify: true, filters: [1], prev_kv: true, watch_id: 5, fragment: true } });
    call.write({ create_request: { key: Buffer.alloc(0), range_end: Buffer.from([0]) } });
    call.write({ cancel_request: { watch_id: 5 } });
    call.write({ progress_request: {} });
    await until(() => server.watchStreams[0]?.commands.length === 4);
    const stream = server.watchStreams[0]!;
    expect(stream.commands).toStrictEqual([
      { create: { key: Buffer.from('a'), rangeEnd: Buffer.from('b'), startRevision: 3, progressNotify: true, filters: [1], prevKv: true, watchId: 5, fragment: true } },
      // An empty watch key means "\0", as in etcd.
      { create: { key: Buffer.from([0]), rangeEnd: Buffer.from([0]), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } },
      { cancel: 5 },
      { progress: true },
    ]);

    expect(stream.send({ revision: 8, watchId: 5, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false,
      events: [
        { type: EventType.PUT, kv: { key: Buffer.from('a1'), value: Buffer.from('v'), createRevision: 8, modRevision: 8, version: 1, lease: 1n << 62n },
          prevKv: { key: Buffer.from('a1'), value: Buffer.from('old'), createRevision: 2, modRevision: 4, version: 3, lease: 0n } },
        { type: EventType.DELETE, kv: { key: Buffer.from('a2'), value: Buffer.alloc(0), createRevision: 0, modRevision: 8, version: 0, lease: 0n } },
      ] })).toBe(true);
    stream.send({ revision: 9, watchId: -1, created: false, canceled: true, compactRevision: 4, cancelReason: 'mvcc: required revision has been compacted', fragment: true, events: [] });
    await until(() => received.length === 2);
    expect(received[0].header).toEqual({ cluster_id: bigClusterId.toString(), member_id: bigMemberId.toString(), revision: '8', raft_term: '7' });
    expect(received[0].watch_id).toBe('5');
    expect(received[0].events).toHaveLength(2);
    expect(received[0].events[0]).toMatchObject({ type: 0, kv: { key: Buffer.from('a1'), lease: (1n << 62n).toString(), version: '1' }, prev_kv: { value: Buffer.from('old') } });
    expect(received[0].events[1]).toMatchObject({ type: 1, kv: { key: Buffer.from('a2'), mod_revision: '8' }, prev_kv: null });
    expect(received[1]).toMatchObject({ watch_id: '-1', canceled: true, compact_revision: '4', cancel_reason: 'mvcc: required revision has been compacted', fragment: true });

    call.end();
    await ended;
    expect(stream.closed).toBe(true);
  });

  it('closes the watch stream when the client cancels, and fails the call on a malformed request', async () => {
    const call = (clients.watch.Watch as () => ClientDuplexStream<unknown, any>).call(clients.watch);
    call.on('error', () => undefined);
    call.write({ progress_request: {} });
    await until(() => server.watchStreams[0]?.commands.length === 1);
    call.cancel();
    await until(() => server.watchStreams[0]!.closed);

    const bad = (clients.watch.Watch as () => ClientDuplexStream<unknown, any>).call(clients.watch);
    const failed = new Promise<any>((resolve) => bad.on('error', resolve));
    bad.write({}); // no member of the request oneof set
    const error = await failed;
    expect(error.code).toBe(3);
    await until(() => server.watchStreams[1]?.closed === true);
  });

  it('reports a full transport buffer through send() and resumes the stream on drain', async () => {
    const call = (clients.watch.Watch as () => ClientDuplexStream<unknown, any>).call(clients.watch);
    call.pause();
    call.write({ progress_request: {} });
    await until(() => server.watchStreams[0]?.commands.length === 1);
    const stream = server.watchStreams[0]!;
    const big = { key: Buffer.from('k'), value: Buffer.alloc(64 * 1024, 1), createRevision: 1, modRevision: 1, version: 1, lease: 0n };
    let sent = 0;
    const sendMax = 1000;
    while (sent < sendMax && stream.send({ revision: 1, watchId: 0, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [{ type: 0, kv: big }] })) sent++;
    expect(sent).toBeLessThan(sendMax);
    expect(stream.commands).not.toContainEqual({ resume: true });
    call.on('data', () => undefined);
    call.resume();
    await until(() => stream.commands.some((command) => (command as { resume?: boolean }).resume === true), 5000);
    call.cancel();
    call.on('error', () => undefined);
  });

  it('ends the call with the mapped error when the stream cannot open', async () => {
    const { EtcdError } = await import('../../../src/errors.js');
    const openWatchStream = server.openWatchStream;
    server.openWatchStream = () => { throw new EtcdError('NoLeader'); };
    try {
      const call = (clients.watch.Watch as () => ClientDuplexStream<unknown, any>).call(clients.watch);
      const error = await new Promise<any>((resolve) => call.on('error', resolve));
      expect([error.code, error.details]).toEqual([14, 'etcdserver: no leader']);
    } finally {
      server.openWatchStream = openWatchStream;
    }
  });
});

describe('Watch ended by the server', () => {
  async function openedCall(metadata = new grpc.Metadata()) {
    const call = (clients.watch.Watch as (metadata: grpc.Metadata) => ClientDuplexStream<unknown, any>).call(clients.watch, metadata);
    const received: any[] = [];
    call.on('data', (response) => received.push(response));
    const failed = new Promise<any>((resolve) => call.on('error', resolve));
    call.write({ progress_request: {} });
    await until(() => server.watchStreams[0]?.commands.length === 1);
    return { call, received, failed, stream: server.watchStreams[0]! };
  }

  it('ends the call with Unavailable "etcdserver: server stopped" after the responses already sent', async () => {
    const { received, failed, stream } = await openedCall();
    expect(stream.ctx?.requireLeader).toBeUndefined();
    stream.send({ revision: 4, watchId: -1, created: false, canceled: false, compactRevision: 0, cancelReason: '', fragment: false, events: [] });
    stream.onClosed!(new EtcdError('Stopped'));
    const error = await failed;
    expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, 'etcdserver: server stopped']);
    expect(received.map((response) => response.header.revision)).toEqual(['4']);
    expect(stream.closed).toBe(true);
  });

  it('passes hasleader=true on as requireLeader, and ends the call with Unavailable "etcdserver: no leader" when told', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('hasleader', 'true');
    const { failed, stream } = await openedCall(metadata);
    expect(stream.ctx?.requireLeader).toBe(true);
    stream.onClosed!(new EtcdError('NoLeader'));
    const error = await failed;
    expect([error.code, error.details]).toEqual([grpc.status.UNAVAILABLE, 'etcdserver: no leader']);
    // The call and the server-side stream end together.
    expect(stream.closed).toBe(true);
  });
});

describe('LeaseKeepAlive', () => {
  it('answers every request in request order even when the server answers out of order', async () => {
    const delaysMs = [30, 0, 15];
    let index = 0;
    server.answers.leaseKeepAlive = (id) => {
      const delay = delaysMs[index++ % delaysMs.length]!;
      return new Promise((resolve) => setTimeout(() => resolve({ header: header(3), id, ttl: Number((id as bigint) % 100n) }), delay));
    };
    const call = (clients.lease.LeaseKeepAlive as () => ClientDuplexStream<unknown, any>).call(clients.lease);
    const received: any[] = [];
    call.on('data', (response) => received.push(response));
    const ids = [(1n << 62n) + 1n, 2n, 3n];
    for (const id of ids) call.write({ ID: id.toString() });
    await until(() => received.length === 3);
    expect(received.map((response) => response.ID)).toEqual(ids.map(String));
    expect(received.map((response) => response.TTL)).toEqual(ids.map((id) => String(id % 100n)));
    const ended = new Promise<void>((resolve) => call.on('end', () => resolve()));
    call.end();
    await ended;
  });
});

describe('Snapshot', () => {
  it('streams every chunk in order and ends', async () => {
    server.snapshotChunks = [
      { header: header(4), remainingBytes: 6, blob: Buffer.from('abc') },
      { header: header(4), remainingBytes: 3, blob: Buffer.from('def') },
      { header: header(4), remainingBytes: 0, blob: Buffer.from('sha') },
    ];
    const call = (clients.maintenance.Snapshot as (request: unknown) => ClientReadableStream<any>).call(clients.maintenance, {});
    const chunks: any[] = [];
    call.on('data', (chunk) => chunks.push(chunk));
    await new Promise<void>((resolve, reject) => { call.on('end', () => resolve()); call.on('error', reject); });
    expect(chunks.map((chunk) => [chunk.remaining_bytes, chunk.blob.toString()])).toEqual([['6', 'abc'], ['3', 'def'], ['0', 'sha']]);
    expect(server.snapshotReturned).toBe(true);
  });
});

describe('Cluster, Maintenance and Health', () => {
  it('translates member ids beyond 2^63 both ways', async () => {
    const memberId = 0xffffffffffffffffn;
    server.answers.memberList = () => ({ header: header(2), members: [{ id: memberId, name: 'n1', peerUrls: ['http://127.0.0.1:2380'], clientUrls: ['http://127.0.0.1:2379'], isLearner: true }] });
    const list = await callUnary(clients.cluster, 'MemberList', { linearizable: true });
    expect(server.calls[0]!.args[0]).toBe(true);
    expect(list.response!.members).toEqual([{ ID: memberId.toString(), name: 'n1', peerURLs: ['http://127.0.0.1:2380'], clientURLs: ['http://127.0.0.1:2379'], isLearner: true }]);
    await callUnary(clients.cluster, 'MemberRemove', { ID: memberId.toString() });
    expect(server.calls[1]).toMatchObject({ method: 'memberRemove', args: [memberId, {}] });
    await callUnary(clients.maintenance, 'Alarm', { action: 2, memberID: memberId.toString(), alarm: 1 });
    expect(server.calls[2]).toMatchObject({ method: 'alarm', args: [2, memberId, 1, {}] });
    await callUnary(clients.maintenance, 'MoveLeader', { targetID: memberId.toString() });
    expect(server.calls[3]).toMatchObject({ method: 'moveLeader', args: [memberId, {}] });
  });

  it('translates Status, Hash and HashKV', async () => {
    server.answers.status = () => ({
      header: header(3), version: '3.5.0', dbSize: 4096, leader: bigClusterId, raftIndex: 10, raftTerm: 2, raftAppliedIndex: 9,
      errors: ['etcdserver: no leader'], dbSizeInUse: 2048, isLearner: false,
    });
    const statusResponse = await callUnary(clients.maintenance, 'Status', {});
    expect(statusResponse.response).toMatchObject({ version: '3.5.0', dbSize: '4096', leader: bigClusterId.toString(), raftIndex: '10', raftTerm: '2', raftAppliedIndex: '9', errors: ['etcdserver: no leader'], dbSizeInUse: '2048' });
    const hash = await callUnary(clients.maintenance, 'Hash', {});
    expect(hash.response!.hash).toBe(0xffffffff);
    const hashKv = await callUnary(clients.maintenance, 'HashKV', { revision: 77 });
    expect(server.calls.at(-1)).toMatchObject({ method: 'hashKv', args: [77, {}] });
    expect(hashKv.response).toMatchObject({ hash: 1, compact_revision: '2', hash_revision: '3' });
  });

  it('translates lease grant, time-to-live and leases', async () => {
    const grant = await callUnary(clients.lease, 'LeaseGrant', { TTL: 60, ID: ((1n << 63n) - 1n).toString() });
    expect(server.calls[0]).toMatchObject({ method: 'leaseGrant', args: [60, (1n << 63n) - 1n, {}] });
    expect(grant.response).toMatchObject({ ID: ((1n << 63n) - 1n).toString(), TTL: '60', error: '' });
    server.answers.leaseTimeToLive = (id) => ({ header: header(3), id, ttl: 5, grantedTtl: 60, keys: [Buffer.from('k1')] });
    const ttl = await callUnary(clients.lease, 'LeaseTimeToLive', { ID: '9', keys: true });
    expect(ttl.response).toMatchObject({ ID: '9', TTL: '5', grantedTTL: '60', keys: [Buffer.from('k1')] });
    server.answers.leaseLeases = () => ({ header: header(3), leases: [1n, 1n << 60n] });
    const leases = await callUnary(clients.lease, 'LeaseLeases', {});
    expect(leases.response!.leases).toEqual([{ ID: '1' }, { ID: (1n << 60n).toString() }]);
  });

  it('reports health from isServing and NOT_FOUND for unknown services', async () => {
    server.serving = true;
    expect((await callUnary(clients.health, 'Check', { service: '' })).response!.status).toBe(1);
    server.serving = false;
    expect((await callUnary(clients.health, 'Check', { service: '' })).response!.status).toBe(2);
    const unknown = await callUnary(clients.health, 'Check', { service: 'nope' });
    expect(unknown.error?.code).toBe(5);
    server.serving = true;
  });
});
