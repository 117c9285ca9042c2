// Reproduces and guards a bug found by the partition test: a follower that falls behind the
// leader's compacted log gets the leader's state snapshot, whose applied index is ahead of the Raft
// snapshot index it travels with; the follower's next log compaction then asked Raft for a
// snapshot beyond its last log index and the member died ("snapshot N is out of bound lastIndex M").
// Here the follower is cut off by the peer proxy (a SIGSTOP is not enough: the leader's pipeline of
// 512 in-flight appends would cover the gap), writes continue past --snapshot-count, and after the
// heal it must catch up, keep running through more compactions, and serve the data.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { sleep, TestCluster } from '../helpers/cluster.js';
import { createTestClient } from './etcd3-client.js';

const snapshotCount = 20;
const writesWhileCut = 80;
const writesAfterResume = 60;

let cluster: TestCluster;

beforeAll(async () => {
  const catchUp = process.env.COMPAT_SELF_CHECK === '1' ? [] : ['--snapshot-catchup-entries=5'];
  cluster = await TestCluster.start({ size: 3, proxied: true, extraArgs: [`--snapshot-count=${snapshotCount}`, ...catchUp] });
});

afterAll(async () => {
  await cluster?.close();
});

test('a follower brought up to date by snapshot keeps running through its next compactions', async () => {
  const leader = await cluster.waitLeader();
  const follower = cluster.running().find((member) => member.name !== leader.name);
  if (!follower?.process) throw new Error('no follower');
  const client = createTestClient([leader.clientUrl], 5000);
  try {
    cluster.proxy?.isolate(follower.name);
    for (let index = 0; index < writesWhileCut; index++) await client.put(`catchup/cut/${index}`).value(`p${index}`);
    cluster.proxy?.heal();
    // The follower catches up by snapshot; then more entries make it compact its own log.
    for (let index = 0; index < writesAfterResume; index++) {
      await client.put(`catchup/after/${index}`).value(`a${index}`);
      if (index % 10 === 0) await sleep(50);
    }
    const deadline = Date.now() + 15_000;
    let count = '';
    while (Date.now() < deadline) {
      const read = await cluster.ctl(follower, ['get', '--prefix', 'catchup/', '--limit=1', '--consistency=l', '-w', 'json'], 3);
      count = /"count":(\d+)/.exec(read.stdout)?.[1] ?? read.stderr;
      if (count === String(writesWhileCut + writesAfterResume) || follower.process.exitStatus() !== undefined) break;
      await sleep(250);
    }
    expect(follower.process.exitStatus(), `${follower.name} died:\n${follower.process.output()}`).toBeUndefined();
    expect(count).toBe(String(writesWhileCut + writesAfterResume));
  } finally {
    client.close();
  }
});
