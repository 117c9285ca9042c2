// EtcdServer in process, on a real LevelDB in a temp dir: the request path end to end below the
// API layer (propose → Raft → persist → apply → answer), restart and replay.
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EtcdServer, type EtcdServerConfig } from '../../../src/server/etcd-server.js';
import { emptyRangeRequest, type PutRequest } from '../../../src/mvcc/types.js';
import { isEtcdError } from '../../../src/errors.js';
import type { Backend } from '../../../src/storage/backend.js';
import type { WatchStreamResponse } from '../../../src/watch/types.js';
import { inProcessServerConfig } from '../../helpers/in-process-server.js';

const dirs: string[] = [];
const servers: EtcdServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function config(dataDir: string, overrides: Partial<EtcdServerConfig> = {}): EtcdServerConfig {
  return inProcessServerConfig(dataDir, overrides);
}

async function start(dataDir: string, overrides: Partial<EtcdServerConfig> = {}): Promise<EtcdServer> {
  const server = await EtcdServer.start(config(dataDir, overrides), pino({ level: 'silent' }));
  servers.push(server);
  await server.waitReady(10_000);
  return server;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-server-'));
  dirs.push(dir);
  return dir;
}

function put(key: string, value: string, extra: Partial<PutRequest> = {}): PutRequest {
  return { key: Buffer.from(key), value: Buffer.from(value), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false, ...extra };
}

