// A member cut off from its peers by the peer proxy: it cannot serve linearizable reads while the
// majority keeps accepting writes; the leader compacts its log past the cut member (small
// --snapshot-count), so after the heal the member catches up by snapshot and serves the latest
// data; an etcdctl watcher on it, started before the cut, sees every event once, in order.
import { afterAll, beforeAll, expect, test } from 'vitest';
import { spawnWatch, type WatchProcess } from '../helpers/etcdctl.js';
import { sleep, TestCluster } from '../helpers/cluster.js';
import { createTestClient } from './etcd3-client.js';

const snapshotCount = 50;
/** Writes while the member is cut: enough for the leader to snapshot and compact past it twice. */
const writesDuringCut = 160;
const writesBeforeCut = 5;
const catchUpTimeoutMs = 20_000;

let cluster: TestCluster;

beforeAll(async () => {
  // etcd 3.4 has no catch-up flag (it keeps 5000 entries), so the snapshot part is etcd-ts only.
  const catchUp = process.env.COMPAT_SELF_CHECK === '1' ? [] : ['--snapshot-catchup-entries=10'];
  cluster = await TestCluster.start({ size: 3, proxied: true, extraArgs: [`--snapshot-count=${snapshotCount}`, ...catchUp] });
});

afterAll(async () => {
  await cluster?.close();
});

/** mod_revision of every event in `etcdctl watch -w json` output lines, in arrival order. */
function watchedRevisions(lines: readonly string[]): number[] {
  const revisions: number[] = [];
  for (const line of lines) {
    for (const match of line.matchAll(/"mod_revision":(\d+)/g)) revisions.push(Number(match[1]));
  }
  return revisions;
}

test('a cut-off member refuses linearizable reads, then catches up by snapshot; its watcher sees every event once, in order', async () => {
  const proxy = cluster.proxy;
  if (!proxy) throw new Error('cluster is not proxied');
  const leader = await cluster.waitLeader();
  const cut = cluster.running().find((member) => member.name !== leader.name);
  if (!cut) throw new Error('no follower');
  const majority = cluster.running().filter((member) => member !== cut);
  const client = createTestClient(majority.map((member) => member.clientUrl), 5000);
  let watch: WatchProcess | undefined;
  try {
    const putRevisions: number[] = [];
    const put = async (key: string, value: string): Promise<void> => {
      const response = await client.put(key).value(value).exec();
      putRevisions.push(Number(response.header.revision));
    };
    // Start at the next revision: without --rev the first put can beat the watch's create request.
    const startRevision = ((await cluster.status(leader))?.revision ?? 0) + 1;
    watch = spawnWatch(cut.clientUrl, ['--prefix', 'part/', `--rev=${startRevision}`, '-w', 'json']);
    for (let index = 0; index < writesBeforeCut; index++) await put(`part/before/${index}`, `b${index}`);
    await watch.waitForLines(1, 10_000);

    proxy.isolate(cut.name);
    const stale = await cluster.ctl(cut, ['get', 'part/before/0', '--consistency=l'], 3);
    expect(stale.exitCode, `linearizable read on the cut member answered: ${stale.stdout}`).not.toBe(0);
    // etcd answers a read it cannot confirm with one of these, or the client gives up waiting.
    expect(stale.stderr).toMatch(/context deadline exceeded|etcdserver: no leader|etcdserver: request timed out|leader changed/);
    // A serializable read is local and still answers (with whatever the member has).
    const local = await cluster.ctl(cut, ['get', 'part/before/0', '--consistency=s'], 3);
    expect(local.stdout).toContain('b0');

    for (let index = 0; index < writesDuringCut; index++) await put(`part/during/${String(index).padStart(4, '0')}`, `d${index}`);
    const lastRevision = putRevisions[putRevisions.length - 1] ?? 0;
    const statusDuringCut = await cluster.status(cut);
    expect(statusDuringCut?.revision ?? 0, 'the cut member must not have received the writes').toBeLessThan(lastRevision);

    proxy.heal();
    const deadline = Date.now() + catchUpTimeoutMs;
    let caughtUp = false;
    while (!caughtUp && Date.now() < deadline) {
      const read = await cluster.ctl(cut, ['get', '--prefix', 'part/during/', '--limit=1', '--consistency=l', '-w', 'json'], 3);
      caughtUp = read.exitCode === 0 && /"count":(\d+)/.exec(read.stdout)?.[1] === String(writesDuringCut);
      if (!caughtUp) await sleep(250);
    }
    expect(caughtUp, `${cut.name} did not catch up after the heal:\n${cluster.outputs()}`).toBe(true);
    const latest = await cluster.ctl(cut, ['get', `part/during/${String(writesDuringCut - 1).padStart(4, '0')}`, '--consistency=s']);
    expect(latest.stdout).toContain(`d${writesDuringCut - 1}`);

    if (cluster.kind === 'etcd-ts') {
      const leaderSent = leader.process?.notableLines().some((line) => line.includes('sent database snapshot')) ?? false;
      const memberInstalled = cut.process?.notableLines().some((line) => line.includes('installed a snapshot from the leader')) ?? false;
      expect(leaderSent || memberInstalled, `no snapshot went to ${cut.name}; snapshot log lines:\n` +
        `${[...(leader.process?.notableLines() ?? []), ...(cut.process?.notableLines() ?? [])].join('\n')}`).toBe(true);
    }

    const expected = [...putRevisions].sort((a, b) => a - b);
    const eventsDeadline = Date.now() + 10_000;
    // etcdctl watches with require-leader: etcd cancels such a watch on a member that has lost its
    // leader ("etcdserver: no leader"), and the client resumes from the next revision it has not
    // seen. Either way the client must end up with every event once, in order, with no gap.
    let watchers = [watch];
    if (/etcdserver: no leader/.test(watch.stderr())) {
      const resumeFrom = (watchedRevisions(watch.lines).at(-1) ?? 0) + 1;
      watch = spawnWatch(cut.clientUrl, ['--prefix', 'part/', `--rev=${resumeFrom}`, '-w', 'json']);
      watchers = [...watchers, watch];
    }
    const seenRevisions = (): number[] => watchers.flatMap((watcher) => watchedRevisions(watcher.lines));
    while (seenRevisions().length < expected.length && Date.now() < eventsDeadline) await sleep(100);
    expect(seenRevisions(), `watchers on ${cut.name}: stderr ${watchers.map((watcher) => watcher.stderr()).join(' | ')}`).toEqual(expected);
    expect(proxy.stats().refused, 'the proxy refused connections during the cut').toBeGreaterThan(0);
  } finally {
    await watch?.stop();
    client.close();
  }
});
