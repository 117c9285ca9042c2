// Owns the table of differential sessions: each is a scripted etcdctl session that runs unchanged
// against a fresh real etcd and a fresh etcd-ts; the normalised transcripts must be identical.
// etcdctl 3.4 has no --count-only or --min/max-*-rev flags for `get` (they came in 3.5), so those
// range options are driven through the etcd3 npm client's raw KV.Range in `rpc` steps.
import { ctl, type Session, type Step } from './session-types.js';

const txnManyPuts = (count: number): string =>
  `\n${Array.from({ length: count }, (_, i) => `put many${i} v`).join('\n')}\n\n\n`;

function rangeRpc(label: string, request: Record<string, unknown>): Step {
  return {
    kind: 'rpc',
    label,
    call: async (client) => {
      const withBuffers: Record<string, unknown> = { ...request };
      for (const field of ['key', 'range_end']) {
        if (typeof withBuffers[field] === 'string') withBuffers[field] = Buffer.from(withBuffers[field] as string);
      }
      return client.kv.range(withBuffers);
    },
  };
}

/** Keys a..e with differing versions, create and mod revisions and values, for the sort and filter sessions. */
const sortFixture: Step[] = [
  ctl('put k3 zz'), // rev 2
  ctl('put k1 yy'), // rev 3
  ctl('put k2 xx'), // rev 4
  ctl('put k1 ww'), // rev 5: k1 version 2
  ctl('put k4 aa'), // rev 6
  ctl('put k1 bb'), // rev 7: k1 version 3
  ctl('put k3 cc'), // rev 8: k3 version 2
];

