// etcd's corruption checks on a 3-member etcd-ts cluster whose members all run with
// --experimental-initial-corrupt-check and --experimental-corrupt-check-time=1s:
// - a clean restart passes the initial check;
// - a member whose stored history was altered while it was down (a value's bytes changed in LevelDB)
//   refuses to start with etcd's "found data inconsistency with peers";
// - started without the initial check, the same member is caught by the leader's periodic check:
//   the CORRUPT alarm goes up and requests fail with "etcdserver: corrupt cluster".
// And on another 3-member cluster with only --experimental-compact-hash-check-enabled (1 s): a
// compaction every member agrees on is checked, and one after a member's history was altered
// raises CORRUPT.
// etcd-ts only: corrupting a real etcd's bbolt file the same way is out of this test's reach.
import { ClassicLevel } from 'classic-level';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selfCheck } from '../helpers/index.js';
import { sleep, TestCluster, type ClusterMember } from '../helpers/cluster.js';

const checkFlags = ['--experimental-initial-corrupt-check=true', '--experimental-corrupt-check-time=1s'];
let cluster: TestCluster;

/** Changes every stored copy of `from` (same length) into `to` in the member's LevelDB; returns how many. */
async function alterStoredValue(member: ClusterMember, from: string, to: string): Promise<number> {
  const db = new ClassicLevel<Buffer, Buffer>(join(member.dataDir, 'member', 'db'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  let changed = 0;
  try {
    const needle = Buffer.from(from);
    for await (const [key, value] of db.iterator({ gte: Buffer.from('m/'), lt: Buffer.from('m0') })) {
      const at = value.indexOf(needle);
      if (at === -1) continue;
      const altered = Buffer.from(value);
      Buffer.from(to).copy(altered, at);
      await db.put(key, altered);
      changed++;
    }
  } finally {
    await db.close();
  }
  return changed;
}

describe.skipIf(selfCheck)('corruption checks (etcd-ts)', () => {
  beforeAll(async () => {
    cluster = await TestCluster.start({ size: 3, extraArgs: checkFlags });
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
  });

  test('a clean restart passes; altered history is refused at start and raises CORRUPT when it slips in', async () => {
    const [first, , third] = cluster.members as [ClusterMember, ClusterMember, ClusterMember];
    for (let i = 0; i < 10; i++) expect((await cluster.ctl(first, ['put', `corrupt/${i}`, `value-${i}`])).exitCode).toBe(0);
    for (const member of cluster.members) {
      expect((await cluster.ctl(member, ['get', 'corrupt/9', '--consistency=s', '--print-value-only'])).stdout.trim()).toBe('value-9');
    }
    const leader = await cluster.waitLeader();
    const victim = cluster.members.find((member) => member !== leader)!;

    await cluster.stop(victim);
    await cluster.restart(victim);
    expect(victim.process!.output()).toContain('initial corruption checking passed; no corruption');

    await cluster.stop(victim);
    expect(await alterStoredValue(victim, 'value-3', 'VALUE-3')).toBeGreaterThan(0);
    await expect(cluster.restart(victim)).rejects.toThrow();
    expect(victim.process!.output()).toContain('found data inconsistency with peers');
    expect(victim.process!.exitStatus()?.code).not.toBe(0);

    // Without the start-up check the member serves; the leader's next pass finds it.
    const others = cluster.members.filter((member) => member !== victim);
    // 'status', not 'health': the leader may raise the alarm before a health check gets through.
    await cluster.restart(victim, 'status', ['--experimental-initial-corrupt-check=false']);
    const deadline = Date.now() + 15_000;
    let alarms = '';
    while (Date.now() < deadline) {
      alarms = (await cluster.ctl(others[0]!, ['alarm', 'list'])).stdout;
      if (alarms.includes('CORRUPT')) break;
      await sleep(250);
    }
    expect(alarms).toContain('alarm:CORRUPT');
    const refused = await cluster.ctl(third === victim ? first : third, ['put', 'corrupt/after', 'x']);
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('etcdserver: corrupt cluster');
  }, 120_000);
});

describe.skipIf(selfCheck)('compaction hash check (etcd-ts)', () => {
  let hashCluster: TestCluster;
  beforeAll(async () => {
    hashCluster = await TestCluster.start({
      size: 3, extraArgs: ['--experimental-compact-hash-check-enabled=true', '--experimental-compact-hash-check-time=1s'],
    });
  }, 60_000);

  afterAll(async () => {
    await hashCluster?.close();
  });

  /** The last revision, from a put through `member`. */
  async function putRevision(member: ClusterMember, key: string, value: string): Promise<number> {
    const out = await hashCluster.ctl(member, ['put', key, value, '-w', 'json']);
    expect(out.exitCode).toBe(0);
    return (JSON.parse(out.stdout) as { header: { revision: number } }).header.revision;
  }

  async function waitFor(what: () => Promise<boolean> | boolean, label: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if (await what()) return;
      await sleep(250);
    }
    throw new Error(`timed out waiting for ${label}\n${hashCluster.outputs()}`);
  }

  test('a compaction the members agree on is checked; one after a member\'s history was altered raises CORRUPT', async () => {
    const leader = await hashCluster.waitLeader();
    for (let i = 0; i < 10; i++) await putRevision(leader, `hashed/${i}`, `value-${i}`);
    const first = await putRevision(leader, 'hashed/last', 'x');
    expect((await hashCluster.ctl(leader, ['compaction', String(first), '--physical'])).exitCode).toBe(0);
    // The leader logs it (whichever member leads when the check runs).
    await waitFor(() => hashCluster.outputs().includes('successfully checked hash on whole cluster'), 'a checked compaction');
    expect(hashCluster.outputs()).toMatch(new RegExp(`"revision":${first},"msg":"successfully checked hash on whole cluster"`));

    const victim = hashCluster.members.find((member) => member !== leader)!;
    await hashCluster.stop(victim);
    expect(await alterStoredValue(victim, 'value-3', 'VALUE-3')).toBeGreaterThan(0);
    await hashCluster.restart(victim);
    const second = await putRevision(leader, 'hashed/again', 'y');
    expect((await hashCluster.ctl(leader, ['compaction', String(second), '--physical'])).exitCode).toBe(0);
    const other = hashCluster.members.find((member) => member !== leader && member !== victim)!;
    await waitFor(async () => (await hashCluster.ctl(other, ['alarm', 'list'])).stdout.includes('alarm:CORRUPT'), 'the CORRUPT alarm');
    expect(hashCluster.outputs()).toContain('detected compaction hash mismatch');
  }, 120_000);
});