describe('EtcdServer, one member', () => {
  it('applies a txn among puts of one Raft cycle in log order, and answers putWith once, also when it refuses', async () => {
    const server = await start(tempDir());
    // Proposed in one turn: one Ready. Apply runs synchronously up to the txn, waits for its
    // reads, then continues with the entries after it (apply.ts).
    const txn = { compare: [], success: [{ put: put('b', 'in-txn') }], failure: [] };
    const [a, t, c] = await Promise.all([server.put(put('a', '1')), server.txn(txn), server.put(put('c', '3'))]);
    expect([a.header.revision, t.header.revision, c.header.revision]).toEqual([2, 3, 4]);
    const viaCallback = await new Promise<{ header: { revision: number } }>((resolve, reject) => {
      server.putWith(put('d', '4'), undefined, (error, response) => (error === undefined ? resolve(response!) : reject(error)));
    });
    expect(viaCallback.header.revision).toBe(5);
    const refusals: unknown[] = [];
    server.putWith(put('', 'x'), undefined, (error) => refusals.push(error));
    expect(refusals).toHaveLength(1);
    expect(isEtcdError(refusals[0]) && refusals[0].errorName).toBe('EmptyKey');
    const all = await server.range({ ...emptyRangeRequest(Buffer.from('a')), rangeEnd: Buffer.from('z') });
    expect(all.result.kvs.map((kv) => `${kv.key}=${kv.value}@${kv.modRevision}`)).toEqual(['a=1@2', 'b=in-txn@3', 'c=3@4', 'd=4@5']);
  });

  it('starts at revision 1 with etcd default ids and answers puts with growing revisions', async () => {
    const server = await start(tempDir());
    const first = await server.range(emptyRangeRequest(Buffer.from('foo')));
    expect(first.header.revision).toBe(1);
    expect(first.header.memberId.toString(16)).toBe('8e9e05c52164694d');
    expect(first.header.clusterId.toString(16)).toBe('cdf818194e3a8c32');
    expect(first.result.kvs).toEqual([]);
    const a = await server.put(put('foo', 'bar'));
    const b = await server.put(put('foo', 'baz', { prevKv: true }));
    expect(a.header.revision).toBe(2);
    expect(b.header.revision).toBe(3);
    expect(b.result.prevKv?.value.toString()).toBe('bar');
    const got = await server.range(emptyRangeRequest(Buffer.from('foo')));
    expect(got.result.kvs[0]).toMatchObject({ createRevision: 2, modRevision: 3, version: 2 });
    expect(got.result.kvs[0].value.toString()).toBe('baz');
  });

  it('keeps every acknowledged write across a restart, and the member list shows the published client URL', async () => {
    const dir = tempDir();
    const server = await start(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => server.put(put(`k${i}`, `v${i}`))));
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const again = await start(dir);
    const all = await again.range({ ...emptyRangeRequest(Buffer.from('k'), Buffer.from('l')) });
    expect(all.result.count).toBe(50);
    expect(all.header.revision).toBe(51);
    const { members } = await again.memberList(true);
    expect(members).toHaveLength(1);
    expect(members[0]).toMatchObject({ name: 'default', clientUrls: ['http://localhost:2379'], peerUrls: ['http://localhost:2380'] });
  });

  it('replays from the write-ahead log what LevelDB lost of its unsynced writes (a power cut)', async () => {
    const dir = tempDir();
    const server = await start(dir);
    for (let i = 0; i < 5; i++) await server.put(put(`early${i}`, `v${i}`));
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    // LevelDB as a power cut could leave it: without any write made after this point.
    const dbDir = join(dir, 'member', 'db');
    cpSync(dbDir, `${dbDir}.before`, { recursive: true });
    const second = await start(dir);
    await Promise.all(Array.from({ length: 40 }, (_, i) => second.put(put(`late${i}`, `w${i}`))));
    const revisionBefore = second.currentRevision;
    await second.stop();
    servers.splice(servers.indexOf(second), 1);
    rmSync(dbDir, { recursive: true, force: true });
    renameSync(`${dbDir}.before`, dbDir);

    const again = await start(dir);
    expect(again.currentRevision).toBe(revisionBefore);
    const late = await again.range(emptyRangeRequest(Buffer.from('late'), Buffer.from('latf')));
    expect(late.result.count).toBe(40);
    const early = await again.range(emptyRangeRequest(Buffer.from('early'), Buffer.from('earlz')));
    expect(early.result.kvs.map((kv) => kv.value.toString())).toEqual(['v0', 'v1', 'v2', 'v3', 'v4']);
  });

  it('releases write-ahead log segments behind a compaction and restarts from what is left', async () => {
    const dir = tempDir();
    const server = await start(dir, { snapshotCount: 50, snapshotCatchupEntries: 5 });
    const value = 'x'.repeat(64 * 1024);
    // 2,800 puts of 64 KiB: about 180 MiB of log, three 64 MiB segments were none released.
    for (let i = 0; i < 70; i++) await Promise.all(Array.from({ length: 40 }, (_, j) => server.put(put(`big${j}`, `${i}-${value}`))));
    const segments = () => readdirSync(join(dir, 'member', 'raft-wal')).filter((name) => name.endsWith('.wal'));
    expect(segments().length).toBeLessThanOrEqual(2);
    const revision = server.currentRevision;
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    const again = await start(dir, { snapshotCount: 50, snapshotCatchupEntries: 5 });
    expect(again.currentRevision).toBe(revision);
    const got = await again.range(emptyRangeRequest(Buffer.from('big0')));
    expect(got.result.kvs[0].value.toString().startsWith('69-')).toBe(true);
  });

  it('keeps the Raft log in --wal-dir when given, and restarts from it', async () => {
    const dir = tempDir();
    const walDir = join(tempDir(), 'wal');
    const server = await start(dir, { walDir });
    await server.put(put('in-wal-dir', 'v'));
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    expect(readdirSync(walDir).some((name) => name.endsWith('.wal'))).toBe(true);
    expect(readdirSync(join(dir, 'member'))).not.toContain('raft-wal');
    await expect(EtcdServer.start(config(dir), pino({ level: 'silent' }))).rejects.toThrow(/write-ahead log in .* is empty, but the data dir has applied entries/);
    const again = await start(dir, { walDir });
    expect((await again.range(emptyRangeRequest(Buffer.from('in-wal-dir')))).result.count).toBe(1);
  });

  it('revokes a lease by deleting its keys in one revision, and rejects unknown leases with etcd errors', async () => {
    const server = await start(tempDir());
    const { id, ttl } = await server.leaseGrant(60, 0n);
    expect(id > 0n).toBe(true);
    expect(ttl).toBe(60);
    await server.put(put('a', '1', { lease: id }));
    await server.put(put('b', '2', { lease: id }));
    const before = server.currentRevision;
    await server.leaseRevoke(id);
    expect(server.currentRevision).toBe(before + 1);
    const left = await server.range(emptyRangeRequest(Buffer.from('a'), Buffer.from('c')));
    expect(left.result.count).toBe(0);
    await expect(server.put(put('c', '3', { lease: 12345n }))).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'LeaseNotFound'));
    await expect(server.leaseRevoke(id)).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'LeaseNotFound'));
    expect((await server.leaseTimeToLive(id, false)).ttl).toBe(-1);
  });

  it('expires a lease on the leader through a proposed revoke', async () => {
    const server = await start(tempDir(), { electionTimeoutMs: 500, heartbeatIntervalMs: 50 });
    const { id, ttl } = await server.leaseGrant(1, 0n);
    expect(ttl).toBe(1);
    await server.put(put('ephemeral', 'x', { lease: id }));
    const deadline = Date.now() + 8000;
    while (Date.now() < deadline && (await server.range(emptyRangeRequest(Buffer.from('ephemeral')))).result.count > 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await server.range(emptyRangeRequest(Buffer.from('ephemeral')))).result.count).toBe(0);
    expect((await server.leaseTimeToLive(id, false)).ttl).toBe(-1);
  });

  it('streams watch events of applied writes in order', async () => {
    const server = await start(tempDir());
    const received: WatchStreamResponse[] = [];
    const stream = server.openWatchStream((response) => {
      received.push(response);
      return true;
    });
    stream.create({ key: Buffer.from('w'), rangeEnd: Buffer.from('x'), startRevision: 0, progressNotify: false, filters: [], prevKv: true, watchId: 0, fragment: false });
    await server.put(put('w1', 'a'));
    await server.put(put('w1', 'b'));
    await server.deleteRange({ key: Buffer.from('w1'), rangeEnd: Buffer.alloc(0), prevKv: false });
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && received.flatMap((r) => r.events).length < 3) await new Promise((r) => setTimeout(r, 10));
    expect(received[0].created).toBe(true);
    const events = received.flatMap((r) => r.events);
    expect(events.map((e) => [e.type, e.kv.modRevision])).toEqual([[0, 2], [0, 3], [1, 4]]);
    expect(events[1].prevKv?.value.toString()).toBe('a');
    stream.close();
  });

  it("answers a put only after the microtasks its watch events queued, so a watcher's event leaves first", async () => {
    // The gRPC watch stream writes its batch in a microtask (lean-duplex-call.ts), its put's answer
    // goes out when putWith's callback runs: that must come after, or the writer hears of its put
    // before the watchers do (etcd's watch-latency bench times from the answer to the event).
    const server = await start(tempDir());
    const order: string[] = [];
    const stream = server.openWatchStream((response) => {
      if (response.events.length > 0) queueMicrotask(() => order.push(`event ${response.events[0]!.kv.modRevision}`));
      return true;
    });
    stream.create({ key: Buffer.from('o'), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false });
    await new Promise((resolve) => setTimeout(resolve, 20));
    for (const value of ['1', '2']) {
      await new Promise<void>((resolve, reject) => {
        server.putWith(put('o', value), undefined, (error, response) => {
          if (error !== undefined) { reject(error); return; }
          order.push(`answer ${response!.header.revision}`);
          resolve();
        });
      });
    }
    expect(order).toEqual(['event 2', 'answer 2', 'event 3', 'answer 3']);
    stream.close();
  });

  it('looks up the token of a linearizable read after its read-index wait: a user deleted in that wait makes it invalid, as in etcd', async () => {
    const server = await start(tempDir());
    const noPassword = { noPassword: false, hashedPassword: '' };
    await server.auth.userAdd('root', 'rootpw', noPassword);
    await server.auth.userGrantRole('root', 'root');
    await server.auth.userAdd('alice', 'alicepw', noPassword);
    await server.auth.authEnable();
    const root = { token: (await server.auth.authenticate('root', 'rootpw')).token };
    const alice = { token: (await server.auth.authenticate('alice', 'alicepw')).token };
    const errorName = (settled: PromiseSettledResult<unknown>) =>
      (settled.status === 'rejected' && isEtcdError(settled.reason) ? settled.reason.errorName : settled.status);
    // Proposed in one turn with both reads, while alice's token is still valid: the deletion is
    // applied in the cycle that ends the reads' wait (etcd drops a deleted user's simple tokens).
    const deleted = server.auth.userDelete('alice', root);
    const ranged = server.range(emptyRangeRequest(Buffer.from('a')), alice);
    const readOnlyTxn = server.txn({ compare: [], success: [{ range: emptyRangeRequest(Buffer.from('a')) }], failure: [] }, alice);
    const [range, txn] = await Promise.allSettled([ranged, readOnlyTxn]);
    await deleted;
    expect(errorName(range)).toBe('InvalidAuthToken');
    expect(errorName(txn)).toBe('InvalidAuthToken');
  });

  it('with --experimental-stop-grpc-service-on-defrag, says it is not serving while a defragmentation runs (only then)', async () => {
    for (const stopOnDefrag of [true, false]) {
      const server = await start(tempDir(), { stopGrpcServiceOnDefrag: stopOnDefrag });
      const backend = (server as unknown as { backend: Backend }).backend;
      const compactRange = backend.compactRange.bind(backend);
      let release: (() => void) | undefined;
      vi.spyOn(backend, 'compactRange').mockImplementation(async (from, to) => {
        await new Promise<void>((resolve) => { release = resolve; });
        return compactRange(from, to);
      });
      expect(server.isServing()).toBe(true);
      const defragmenting = server.defragment();
      await vi.waitFor(() => expect(release).toBeDefined());
      expect(server.isServing()).toBe(!stopOnDefrag);
      release!();
      await defragmenting;
      expect(server.isServing()).toBe(true);
    }
  });

  it('compacts: reads below the compaction revision fail with etcd errors, reads at it succeed', async () => {
    const server = await start(tempDir());
    for (let i = 0; i < 5; i++) await server.put(put('c', String(i)));
    await server.compact(4, true);
    await expect(server.range({ ...emptyRangeRequest(Buffer.from('c')), revision: 3 })).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'Compacted'));
    const at = await server.range({ ...emptyRangeRequest(Buffer.from('c')), revision: 4 });
    expect(at.result.kvs[0].value.toString()).toBe('2');
    await expect(server.compact(4, false)).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'Compacted'));
    await expect(server.compact(100, false)).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'FutureRev'));
  });

  it('streams a snapshot etcdctl accepts: 512-byte aligned body followed by its sha256', async () => {
    const server = await start(tempDir());
    await server.put(put('snap', 'shot'));
    const chunks: Buffer[] = [];
    let lastRemaining = -1;
    for await (const chunk of server.snapshot()) {
      chunks.push(chunk.blob);
      lastRemaining = chunk.remainingBytes;
    }
    expect(lastRemaining).toBe(0);
    const all = Buffer.concat(chunks);
    expect(all.length % 512).toBe(32);
    const body = all.subarray(0, all.length - 32);
    expect(createHash('sha256').update(body).digest().equals(all.subarray(all.length - 32))).toBe(true);
    expect(body.includes(Buffer.from('shot'))).toBe(true);
  });

  it('refuses membership changes with etcd\'s errors', async () => {
    const server = await start(tempDir());
    const self = server.memberId;
    const is = (name: Parameters<typeof isEtcdError>[1]) => (e: unknown) => isEtcdError(e, name);
    await expect(server.memberRemove(0x1234n)).rejects.toSatisfy(is('MemberNotFound'));
    await expect(server.memberUpdate(0x1234n, ['http://127.0.0.1:2390'])).rejects.toSatisfy(is('MemberNotFound'));
    await expect(server.memberPromote(self)).rejects.toSatisfy(is('MemberNotLearner'));
    await expect(server.memberAdd(['not a url'], false)).rejects.toSatisfy(is('MemberBadURLs'));
    await expect(server.memberAdd(['http://localhost:2380'], false)).rejects.toSatisfy(is('PeerURLExist'));
    // The last voter cannot be removed: no quorum would be left.
    await expect(server.memberRemove(self)).rejects.toSatisfy(is('MemberNotEnoughStarted'));
    expect((await server.memberList(false)).members).toHaveLength(1);
  });

  it('raises NOSPACE past the quota, refuses puts until disarmed, and still serves reads and deletes', async () => {
    const server = await start(tempDir(), { quotaBackendBytes: 64 * 1024 });
    const big = 'x'.repeat(16 * 1024);
    let refused = false;
    for (let i = 0; i < 40 && !refused; i++) {
      try {
        await server.put(put(`big${i}`, big));
      } catch (error) {
        expect(isEtcdError(error, 'NoSpace')).toBe(true);
        refused = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect(refused).toBe(true);
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && server.activeAlarms.length === 0) await new Promise((r) => setTimeout(r, 20));
    expect(server.activeAlarms.map((a) => a.alarm)).toEqual([1]);
    await expect(server.put(put('small', 'y'))).rejects.toSatisfy((e: unknown) => isEtcdError(e, 'NoSpace'));
    expect((await server.range(emptyRangeRequest(Buffer.from('big0')))).result.count).toBe(1);
    await server.deleteRange({ key: Buffer.from('big0'), rangeEnd: Buffer.alloc(0), prevKv: false });
    const status = await server.status();
    expect(status.errors.some((e) => e.includes('alarm:NOSPACE'))).toBe(true);
  });
});
