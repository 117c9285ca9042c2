// ServerLocks against an in-process EtcdServer: etcd's key layout and txn, queueing in create
// order, re-entry by the same lease, leaving the queue on cancellation, and lease loss.
import { describe, expect, it } from 'vitest';
import { ServerLocks } from '../../../src/concurrency/mutex.js';
import { isEtcdError } from '../../../src/errors.js';
import { emptyRangeRequest } from '../../../src/mvcc/types.js';
import { grantLease, keysUnder, settledWithin, startServer } from './fixture.js';

const name = Buffer.from('mylock');

describe('ServerLocks', () => {
  it('takes a free lock at once: key name/hex(lease), empty value bound to the lease, header at the put', async () => {
    const server = await startServer();
    const lease = await grantLease(server);
    const locks = new ServerLocks(server);
    const held = await locks.lock(name, lease, new AbortController().signal);
    expect(held.key.toString()).toBe(`mylock/${lease.toString(16)}`);
    const [kv] = await keysUnder(server, 'mylock/');
    expect(kv).toMatchObject({ createRevision: held.header.revision, lease, version: 1 });
    expect(kv!.value.length).toBe(0);
    const released = await locks.unlock(held.key);
    expect(released.header.revision).toBe(held.header.revision + 1);
    expect(await keysUnder(server, 'mylock/')).toEqual([]);
  });

  it('queues waiters in create order and hands the lock on at each unlock', async () => {
    const server = await startServer();
    const [a, b, c] = await Promise.all([grantLease(server), grantLease(server), grantLease(server)]);
    const locks = new ServerLocks(server);
    const signal = new AbortController().signal;
    const first = await locks.lock(name, a, signal);
    const second = locks.lock(name, b, signal);
    expect(await settledWithin(second, 100)).toBe('pending');
    const third = locks.lock(name, c, signal);
    expect(await settledWithin(third, 100)).toBe('pending');
    expect((await keysUnder(server, 'mylock/')).length).toBe(3);

    await locks.unlock(first.key);
    const secondHeld = await second;
    expect(secondHeld.key.toString()).toBe(`mylock/${b.toString(16)}`);
    expect(await settledWithin(third, 100)).toBe('pending');
    await locks.unlock(secondHeld.key);
    expect((await third).key.toString()).toBe(`mylock/${c.toString(16)}`);
  });

  it('lets the holder lock again with the same lease, and a waiter keeps its place when it retries', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const locks = new ServerLocks(server);
    const signal = new AbortController().signal;
    const held = await locks.lock(name, a, signal);
    const again = await locks.lock(name, a, signal);
    expect(again.key).toEqual(held.key);
    const [kv] = await keysUnder(server, 'mylock/');
    expect(kv!.createRevision).toBe(held.header.revision);
    expect(kv!.version).toBe(1); // the second call found the key and did not rewrite it

    // Two calls with one lease are one waiter (one key): both get the lock when its turn comes.
    const waiting = locks.lock(name, b, new AbortController().signal);
    expect(await settledWithin(waiting, 50)).toBe('pending');
    const waitingAgain = locks.lock(name, b, new AbortController().signal);
    expect((await keysUnder(server, 'mylock/')).length).toBe(2);
    await locks.unlock(held.key);
    expect((await waitingAgain).key.toString()).toBe(`mylock/${b.toString(16)}`);
    expect((await waiting).key.toString()).toBe(`mylock/${b.toString(16)}`);
  });

  it('takes a cancelled waiter out of the queue, so the next one is not blocked by it', async () => {
    const server = await startServer();
    const [a, b, c] = await Promise.all([grantLease(server), grantLease(server), grantLease(server)]);
    const locks = new ServerLocks(server);
    const held = await locks.lock(name, a, new AbortController().signal);
    const abort = new AbortController();
    const cancelled = locks.lock(name, b, abort.signal);
    const third = locks.lock(name, c, new AbortController().signal);
    expect(await settledWithin(cancelled, 50)).toBe('pending');
    abort.abort();
    await expect(cancelled).rejects.toThrow('context canceled');
    const remaining = (await keysUnder(server, 'mylock/')).map((kv) => kv.key.toString());
    expect(remaining.sort()).toEqual([`mylock/${a.toString(16)}`, `mylock/${c.toString(16)}`].sort());
    await locks.unlock(held.key);
    expect((await third).key.toString()).toBe(`mylock/${c.toString(16)}`);
  });

  it('passes the lock on when the holder lease is revoked', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const locks = new ServerLocks(server);
    await locks.lock(name, a, new AbortController().signal);
    const waiting = locks.lock(name, b, new AbortController().signal);
    expect(await settledWithin(waiting, 50)).toBe('pending');
    await server.leaseRevoke(a);
    expect((await waiting).key.toString()).toBe(`mylock/${b.toString(16)}`);
  });

  it('fails with "mutex: session is expired" when the waiter lost its own lease before its turn', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const locks = new ServerLocks(server);
    const held = await locks.lock(name, a, new AbortController().signal);
    const waiting = locks.lock(name, b, new AbortController().signal);
    expect(await settledWithin(waiting, 50)).toBe('pending');
    await server.leaseRevoke(b);
    expect(await settledWithin(waiting, 50)).toBe('pending'); // still behind the holder
    await locks.unlock(held.key);
    await expect(waiting).rejects.toThrow('mutex: session is expired');
  });

  it('grants a 60 s session lease when the request names none, as etcd does', async () => {
    const server = await startServer();
    const held = await new ServerLocks(server).lock(name, 0n, new AbortController().signal);
    const [kv] = await keysUnder(server, 'mylock/');
    expect(kv!.lease).not.toBe(0n);
    expect(held.key.toString()).toBe(`mylock/${kv!.lease.toString(16)}`);
    const ttl = await server.leaseTimeToLive(kv!.lease, false);
    expect(ttl.grantedTtl).toBe(60);
  });

  it('answers an unknown lease with etcd\'s lease-not-found error and leaves no key', async () => {
    const server = await startServer();
    const error = await new ServerLocks(server).lock(name, 0x1234n, new AbortController().signal).catch((e: unknown) => e);
    expect(isEtcdError(error, 'LeaseNotFound')).toBe(true);
    const { result } = await server.range(emptyRangeRequest(Buffer.from('mylock/1234')));
    expect(result.kvs).toEqual([]);
  });
});
