// Crash safety of the server under test: writers collect acknowledged puts while the server is
// killed with SIGKILL and restarted on the same data dir, several times. Afterwards every
// acknowledged put must be there with its value, revisions must never go backwards, and every
// restart must come up healthy.
import { expect, test } from 'vitest';
import { etcdctl } from '../helpers/etcdctl.js';
import { startServerUnderTest, selfCheck, type EtcdProcess } from '../helpers/etcd-process.js';
import { lostPuts, type AckedPut, type StoredKey } from '../helpers/acked-puts.js';

const crashCycles = 5;
const writersPerCycle = 2;
/** Writes run this long per cycle; the kill lands somewhere in the middle of it. */
const writeWindowMs = 1500;
const killAfterMinMs = 500;
const killAfterMaxMs = 1200;

async function currentRevision(server: EtcdProcess): Promise<number> {
  const result = await etcdctl(server.clientUrl, ['get', 'crash-probe', '-w', 'json']);
  const revision = /"revision":(\d+)/.exec(result.stdout)?.[1];
  if (result.exitCode !== 0 || revision === undefined) throw new Error(`get failed: ${result.stdout}${result.stderr}`);
  return Number(revision);
}

/** Sequential puts until `deadline`; returns the acknowledged ones, in order. */
async function writeUntil(server: EtcdProcess, cycle: number, writer: number, deadline: number): Promise<AckedPut[]> {
  const acks: AckedPut[] = [];
  for (let sequence = 0; Date.now() < deadline; sequence++) {
    const key = `crash/${cycle}/${writer}/${String(sequence).padStart(5, '0')}`;
    const value = `value-${cycle}-${writer}-${sequence}-${'x'.repeat(sequence % 50)}`;
    const result = await etcdctl(server.clientUrl, ['--dial-timeout=1s', '--command-timeout=2s', 'put', key, value, '-w', 'json'], { timeoutMs: 5000 });
    const revision = /"revision":(\d+)/.exec(result.stdout)?.[1];
    if (result.exitCode === 0 && revision !== undefined) {
      acks.push({ key, value, revision: Number(revision) });
    } else {
      // The server is down: not acknowledged, so no promise was made. Back off a little.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return acks;
}

test(`acknowledged puts survive ${crashCycles} SIGKILL/restart cycles (${selfCheck ? 'real etcd' : 'etcd-ts'})`, async () => {
  let server = await startServerUnderTest({ name: 'crash' });
  const { dataDir, clientPort, peerPort } = server;
  const allAcks: AckedPut[] = [];
  let highestRevisionSeen = 0;
  let killedDuringWrites = 0;

  for (let cycle = 0; cycle < crashCycles; cycle++) {
    const deadline = Date.now() + writeWindowMs;
    const writers = Array.from({ length: writersPerCycle }, (_, writer) => writeUntil(server, cycle, writer, deadline));
    await new Promise((resolve) => setTimeout(resolve, killAfterMinMs + Math.random() * (killAfterMaxMs - killAfterMinMs)));
    const exit = await server.kill('SIGKILL');
    expect(exit.signal, `cycle ${cycle}: the server must die from our SIGKILL, not exit by itself earlier`).toBe('SIGKILL');
    const cycleAcks = (await Promise.all(writers)).flat();
    // Some puts must have been acknowledged before the kill, or the test proves nothing.
    if (cycleAcks.length > 0) killedDuringWrites++;

    server = await startServerUnderTest({ name: 'crash', dataDir, clientPort, peerPort });
    const revisionAfterRestart = await currentRevision(server);
    for (const ack of cycleAcks) {
      // Every put bumps the revision, so anything acknowledged in this cycle lies above the revision
      // the server reported after the previous restart.
      expect(ack.revision, `cycle ${cycle}: put ${ack.key} acknowledged at or below an earlier revision`).toBeGreaterThan(highestRevisionSeen);
    }
    const maxAcked = Math.max(highestRevisionSeen, ...cycleAcks.map((ack) => ack.revision));
    expect(revisionAfterRestart, `cycle ${cycle}: revision went backwards over the restart`).toBeGreaterThanOrEqual(maxAcked);
    highestRevisionSeen = revisionAfterRestart;
    allAcks.push(...cycleAcks);
  }

  // Within one writer, acknowledged puts are sequential, so their revisions strictly increase.
  const byWriter = new Map<string, AckedPut[]>();
  for (const ack of allAcks) {
    const writer = ack.key.split('/')[2] ?? '';
    byWriter.set(writer, [...(byWriter.get(writer) ?? []), ack]);
  }
  for (const [writer, acks] of byWriter) {
    for (let i = 1; i < acks.length; i++) {
      expect(acks[i]!.revision, `writer ${writer}: ${acks[i]!.key} after ${acks[i - 1]!.key}`).toBeGreaterThan(acks[i - 1]!.revision);
    }
  }

  const result = await etcdctl(server.clientUrl, ['get', 'crash/', '--prefix', '-w', 'json'], { timeoutMs: 20_000 });
  expect(result.exitCode, result.stderr).toBe(0);
  const stored = new Map<string, StoredKey>();
  const parsed = JSON.parse(result.stdout) as { kvs?: Array<{ key: string; value: string; mod_revision: number }> };
  for (const kv of parsed.kvs ?? []) {
    stored.set(Buffer.from(kv.key, 'base64').toString('utf8'), { value: Buffer.from(kv.value, 'base64').toString('utf8'), modRevision: kv.mod_revision });
  }
  expect(lostPuts(allAcks, stored), 'acknowledged puts lost or changed').toEqual([]);
  expect(killedDuringWrites, 'cycles in which puts were acknowledged before the kill').toBeGreaterThanOrEqual(crashCycles - 1);
  expect(allAcks.length).toBeGreaterThan(crashCycles * 5);
  await server.stop();
}, 180_000);
