// Crash safety under many puts in flight: 64 writers over one etcd3 client keep the server's Raft
// cycles full, with values large enough that a cycle's log write leaves the thread (appends over
// 16 KiB go to libuv's pool, segmented-log.ts). The server is killed with SIGKILL amid that load,
// so a kill can land in the middle of a large log write or between a cycle's answers and its
// LevelDB hand-over, and restarted on the same data dir; every acknowledged put must be there, with
// its value and the revision it was answered with. What a kill cannot show is a missing fsync (the
// page cache outlives the process): the order of answers and log writes within a cycle is
// raft-node.test.ts's to check.
import { expect, test } from 'vitest';
import type { Etcd3 } from 'etcd3';
import { createTestClient } from '../faults/etcd3-client.js';
import { startServerUnderTest, selfCheck, type EtcdProcess } from '../helpers/etcd-process.js';
import { lostPuts, type AckedPut, type StoredKey } from '../helpers/acked-puts.js';

const crashCycles = 3;
const writers = 64;
const killAfterMinMs = 400;
const killAfterMaxMs = 900;
const callDeadlineMs = 3000;

/** Sequential puts until one fails (the server is gone); returns the acknowledged ones. */
async function writeUntilFailure(client: Etcd3, cycle: number, writer: number): Promise<AckedPut[]> {
  const acks: AckedPut[] = [];
  for (let sequence = 0; sequence < 100_000; sequence++) {
    const key = `crash-many/${cycle}/${String(writer).padStart(2, '0')}/${String(sequence).padStart(5, '0')}`;
    // ~650 bytes: a cycle of 25 puts or more is a log write in the pool.
    const value = `v-${cycle}-${writer}-${sequence}-${'x'.repeat(600)}`;
    try {
      const response = await client.put(key).value(value).exec();
      acks.push({ key, value, revision: Number(response.header.revision) });
    } catch {
      return acks;
    }
  }
  return acks;
}

async function currentRevision(client: Etcd3): Promise<number> {
  const response = await client.get('crash-many-probe').exec();
  return Number(response.header.revision);
}

test(`acknowledged puts of ${writers} concurrent writers survive ${crashCycles} SIGKILL/restart cycles (${selfCheck ? 'real etcd' : 'etcd-ts'})`, async () => {
  let server: EtcdProcess = await startServerUnderTest({ name: 'crash-many' });
  const { dataDir, clientPort, peerPort } = server;
  const allAcks: AckedPut[] = [];
  let highestRevisionSeen = 0;
  try {
    for (let cycle = 0; cycle < crashCycles; cycle++) {
      const client = createTestClient([server.clientUrl], callDeadlineMs);
      const writing = Array.from({ length: writers }, (_, writer) => writeUntilFailure(client, cycle, writer));
      await new Promise((resolve) => setTimeout(resolve, killAfterMinMs + Math.random() * (killAfterMaxMs - killAfterMinMs)));
      const exit = await server.kill('SIGKILL');
      expect(exit.signal, `cycle ${cycle}: the server must die from our SIGKILL`).toBe('SIGKILL');
      const cycleAcks = (await Promise.all(writing)).flat();
      client.close();
      // Enough puts were answered under load for the cycles to have been full.
      expect(cycleAcks.length, `cycle ${cycle}: puts acknowledged before the kill`).toBeGreaterThan(writers * 2);

      server = await startServerUnderTest({ name: 'crash-many', dataDir, clientPort, peerPort });
      const reader = createTestClient([server.clientUrl], callDeadlineMs);
      try {
        const revisionAfterRestart = await currentRevision(reader);
        for (const ack of cycleAcks) expect(ack.revision, `cycle ${cycle}: ${ack.key}`).toBeGreaterThan(highestRevisionSeen);
        const maxAcked = Math.max(...cycleAcks.map((ack) => ack.revision));
        expect(revisionAfterRestart, `cycle ${cycle}: revision went backwards over the restart`).toBeGreaterThanOrEqual(maxAcked);
        highestRevisionSeen = revisionAfterRestart;
        // Each put got a revision of its own.
        expect(new Set(cycleAcks.map((ack) => ack.revision)).size).toBe(cycleAcks.length);

        const stored = new Map<string, StoredKey>();
        const kvs = await reader.getAll().prefix(`crash-many/${cycle}/`).exec();
        for (const kv of kvs.kvs) stored.set(kv.key.toString(), { value: kv.value.toString(), modRevision: Number(kv.mod_revision) });
        expect(lostPuts(cycleAcks, stored), `cycle ${cycle}: acknowledged puts lost or changed`).toEqual([]);
      } finally {
        reader.close();
      }
      allAcks.push(...cycleAcks);
    }
    expect(allAcks.length).toBeGreaterThan(crashCycles * writers * 2);
  } finally {
    await server.stop();
  }
}, 120_000);
