// The Lock and Election gRPC services over a real socket on an in-process EtcdServer: wire shapes,
// etcd's UNKNOWN-with-text errors, a cancelled or timed-out Lock leaving the queue, Observe streaming.
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { bindGrpcServer, createGrpcServer } from '../../../src/api/grpc/server.js';
import type { EtcdServer } from '../../../src/server/etcd-server.js';
import { settledWithin, startServer } from './fixture.js';
import { grantLeaseOver, keysOver, lockElectionClients, startUnary, unary, type Clients } from './grpc-clients.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(): Promise<{ server: EtcdServer; clients: Clients }> {
  const server = await startServer();
  const grpcServer = createGrpcServer({ server, maxRequestBytes: 1.5 * 1024 * 1024, logger: pino({ level: 'silent' }) });
  const port = await bindGrpcServer(grpcServer, '127.0.0.1', 0);
  cleanups.push(() => grpcServer.forceShutdown());
  const clients = lockElectionClients(`127.0.0.1:${port}`);
  cleanups.push(() => clients.close());
  return { server, clients };
}

async function until(condition: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Lock service over gRPC', () => {
  it('locks, answers the key as bytes with the header, and unlocks', async () => {
    const { clients } = await serve();
    const lease = await grantLeaseOver(clients, 30);
    const locked = await unary(clients.lock, 'Lock', { name: Buffer.from('wire'), lease });
    expect(locked.error).toBeUndefined();
    expect((locked.response!.key as Buffer).toString()).toBe(`wire/${BigInt(lease).toString(16)}`);
    expect(Number(locked.response!.header.revision)).toBeGreaterThan(1);
    expect(String(locked.response!.header.member_id)).not.toBe('0');
    const unlocked = await unary(clients.lock, 'Unlock', { key: locked.response!.key });
    expect(Number(unlocked.response!.header.revision)).toBe(Number(locked.response!.header.revision) + 1);
    expect(await keysOver(clients, 'wire/')).toEqual([]);
  });

  it('answers every failure as UNKNOWN with etcd\'s text, KV errors included', async () => {
    const { clients } = await serve();
    const unknownLease = await unary(clients.lock, 'Lock', { name: Buffer.from('x'), lease: '4660' });
    expect([unknownLease.error?.code, unknownLease.error?.details]).toEqual([grpc.status.UNKNOWN, 'etcdserver: requested lease not found']);
    const noLeader = await unary(clients.election, 'Leader', { name: Buffer.from('nobody') });
    expect([noLeader.error?.code, noLeader.error?.details]).toEqual([grpc.status.UNKNOWN, 'election: no leader']);
    const missing = await unary(clients.election, 'Proclaim', { value: Buffer.from('v') });
    expect([missing.error?.code, missing.error?.details]).toEqual([grpc.status.UNKNOWN, '"leader" field must be provided']);
    const emptyLeader = await unary(clients.election, 'Resign', { leader: {} });
    expect([emptyLeader.error?.code, emptyLeader.error?.details]).toEqual([grpc.status.UNKNOWN, 'etcdserver: key is not provided']);
  });

  it('takes the key of a waiter whose client cancels, and of one whose deadline passes', async () => {
    const { clients } = await serve();
    const [a, b, c] = await Promise.all([grantLeaseOver(clients, 30), grantLeaseOver(clients, 30), grantLeaseOver(clients, 30)]);
    const held = await unary(clients.lock, 'Lock', { name: Buffer.from('q'), lease: a });
    const cancelled = startUnary(clients.lock, 'Lock', { name: Buffer.from('q'), lease: b });
    await until(async () => (await keysOver(clients, 'q/')).length === 2);
    cancelled.cancel();
    expect((await cancelled.done).error?.code).toBe(grpc.status.CANCELLED);
    await until(async () => (await keysOver(clients, 'q/')).length === 1);

    const timedOut = await unary(clients.lock, 'Lock', { name: Buffer.from('q'), lease: c }, 300);
    expect(timedOut.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await until(async () => (await keysOver(clients, 'q/')).length === 1);
    expect((await keysOver(clients, 'q/'))[0]!.key).toBe((held.response!.key as Buffer).toString());
  });
});

describe('Election service over gRPC', () => {
  it('campaigns, proclaims and resigns with the LeaderKey the campaign returned', async () => {
    const { clients } = await serve();
    const lease = await grantLeaseOver(clients, 30);
    const won = await unary(clients.election, 'Campaign', { name: Buffer.from('e'), lease, value: Buffer.from('v1') });
    const leaderKey = won.response!.leader;
    expect({ ...leaderKey, name: leaderKey.name.toString(), key: leaderKey.key.toString() })
      .toEqual({ name: 'e', key: `e/${BigInt(lease).toString(16)}`, rev: won.response!.header.revision, lease });
    expect((await unary(clients.election, 'Proclaim', { leader: leaderKey, value: Buffer.from('v2') })).error).toBeUndefined();
    const leader = await unary(clients.election, 'Leader', { name: Buffer.from('e') });
    expect(leader.response!.kv.value.toString()).toBe('v2');
    expect(leader.response!.kv.create_revision).toBe(leaderKey.rev);
    const stale = await unary(clients.election, 'Proclaim', { leader: { ...leaderKey, rev: '999' }, value: Buffer.from('x') });
    expect([stale.error?.code, stale.error?.details]).toEqual([grpc.status.UNKNOWN, 'election: not leader']);
    expect((await unary(clients.election, 'Resign', { leader: leaderKey })).error).toBeUndefined();
    expect((await unary(clients.election, 'Leader', { name: Buffer.from('e') })).error?.details).toBe('election: no leader');
  });

  it('streams leader changes to an observer until it cancels', async () => {
    const { clients } = await serve();
    const [a, b] = await Promise.all([grantLeaseOver(clients, 30), grantLeaseOver(clients, 30)]);
    const first = await unary(clients.election, 'Campaign', { name: Buffer.from('o'), lease: a, value: Buffer.from('a') });
    const stream = (clients.election.Observe as (request: unknown) => grpc.ClientReadableStream<Record<string, any>>)
      .call(clients.election, { name: Buffer.from('o') });
    const values: string[] = [];
    const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    stream.on('data', (response: Record<string, any>) => values.push(response.kv.value.toString()));
    await until(async () => values.length === 1);
    const second = startUnary(clients.election, 'Campaign', { name: Buffer.from('o'), lease: b, value: Buffer.from('b') });
    expect(await settledWithin(second.done, 100)).toBe('pending');
    await unary(clients.election, 'Proclaim', { leader: first.response!.leader, value: Buffer.from('a2') });
    await unary(clients.election, 'Resign', { leader: first.response!.leader });
    expect((await second.done).error).toBeUndefined();
    await until(async () => values.length === 3);
    expect(values).toEqual(['a', 'a2', 'b']);
    stream.cancel();
    expect((await ended).code).toBe(grpc.status.CANCELLED);
  });
});