export const sessions: readonly Session[] = [
  {
    name: 'put-get-basic',
    steps: [
      ctl('get foo'),
      ctl('put foo bar'),
      ctl('get foo'),
      ctl('get foo -w json'),
      ctl('get foo -w fields'),
      ctl('get foo --print-value-only'),
      ctl('put foo baz -w json'),
      ctl('get foo -w json'),
      ctl(['put', 'spaced key', 'a value with spaces']),
      ctl(['get', 'spaced key']),
      ctl('get --hex foo'),
      ctl('get missing -w json'),
    ],
  },
  {
    name: 'get-prefix-range-limit',
    steps: [
      ctl('put a1 1'), ctl('put a2 2'), ctl('put a3 3'), ctl('put a4 4'), ctl('put b1 5'), ctl('put c1 6'),
      ctl('get a --prefix'),
      ctl('get a --prefix -w json'),
      ctl('get a2 a4'),
      ctl('get a3 --from-key'),
      ctl('get a --prefix --limit 2'),
      ctl('get a --prefix --limit 2 -w json'),
      ctl('get a --prefix --keys-only'),
      ctl('get a --prefix --keys-only -w json'),
      ctl('get a --prefix --print-value-only'),
      ctl(['get', '', '--prefix', '--keys-only']),
      ctl(['get', '', '--from-key', '--keys-only']),
      rangeRpc('range count_only prefix a', { key: 'a', range_end: 'b', count_only: true }),
      rangeRpc('range count_only all', { key: '\0', range_end: '\0', count_only: true }),
      rangeRpc('range limit 1 count', { key: 'a', range_end: 'b', limit: 1 }),
    ],
  },
  {
    name: 'get-sort',
    steps: [
      ...sortFixture,
      ctl('get k --prefix --order DESCEND'),
      ctl('get k --prefix --order ASCEND'),
      ...['CREATE', 'KEY', 'MODIFY', 'VALUE', 'VERSION'].flatMap((target) => [
        ctl(`get k --prefix --sort-by ${target}`),
        ctl(`get k --prefix --sort-by ${target} --order DESCEND --keys-only`),
        ctl(`get k --prefix --sort-by ${target} --order ASCEND --limit 2 -w json`),
      ]),
    ],
  },
  {
    name: 'get-rev-consistency-filters',
    steps: [
      ...sortFixture,
      ctl('get k1 --rev 3'),
      ctl('get k1 --rev 5 -w json'),
      ctl('get k --prefix --rev 4'),
      ctl('get k --prefix --rev 1'),
      ctl('get k1 --rev 0'),
      ctl('get k --prefix --consistency s'),
      ctl('get k --prefix --consistency l -w json'),
      rangeRpc('min_create_revision 4', { key: 'k', range_end: 'l', min_create_revision: 4 }),
      rangeRpc('max_create_revision 3', { key: 'k', range_end: 'l', max_create_revision: 3 }),
      rangeRpc('min_mod_revision 7', { key: 'k', range_end: 'l', min_mod_revision: 7 }),
      rangeRpc('max_mod_revision 6', { key: 'k', range_end: 'l', max_mod_revision: 6 }),
      rangeRpc('min/max mod with limit 1', { key: 'k', range_end: 'l', min_mod_revision: 3, max_mod_revision: 8, limit: 1 }),
      rangeRpc('count_only with min_mod_revision', { key: 'k', range_end: 'l', count_only: true, min_mod_revision: 7 }),
      rangeRpc('serializable at rev 6', { key: 'k', range_end: 'l', serializable: true, revision: 6 }),
    ],
  },
  {
    name: 'delete',
    steps: [
      ctl('put d1 1'), ctl('put d2 2'), ctl('put d3 3'), ctl('put e1 4'), ctl('put e2 5'), ctl('put f1 6'), ctl('put g1 7'),
      ctl('del d1'),
      ctl('del d1'),
      ctl('del missing -w json'),
      ctl('del d --prefix --prev-kv'),
      ctl('put d9 9'),
      ctl('del d9 -w json --prev-kv'),
      ctl('del e1 e3'),
      ctl('del f --from-key --prev-kv -w json'),
      ctl(['get', '', '--prefix']),
      ctl('get d1 --rev 8'),
    ],
  },
  {
    name: 'put-flags-and-leases',
    steps: [
      ctl('put p1 v1'),
      ctl('put p1 v2 --prev-kv'),
      ctl('put p1 v3 --prev-kv -w json'),
      ctl('put p1 --ignore-value'),
      ctl('get p1 -w json'),
      ctl('put nokey --ignore-value'),
      ctl('put nokey v --ignore-lease'),
      ctl('lease grant 300', { captureLease: 'l1' }),
      ctl('put p2 v --lease={lease:l1}'),
      ctl('get p2 -w json'),
      ctl('put p2 v2 --ignore-lease'),
      ctl('get p2 -w json'),
      ctl('put p2 --ignore-value --ignore-lease --prev-kv'),
      ctl('get p2 -w json'),
      ctl('put p3 v --lease=1234abcd'),
      ctl('put p1 v4 --lease={lease:l1} --prev-kv -w json'),
      ctl('lease timetolive {lease:l1} --keys'),
    ],
  },
  {
    name: 'txn',
    steps: [
      ctl('put t1 one'), ctl('put t2 two'),
      ctl('txn', { input: 'value("t1") = "one"\nmod("t1") > "1"\nversion("t2") = "1"\ncreate("t2") = "3"\n\nput t3 three\nget t1\ndel t2\n\nput t4 four\n\n' }),
      ctl('get t --prefix'),
      ctl('txn', { input: 'value("t1") = "nope"\n\nput t5 five\n\nget t1\nput t6 six\nget t --prefix\n\n' }),
      ctl('txn -i', { input: 'version("t1") > "0"\nmod("t3") < "100"\n\nget t3\nput t1 uno\n\nput never x\n\n' }),
      ctl('txn -i -w json', { input: 'create("missing") = "0"\n\nput t7 seven\nget t7\n\nget t1\n\n' }),
      ctl('txn -w json', { input: 'value("t1") != "uno"\n\ndel t1\n\nget t1 t9\ndel t7 --prev-kv\n\n' }),
      ctl('txn', { input: 'value("missing") = ""\n\nput x 1\n\nput y 2\n\n' }),
      ctl('txn', { input: '\nget t --prefix --keys-only\n\n\n' }),
      ctl('get t --prefix -w json'),
    ],
  },
  {
    name: 'txn-errors',
    steps: [
      ctl('put t1 one'),
      ctl('txn', { input: '\nput a 1\nput a 2\n\n\n' }),
      ctl('txn', { input: '\nput a 1\ndel a\n\n\n' }),
      ctl('txn', { input: '\nput a1 1\n\nput a1 2\n\n' }),
      ctl('txn', { input: txnManyPuts(129) }),
      ctl('txn', { input: txnManyPuts(128) }),
      ctl('txn', { input: '\nget t1 --rev 100\n\n\n' }),
      ctl('get many1 -w json'),
    ],
  },
  {
    name: 'compaction',
    steps: [
      ctl('put c v1'), ctl('put c v2'), ctl('put c v3'), ctl('put c v4'), ctl('put c v5'),
      ctl('compaction 3'),
      ctl('get c --rev 2'),
      ctl('get c --rev 3'),
      ctl('get c --rev 4 -w json'),
      ctl('compaction 3'),
      ctl('compaction 2'),
      ctl('compaction 100'),
      ctl('compaction 5 --physical'),
      ctl('get c --rev 4'),
      ctl('get c --rev 5'),
      ctl('get c --rev 6'),
      ctl('get c --rev 100'),
      ctl('compaction 6 -w json'),
      ctl('endpoint hashkv -w json'),
    ],
  },
  {
    name: 'watch',
    steps: [
      ctl('put w1 a'), // rev 2
      ctl('put w1 b'), // rev 3
      ctl('put w2 c'), // rev 4
      { kind: 'watch', name: 'history', args: ['w1', '--rev=1'] },
      { kind: 'watch-lines', name: 'history', count: 6 },
      { kind: 'watch', name: 'prefix-prev', args: ['w', '--prefix', '--rev=3', '--prev-kv'] },
      { kind: 'watch', name: 'json', args: ['w1', '--rev=2', '-w', 'json'] },
      { kind: 'watch', name: 'range', args: ['w1', 'w3', '--rev=5'] },
      { kind: 'watch', name: 'live', args: ['w', '--prefix'], settleMs: 1500 },
      ctl('put w1 d'), // rev 5
      ctl('del w2'), // rev 6
      ctl('put w3 e'), // rev 7, outside [w1, w3)
      ctl('txn', { input: '\nput w1 f\nput w2 g\n\n\n' }), // rev 8, two events in one response
      { kind: 'watch-lines', name: 'prefix-prev', count: 6 + 3 + 6 + 2 + 3 + 6 + 3 },
      { kind: 'watch-lines', name: 'json', count: 3 },
      { kind: 'watch-lines', name: 'range', count: 3 + 2 + 6 },
      { kind: 'watch-lines', name: 'live', count: 3 + 2 + 3 + 6 },
      ctl('compaction 6'),
      { kind: 'watch', name: 'compacted', args: ['w1', '--rev=2'] },
      { kind: 'watch-exit', name: 'compacted' },
      { kind: 'watch', name: 'at-compact-rev', args: ['w1', '--rev=6'] },
      { kind: 'watch-lines', name: 'at-compact-rev', count: 3 },
    ],
  },
  {
    name: 'lease',
    steps: [
      ctl('lease grant 100', { captureLease: 'l1' }),
      ctl('lease grant 200 -w json', { captureLease: 'l2' }),
      ctl('lease list'),
      ctl('lease list -w json'),
      ctl('put lk1 v --lease={lease:l1}'),
      ctl('put lk2 v --lease={lease:l1}'),
      ctl('lease timetolive {lease:l1}'),
      ctl('lease timetolive {lease:l1} --keys'),
      ctl('lease timetolive {lease:l1} --keys -w json'),
      ctl('lease timetolive {lease:l2} --keys -w json'),
      ctl('lease keep-alive --once {lease:l1}'),
      ctl('lease keep-alive --once {lease:l2} -w json'),
      ctl('lease revoke {lease:l1}'),
      ctl('get lk --prefix'),
      ctl('lease revoke {lease:l1}'),
      ctl('lease timetolive {lease:l1}'),
      ctl('lease timetolive {lease:l1} -w json'),
      ctl('lease keep-alive --once {lease:l1}'),
      ctl('lease revoke {lease:l2} -w json'),
      ctl('lease list'),
      ctl('lease grant 0', { captureLease: 'l3' }),
      ctl('lease timetolive {lease:l3} -w json'),
      ctl('lease grant 9000000001'),
      ctl('lease revoke 1234'),
      ctl('put x v --lease=1234'),
    ],
  },
  {
    name: 'cluster-and-endpoints',
    steps: [
      ctl('put foo bar'),
      ctl('member list'),
      ctl('member list -w json'),
      ctl('member list -w table'),
      ctl('member list -w fields'),
      ctl('endpoint status'),
      ctl('endpoint status -w json'),
      ctl('endpoint status -w table'),
      ctl('endpoint health'),
      ctl('endpoint health -w json'),
      ctl('endpoint health -w table'),
      ctl('endpoint hashkv'),
      ctl('endpoint hashkv -w json'),
      ctl('endpoint hashkv -w table'),
    ],
  },
  {
    name: 'maintenance',
    steps: [
      ctl('put foo bar'),
      ctl('alarm list'),
      ctl('alarm list -w json'),
      ctl('alarm list -w table'),
      ctl('alarm disarm'),
      ctl('alarm disarm -w json'),
      ctl('defrag'),
      ctl('defrag -w json'),
      ctl('snapshot save {snapshot:s1}'),
      ctl('get foo'),
    ],
  },
  {
    name: 'errors',
    steps: [
      ctl('put foo bar'),
      ctl(['put', '', 'v']),
      ctl(['get', '']),
      ctl(['del', '']),
      ctl('get foo --rev 100'),
      ctl('get foo --rev 100 -w json'),
      ctl('put k v --lease=abcdef'),
      ctl('lease timetolive abcdef --keys'),
      ctl('lease revoke abcdef'),
      ctl('compaction 0'),
      ctl('compaction 1000'),
      ctl('txn', { input: '\nput x 1\nput x 2\n\n\n' }),
      ctl('txn', { input: txnManyPuts(200) }),
      rangeRpc('range with empty key', { key: '' }),
      rangeRpc('range future revision', { key: 'foo', revision: 1000 }),
      ctl('get foo -w json'),
    ],
  },
];
