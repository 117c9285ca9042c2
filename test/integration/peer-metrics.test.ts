// etcd's peer network series on a 3-member cluster (the etcd mixin's dashboard and its
// etcdMembersDown / etcdMemberCommunicationSlow alerts read them): bytes to and from each peer,
// active peer connections, round trips; and, once a member is stopped, the others' send failures
// and disconnects for it. Run against etcd-ts, or a real etcd 3.4 cluster with COMPAT_SELF_CHECK=1.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { selfCheck } from '../helpers/index.js';
import { sleep, TestCluster, type ClusterMember } from '../helpers/cluster.js';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.start({ size: 3 });
}, 60_000);

afterAll(async () => {
  await cluster?.close();
});

/** `name{labels} value` lines of /metrics, as a lookup by the whole series text. */
async function scrape(member: ClusterMember): Promise<(series: string) => number | undefined> {
  const text = await (await fetch(`${member.clientUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return (series) => values.get(series);
}

describe(`peer network metrics (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('bytes, active connections and round trips per peer; failures and disconnects once a peer stops', async () => {
    // The leader sends the entries: its counters for the two followers grow with every put.
    const a = await cluster.waitLeader();
    const [b, c] = cluster.members.filter((member) => member !== a) as [ClusterMember, ClusterMember];
    const hex = async (member: ClusterMember) => (await cluster.memberId(member)).toString(16);
    const [idA, idB, idC] = [await hex(a), await hex(b), await hex(c)];
    for (let i = 0; i < 10; i++) expect((await cluster.ctl(a, ['put', `peer-metrics/${i}`, 'x'.repeat(100)])).exitCode).toBe(0);
    // Round trips are probed every few seconds (etcd: every 4 s).
    const deadline = Date.now() + 15_000;
    let sample = await scrape(a);
    while (Date.now() < deadline && !((sample(`etcd_network_peer_round_trip_time_seconds_count{To="${idB}"}`) ?? 0) >= 1)) {
      await sleep(500);
      sample = await scrape(a);
    }
    for (const peer of [idB, idC]) {
      expect(sample(`etcd_network_peer_sent_bytes_total{To="${peer}"}`)).toBeGreaterThan(1000);
      expect(sample(`etcd_network_peer_received_bytes_total{From="${peer}"}`)).toBeGreaterThan(0);
      expect(sample(`etcd_network_active_peers{Local="${idA}",Remote="${peer}"}`)).toBe(1);
      expect(sample(`etcd_network_peer_round_trip_time_seconds_count{To="${peer}"}`)).toBeGreaterThanOrEqual(1);
    }

    await cluster.stop(c);
    const stoppedDeadline = Date.now() + 15_000;
    let after = await scrape(a);
    const failuresTo = (read: typeof after) => read(`etcd_network_peer_sent_failures_total{To="${idC}"}`) ?? 0;
    while (Date.now() < stoppedDeadline && !(failuresTo(after) > 0 && after(`etcd_network_active_peers{Local="${idA}",Remote="${idC}"}`) === 0)) {
      await sleep(500);
      after = await scrape(a);
    }
    expect(failuresTo(after)).toBeGreaterThan(0);
    expect(after(`etcd_network_active_peers{Local="${idA}",Remote="${idC}"}`)).toBe(0);
    expect(after(`etcd_network_disconnected_peers_total{Local="${idA}",Remote="${idC}"}`)).toBeGreaterThanOrEqual(1);
    expect(after(`etcd_network_active_peers{Local="${idA}",Remote="${idB}"}`)).toBe(1);
  }, 90_000);
});
