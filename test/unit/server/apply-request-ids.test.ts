// Apply reports the outcomes of this member's own proposals only: request ids are counters per
// member (request-ids.ts), and two members' counters can hold the same value, so an entry another
// member proposed must never release a waiter here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../../src/raft/conf-change.js';
import { ConfChangeType, EntryType, type Entry } from '../../../src/raft/types.js';
import { Applier, type ApplyListener } from '../../../src/server/apply.js';
import { encodeConfChangeContext } from '../../../src/server/conf-change-context.js';
import type { EtcdServerConfig } from '../../../src/server/etcd-server.js';
import { Membership } from '../../../src/server/membership.js';
import { loadReplicatedState } from '../../../src/server/replicated-state.js';
import { encodeInternalRequest } from '../../../src/server/request-codec.js';
import { requestOriginOf } from '../../../src/server/request-ids.js';
import type { BatchOp } from '../../../src/storage/backend.js';
import { Backend } from '../../../src/storage/backend.js';

const dirs: string[] = [];
const backends: Backend[] = [];
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function putEntry(index: number, requestId: number, requestOrigin: number): Entry {
  const put = { key: Buffer.from(`k${index}`), value: Buffer.from('v'), lease: 0n, prevKv: false, ignoreValue: false, ignoreLease: false };
  return { index, term: 1, type: EntryType.Normal, data: encodeInternalRequest({ requestId, requestOrigin, put }) };
}

describe('apply and request ids', () => {
  it("reports its own member's outcomes, not those of another member with the same counter", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apply-request-ids-'));
    dirs.push(dir);
    const backend = await Backend.open(join(dir, 'db'));
    backends.push(backend);
    const membership = Membership.bootstrap([{ name: 'a', peerUrls: ['http://127.0.0.1:1'] }], 'token');
    const batch: BatchOp[] = [];
    membership.persistAll(batch);
    await backend.write(batch, true);
    const self = membership.list()[0]!;
    const own = requestOriginOf(self.id);
    const other = (own + 1) & 0xffff;
    const { state } = await loadReplicatedState(backend, { electionTimeoutMs: 1000 } as EtcdServerConfig);
    const listener: ApplyListener = { onEvents: () => undefined, applyRaftConfChange: () => undefined, onMembershipChanged: () => undefined };
    const applier = new Applier({ ...state, listener }, 0, own);

    const update = (index: number, requestId: number, requestOrigin: number): Entry => ({
      index, term: 1, type: EntryType.ConfChange,
      data: encodeConfChange({ type: ConfChangeType.UpdateNode, nodeId: self.id, context: encodeConfChangeContext({ requestId, requestOrigin, member: self }) }),
    });
    const entries = [putEntry(1, 7, other), putEntry(2, 7, own), putEntry(3, 0, own), update(4, 9, other), update(5, 9, own), putEntry(6, 2 ** 48 - 1, own)];
    const results = await applier.applyEntries(entries, []);
    expect(results.map((r) => [r.requestId, r.outcome.ok])).toEqual([[7, true], [9, true], [2 ** 48 - 1, true]]);
    expect(results[0]!.outcome).toMatchObject({ revision: 3 });
  });
});
