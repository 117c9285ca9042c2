// Checks the differential suite's own machinery without servers: each normalisation rule removes
// only what it claims to, and the comparison accepts a declared known difference and nothing else.
import { describe, expect, test } from 'vitest';
import { compareTranscripts } from './compare.js';
import type { KnownDifference } from './known-differences.js';
import { normalise, type ServerFacts } from './normalise.js';
import type { TranscriptEntry } from './session-types.js';

const facts: ServerFacts = {
  clientUrl: 'http://127.0.0.1:34455',
  peerUrl: 'http://127.0.0.1:37327',
  clusterId: '7783536668352993433',
  memberId: '12705141856335105087',
  leases: new Map([['l1', 882602270776187402n]]),
  snapshotPaths: ['/tmp/x/s1.db'],
};

describe('normalise', () => {
  test('replaces ids in decimal, %x and %016x forms, URLs and addresses', () => {
    expect(normalise('b051bb341fcd0c3f, started, n1, http://127.0.0.1:37327, http://127.0.0.1:34455, false', facts))
      .toBe('<member-id>, started, n1, <peer-url>, <client-url>, false');
    expect(normalise('{"cluster_id":7783536668352993433,"member_id":12705141856335105087,"revision":2,"raft_term":2}', facts))
      .toBe('{"cluster_id":<cluster-id>,"member_id":<member-id>,"revision":2,"raft_term":<raft-term>}');
    expect(normalise('lease 0c3fa216cb915a0a granted with TTL(100s)', facts)).toBe('lease <lease:l1> granted with TTL(100s)');
    expect(normalise('"ID":882602270776187402', facts)).toBe('"ID":<lease:l1>');
    expect(normalise('target endpoint://client-a80d3503-4a20-4eeb-a9b9-b3414d306671/127.0.0.1:34455', facts))
      .toBe('target endpoint://client-<uuid>/<client-addr>');
  });

  test('keeps revisions, counts, values and unregistered lease ids', () => {
    const text = '{"header":{"revision":17},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":9,"version":3,"value":"YmFy","lease":4660}],"count":1}';
    expect(normalise(text, facts)).toBe(text);
    expect(normalise('lease 0000000000001234 already expired', facts)).toBe('lease 0000000000001234 already expired');
    expect(normalise('{"kvs":[{"version":"3"}]}', facts)).toBe('{"kvs":[{"version":"3"}]}');
  });

  test('remaining TTL is normalised only within 5 s of the granted TTL', () => {
    expect(normalise('granted with TTL(100s), remaining(98s)', facts)).toBe('granted with TTL(100s), remaining(<remaining>)');
    expect(normalise('granted with TTL(100s), remaining(50s)', facts)).toBe('granted with TTL(100s), remaining(50s)');
    expect(normalise('"ttl":101,"granted-ttl":100', facts)).toBe('"ttl":101,"granted-ttl":100');
  });

  test('attached lease keys are sorted, both in simple and json output', () => {
    expect(normalise('remaining(<remaining>), attached keys([p2 p1 a])', facts)).toBe('remaining(<remaining>), attached keys([a p1 p2])');
    expect(normalise('"granted-ttl":100,"keys":["cDI=","cDE="]}', facts)).toBe('"granted-ttl":100,"keys":["cDE=","cDI="]}');
  });

  test('endpoint status, health durations and hashes', () => {
    expect(normalise('http://127.0.0.1:34455, b051bb341fcd0c3f, 3.4.23, 20 kB, true, false, 2, 5, 5, ', facts))
      .toBe('<client-url>, <member-id>, <version>, <db-size>, true, false, <raft-term>, <raft-index>, <raft-applied-index>, ');
    expect(normalise('http://127.0.0.1:34455 is healthy: successfully committed proposal: took = 1.788655ms', facts))
      .toBe('<client-url> is healthy: successfully committed proposal: took = <duration>');
    expect(normalise('http://127.0.0.1:34455, 3305255506', facts)).toBe('<client-url>, <hash>');
    // A health check that reports unhealthy keeps its text.
    expect(normalise('http://127.0.0.1:34455 is unhealthy: failed to commit proposal: context deadline exceeded', facts))
      .toBe('<client-url> is unhealthy: failed to commit proposal: context deadline exceeded');
  });
});

describe('compareTranscripts', () => {
  const entry = (step: string, stdout: string, exitCode: number | null = 0): TranscriptEntry => ({ step, stdout, stderr: '', exitCode });
  const declared: KnownDifference = { session: 's', step: '01 x', field: 'stdout', etcd: 'a', etcdTs: 'b', reason: 'test' };

  test('equal transcripts have no mismatches; any field difference is reported by step', () => {
    expect(compareTranscripts('s', [entry('01 x', 'a')], [entry('01 x', 'a')], [])).toEqual([]);
    expect(compareTranscripts('s', [entry('01 x', 'a')], [entry('01 x', 'a', 1)], [])).toEqual([
      { step: '01 x', field: 'exitCode', etcd: 0, etcdTs: 1 },
    ]);
    expect(compareTranscripts('s', [entry('01 x', 'a'), entry('02 y', 'b')], [entry('01 x', 'a')], [])).toHaveLength(1);
  });

  test('a known difference allows exactly the declared texts', () => {
    expect(compareTranscripts('s', [entry('01 x', 'a')], [entry('01 x', 'b')], [declared])).toEqual([]);
    expect(compareTranscripts('s', [entry('01 x', 'a')], [entry('01 x', 'c')], [declared])).toHaveLength(1);
    // When etcd-ts starts matching etcd, the stale declaration is reported so it gets removed.
    expect(compareTranscripts('s', [entry('01 x', 'a')], [entry('01 x', 'a')], [declared])).toHaveLength(1);
    expect(compareTranscripts('other', [entry('01 x', 'a')], [entry('01 x', 'b')], [declared])).toHaveLength(1);
  });
});
