// A 3-member cluster of real processes driven by etcdctl, one scenario in order: membership and
// leadership as etcdctl shows them; replication to every member for linearizable and serializable
// reads; SIGKILL of the leader under a running writer (a new leader soon, writes continue, no
// acknowledged write lost on any member); the killed member restarted on its data dir catches
// up; a 4th member joins as a learner, gets the data, is promoted; a member is removed and its
// process exits; move-leader hands leadership to a chosen member.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEndpointStatus, sleep, TestCluster, type ClusterMember } from '../helpers/cluster.js';

/** Etcd's default election timeout is 1 s; a new leader must follow a kill within a few of them. */
const newLeaderWithinMs = 5000;
const writersCount = 2;
const writeBeforeKillMs = 1200;
// A put in flight to the killed leader is lost and times out (as in etcd), so allow a few put timeouts.
const writeAfterKillMs = 5000;
/** Failed puts kept for the failure message. */
const failuresKeptMax = 50;
const startedMs = Date.now();

interface Ack {
  key: string;
  value: string;
}

let cluster: TestCluster;
const acked: Ack[] = [];

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
});

afterAll(async () => {
  await cluster?.close();
});

/** `etcdctl get --prefix` output as key → value (keys and values here have no newlines). */
async function readPrefix(member: ClusterMember, prefix: string, consistency: 'l' | 's'): Promise<Map<string, string>> {
  const result = await cluster.ctl(member, ['get', '--prefix', prefix, `--consistency=${consistency}`], 5);
  if (result.exitCode !== 0) throw new Error(`get on ${member.name} failed: ${result.stderr}`);
  const lines = result.stdout.split('\n');
  const pairs = new Map<string, string>();
  for (let index = 0; index + 1 < lines.length; index += 2) pairs.set(lines[index] ?? '', lines[index + 1] ?? '');
  return pairs;
}

function missingAcks(pairs: Map<string, string>): string[] {
  return acked.filter((ack) => pairs.get(ack.key) !== ack.value).map((ack) => ack.key);
}

interface MemberListEntry {
  idHex: string;
  status: string;
  name: string;
  isLearner: boolean;
}

