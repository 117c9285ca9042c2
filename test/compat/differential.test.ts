// The differential etcdctl suite: each session of sessions.ts runs against a fresh real etcd 3.4 and
// a fresh etcd-ts; the normalised transcripts must be identical but for declared known differences.
// COMPAT_SELF_CHECK=1 puts real etcd on both sides: the suite must then pass with zero differences,
// which proves the sessions are deterministic and the normalisation sufficient.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { selfCheck, startEtcdTs, startRealEtcd, type EtcdProcess } from '../helpers/etcd-process.js';
import { compareTranscripts, formatMismatches } from './compare.js';
import { knownDifferences } from './known-differences.js';
import { runSession } from './run-session.js';
import { sessions } from './sessions.js';

const sessionTimeoutMs = 90_000;
/** Set COMPAT_DUMP_DIR to keep both normalised transcripts of every session for reading. */
const dumpDir = process.env.COMPAT_DUMP_DIR;

describe(`etcdctl differential sessions (etcd 3.4 vs ${selfCheck ? 'etcd 3.4 (self-check)' : 'etcd-ts'})`, () => {
  for (const session of sessions) {
    test(session.name, async () => {
      const servers: EtcdProcess[] = [];
      try {
        const [etcd, other] = await Promise.all([
          startRealEtcd({ name: 'compat' }),
          selfCheck ? startRealEtcd({ name: 'compat' }) : startEtcdTs({ name: 'compat' }),
        ]);
        servers.push(etcd, other);
        // The two runs in parallel: each server has its own client processes and data dir.
        const [etcdTranscript, otherTranscript] = await Promise.all([runSession(etcd, session), runSession(other, session)]);
        if (dumpDir !== undefined) {
          mkdirSync(dumpDir, { recursive: true });
          writeFileSync(join(dumpDir, `${session.name}.json`), JSON.stringify({ etcd: etcdTranscript, other: otherTranscript }, null, 2));
        }
        const mismatches = compareTranscripts(session.name, etcdTranscript, otherTranscript, selfCheck ? [] : knownDifferences);
        expect(mismatches.length, formatMismatches(session.name, mismatches)).toBe(0);
      } finally {
        await Promise.all(servers.map((server) => server.stop()));
      }
    }, sessionTimeoutMs);
  }
});
