// forceNewCluster's rewrite of the log's tail: uncommitted entries go, one committed RemoveNode per
// other member follows the commit index (also for a member a committed, unapplied conf change adds),
// and the same records reach the write-ahead log, synced.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeConfChange, encodeConfChange } from '../../../src/raft/conf-change.js';
import { MemoryStorage } from '../../../src/raft/storage.js';
import { ConfChangeType, EntryType, type Entry } from '../../../src/raft/types.js';
import { decodeConfChangeContext, encodeConfChangeContext } from '../../../src/server/conf-change-context.js';
import { forceNewCluster } from '../../../src/server/force-new-cluster.js';
import { Membership } from '../../../src/server/membership.js';
import type { RaftWal, WalRecord } from '../../../src/server/raft-wal.js';

const logger = pino({ level: 'silent' });

function setup() {
  const membership = Membership.bootstrap([
    { name: 'a', peerUrls: ['http://127.0.0.1:1'] }, { name: 'b', peerUrls: ['http://127.0.0.1:2'] }, { name: 'c', peerUrls: ['http://127.0.0.1:3'] },
  ], 'token');
  const [a, b, c] = membership.list().sort((x, y) => x.name.localeCompare(y.name));
  const storage = new MemoryStorage();
  storage.bootstrap({ voters: membership.voterIds(), learners: [] });
  const saved: Array<{ records: WalRecord[]; sync: boolean }> = [];
  const wal = { save: (records: WalRecord[], sync: boolean) => { saved.push({ records, sync }); return undefined; } } as unknown as RaftWal;
  return { membership, a: a!, b: b!, c: c!, storage, wal, saved };
}

const normal = (index: number, term = 2): Entry => ({ type: EntryType.Normal, term, index, data: new Uint8Array([index]) });

describe('forceNewCluster', () => {
  it('drops the entries after the commit index and appends a committed RemoveNode for each other member', async () => {
    const { membership, a, b, c, storage, wal, saved } = setup();
    const first = storage.lastIndex() + 1;
    storage.append([normal(first), normal(first + 1), normal(first + 2), normal(first + 3)]);
    storage.setHardState({ term: 3, vote: a.id, commit: first + 1 });

    const removed = await forceNewCluster({ memoryStorage: storage, wal, membership, appliedIndex: first, memberId: a.id, logger });

    expect(removed.map((member) => member.name).sort()).toEqual(['b', 'c']);
    const tail = storage.entries(first + 2, storage.lastIndex() + 1, Number.MAX_SAFE_INTEGER);
    expect(tail.map((entry) => [entry.index, entry.term, entry.type])).toEqual([
      [first + 2, 3, EntryType.ConfChange], [first + 3, 3, EntryType.ConfChange],
    ]);
    const changes = tail.map((entry) => decodeConfChange(entry.data));
    expect(changes.map((cc) => [cc.type, cc.nodeId]).sort()).toEqual([[ConfChangeType.RemoveNode, b.id], [ConfChangeType.RemoveNode, c.id]].sort());
    expect(decodeConfChangeContext(changes[0]!.context).member.id).toBe(changes[0]!.nodeId);
    expect(storage.initialState().hardState).toEqual({ term: 3, vote: a.id, commit: first + 3 });
    expect(saved).toEqual([{ records: [{ entries: tail, hardState: { term: 3, vote: a.id, commit: first + 3 } }], sync: true }]);
  });

  it('also removes a member that a committed conf change not applied yet adds', async () => {
    const { membership, a, storage, wal } = setup();
    const d = { id: 0xd4n, name: 'd', peerUrls: ['http://127.0.0.1:4'], clientUrls: [], isLearner: true };
    const first = storage.lastIndex() + 1;
    const addD: Entry = {
      type: EntryType.ConfChange, term: 2, index: first,
      data: encodeConfChange({ type: ConfChangeType.AddLearnerNode, nodeId: d.id, context: encodeConfChangeContext({ requestId: 0, requestOrigin: 0, member: d }) }),
    };
    storage.append([addD]);
    storage.setHardState({ term: 2, vote: a.id, commit: first });

    const removed = await forceNewCluster({ memoryStorage: storage, wal, membership, appliedIndex: first - 1, memberId: a.id, logger });
    expect(removed.map((member) => member.name).sort()).toEqual(['b', 'c', 'd']);
  });

  it('leaves a member that is alone already as it is', async () => {
    const membership = Membership.bootstrap([{ name: 'a', peerUrls: ['http://127.0.0.1:1'] }], 'token');
    const storage = new MemoryStorage();
    storage.bootstrap({ voters: membership.voterIds(), learners: [] });
    const saved: unknown[] = [];
    const wal = { save: (records: WalRecord[]) => { saved.push(records); return undefined; } } as unknown as RaftWal;
    const removed = await forceNewCluster({ memoryStorage: storage, wal, membership, appliedIndex: storage.lastIndex(), memberId: membership.list()[0]!.id, logger });
    expect([removed, saved]).toEqual([[], []]);
  });
});