async function memberList(via: ClusterMember): Promise<MemberListEntry[]> {
  const result = await cluster.ctl(via, ['member', 'list']);
  if (result.exitCode !== 0) throw new Error(`member list failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').map((line) => {
    const fields = line.split(', ');
    return { idHex: fields[0] ?? '', status: fields[1] ?? '', name: fields[2] ?? '', isLearner: fields[5] === 'true' };
  });
}

/** Sequential puts through every endpoint until `deadline`: the writer knows nothing of the kill. */
async function writeUntil(writer: number, deadline: number, acks: Ack[], failures: string[]): Promise<void> {
  for (let sequence = 0; Date.now() < deadline; sequence++) {
    const key = `writer/${writer}/${String(sequence).padStart(5, '0')}`;
    const value = `v-${writer}-${sequence}`;
    const members = cluster.running();
    const member = members[sequence % members.length];
    if (!member) break;
    const result = await cluster.ctl(member, ['put', key, value], 2);
    if (result.exitCode === 0 && result.stdout.trim() === 'OK') acks.push({ key, value });
    else {
      if (failures.length < failuresKeptMax) failures.push(`${Date.now() - startedMs} ms ${member.name}: ${result.stdout}${result.stderr}`.trim());
      await sleep(50);
    }
  }
}

describe.sequential('3-member cluster driven by etcdctl', () => {
  test('member list shows 3 started voters; endpoint status --cluster shows one leader and one term', async () => {
    const [n1] = cluster.members;
    if (!n1) throw new Error('no members');
    const list = await memberList(n1);
    expect(list.map((entry) => entry.name).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(list.every((entry) => entry.status === 'started' && !entry.isLearner)).toBe(true);

    const leader = await cluster.waitLeader();
    const result = await cluster.ctl(n1, ['endpoint', 'status', '--cluster', '-w', 'json']);
    expect(result.exitCode, result.stderr).toBe(0);
    const statuses = parseEndpointStatus(result.stdout);
    expect(statuses).toHaveLength(3);
    expect(statuses.filter((status) => status.memberId === status.leaderId)).toHaveLength(1);
    expect(new Set(statuses.map((status) => status.leaderId)).size).toBe(1);
    expect(new Set(statuses.map((status) => status.raftTerm)).size).toBe(1);
    expect(statuses.find((status) => status.memberId === status.leaderId)?.memberId).toBe(await cluster.memberId(leader));
    // The member ids in member list are the ones status reports, in hex.
    expect(list.map((entry) => entry.idHex).sort()).toEqual(statuses.map((status) => status.memberId.toString(16)).sort());
  });

  test('a put on one member is readable on the others, linearizable and serializable', async () => {
    const [n1, n2, n3] = cluster.members;
    if (!n1 || !n2 || !n3) throw new Error('no members');
    const put = await cluster.ctl(n1, ['put', 'replicated', 'from-n1']);
    expect(put.stdout.trim(), put.stderr).toBe('OK');
    for (const member of [n2, n3]) {
      // A linearizable read first: after it the member has applied the put, so the local read sees it.
      expect((await readPrefix(member, 'replicated', 'l')).get('replicated'), member.name).toBe('from-n1');
      expect((await readPrefix(member, 'replicated', 's')).get('replicated'), member.name).toBe('from-n1');
    }
  });

  test('SIGKILL of the leader: a new leader within a few seconds, writes continue, no acknowledged write lost', async () => {
    const leader = await cluster.waitLeader();
    const before: Ack[] = [];
    const after: Ack[] = [];
    const failures: string[] = [];
    const killAt = Date.now() + writeBeforeKillMs;
    const deadline = killAt + writeAfterKillMs;
    const writers = Array.from({ length: writersCount }, (_, writer) => (async () => {
      const acksBefore: Ack[] = [];
      await writeUntil(writer, killAt, acksBefore, failures);
      before.push(...acksBefore);
      const acksAfter: Ack[] = [];
      await writeUntil(writer + writersCount, deadline, acksAfter, failures);
      after.push(...acksAfter);
    })());
    await sleep(writeBeforeKillMs);
    const killedAt = Date.now();
    failures.push(`${killedAt - startedMs} ms: SIGKILL ${leader.name}`);
    const exit = await cluster.kill(leader);
    expect(exit.signal).toBe('SIGKILL');
    const survivors = cluster.running();
    const newLeader = await cluster.waitLeader(survivors, newLeaderWithinMs + 3000);
    const electionMs = Date.now() - killedAt;
    expect(newLeader.name).not.toBe(leader.name);
    expect(electionMs, `new leader after ${electionMs} ms`).toBeLessThan(newLeaderWithinMs);
    await Promise.all(writers);
    acked.push(...before, ...after);
    expect(before.length, 'writes acknowledged before the kill').toBeGreaterThan(0);
    expect(after.length, `writes acknowledged after the kill; failed puts:\n${failures.join('\n')}`).toBeGreaterThan(0);
    for (const member of survivors) {
      expect(missingAcks(await readPrefix(member, 'writer/', 'l')), `acknowledged writes missing on ${member.name}`).toEqual([]);
    }

    await cluster.restart(leader);
    expect(missingAcks(await readPrefix(leader, 'writer/', 'l')), `restarted ${leader.name} is missing writes`).toEqual([]);
    expect(missingAcks(await readPrefix(leader, 'writer/', 's')), `restarted ${leader.name}, serializable`).toEqual([]);
    const statuses = await cluster.statuses();
    expect(new Set([...statuses.values()].map((status) => status?.leaderId)).size, 'one leader after the restart').toBe(1);
  });

  test('a 4th member joins as a learner, receives the data, is promoted; another member is removed and exits', async () => {
    const leader = await cluster.waitLeader();
    const learner = await cluster.addMember('n4', leader, { learner: true });
    // n4 is listed by name once its published attributes are applied on the leader. etcd-ts serves
    // client requests (the readiness check) before that publish is through, etcd does not (README,
    // Known differences), so the list may show n4 unnamed for a moment: wait for the name.
    let list = await memberList(leader);
    for (const deadline = Date.now() + 10_000; !list.some((entry) => entry.name === 'n4') && Date.now() < deadline;) {
      await sleep(100);
      list = await memberList(leader);
    }
    expect(list.find((entry) => entry.name === 'n4')?.isLearner).toBe(true);
    const learnerStatus = await cluster.status(learner);
    expect(learnerStatus?.isLearner).toBe(true);

    // A learner serves serializable reads only; poll until it has caught up.
    const caughtUpBy = Date.now() + 15_000;
    let missing = acked.map((ack) => ack.key);
    while (missing.length > 0 && Date.now() < caughtUpBy) {
      missing = missingAcks(await readPrefix(learner, 'writer/', 's'));
      if (missing.length > 0) await sleep(200);
    }
    expect(missing, 'learner n4 never received these keys').toEqual([]);

    const learnerIdHex = (await cluster.memberId(learner)).toString(16);
    let promote = await cluster.ctl(leader, ['member', 'promote', learnerIdHex], 5);
    // etcd refuses to promote a learner that is not in sync yet; it is caught up, so this is brief.
    for (let attempt = 0; attempt < 20 && promote.exitCode !== 0; attempt++) {
      expect(promote.stderr).toContain('can only promote a learner member which is in sync with leader');
      await sleep(250);
      promote = await cluster.ctl(leader, ['member', 'promote', learnerIdHex], 5);
    }
    expect(promote.exitCode, promote.stderr).toBe(0);
    // etcdctl pads the id to 16 columns with spaces.
    expect(promote.stdout).toMatch(new RegExp(`Member +${learnerIdHex} promoted in cluster`));
    list = await memberList(leader);
    expect(list.find((entry) => entry.name === 'n4')?.isLearner).toBe(false);
    await cluster.waitReady(learner, 'health');

    const victim = cluster.running().find((member) => member.name !== leader.name && member.name !== 'n4');
    if (!victim?.process) throw new Error('no follower to remove');
    const victimIdHex = (await cluster.memberId(victim)).toString(16);
    const remove = await cluster.ctl(leader, ['member', 'remove', victimIdHex], 5);
    expect(remove.exitCode, remove.stderr).toBe(0);
    expect(remove.stdout).toMatch(new RegExp(`Member +${victimIdHex} removed from cluster`));
    const exitedInTime = await Promise.race([victim.process.exited.then(() => true), sleep(10_000).then(() => false)]);
    expect(exitedInTime, `removed member ${victim.name} still running:\n${victim.process.output()}`).toBe(true);
    list = await memberList(leader);
    expect(list.map((entry) => entry.name).sort()).toEqual(['n1', 'n2', 'n3', 'n4'].filter((name) => name !== victim.name).sort());
    const put = await cluster.ctl(leader, ['put', 'after-remove', 'ok']);
    expect(put.stdout.trim(), put.stderr).toBe('OK');
  });

  test('move-leader hands leadership to the chosen member', async () => {
    const leader = await cluster.waitLeader();
    const chosen = cluster.running().find((member) => member.name !== leader.name);
    if (!chosen) throw new Error('no follower');
    const chosenIdHex = (await cluster.memberId(chosen)).toString(16);
    const move = await cluster.ctl(leader, ['--endpoints', cluster.endpoints(), 'move-leader', chosenIdHex], 10);
    expect(move.exitCode, move.stderr).toBe(0);
    expect(move.stdout).toContain(`Leadership transferred from`);
    expect((await cluster.waitLeader()).name).toBe(chosen.name);
    const put = await cluster.ctl(chosen, ['put', 'after-move', 'ok']);
    expect(put.stdout.trim(), put.stderr).toBe('OK');
  });
});
