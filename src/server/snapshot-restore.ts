// Restores a state snapshot (`etcdctl snapshot save` against etcd-ts: backend-snapshot.ts's format)
// into a new data dir, as `etcdctl snapshot restore` / `etcdutl snapshot restore` do for etcd: the
// keys, their revisions and history, leases, users and roles and alarms come from the snapshot; the
// membership is a new cluster's, from --initial-cluster and --initial-cluster-token, and the Raft
// log starts afresh. Every member of the new cluster is restored from the same file with its own
// --name and the same cluster flags, and then started on its data dir. The data dir is built under
// another name and renamed when complete: a failed restore (a corrupt file) leaves nothing behind.
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryStorage } from '../raft/storage.js';
import { Backend, type BatchOp } from '../storage/backend.js';
import { prefix, prefixEnd } from '../storage/keys.js';
import { APPLIED_INDEX_KEY } from './apply.js';
import { Membership } from './membership.js';
import { RaftWal, WAL_DIR_NAME } from './raft-wal.js';
import { installBackendSnapshotFile, MEMBER_ID_KEY } from './snapshot-install.js';

export interface SnapshotRestoreOptions {
  snapshotPath: string;
  name: string;
  dataDir: string;
  /** '' for `<data-dir>/member/raft-wal`. */
  walDir: string;
  initialCluster: Array<{ name: string; peerUrls: string[] }>;
  initialClusterToken: string;
  /** This member's peer URLs: they must be the ones --initial-cluster gives its name. */
  initialAdvertisePeerUrls: string[];
}

export interface SnapshotRestoreResult {
  memberId: bigint;
  clusterId: bigint;
}

export async function restoreSnapshot(options: SnapshotRestoreOptions): Promise<SnapshotRestoreResult> {
  const { dataDir, name } = options;
  if (existsSync(dataDir)) throw new Error(`data-dir "${dataDir}" exists`);
  if (!existsSync(options.snapshotPath)) throw new Error(`open ${options.snapshotPath}: no such file or directory`);
  const membership = Membership.bootstrap(options.initialCluster, options.initialClusterToken);
  const self = membership.list().find((member) => member.name === name);
  if (!self) throw new Error(`couldn't find local name "${name}" in the initial cluster configuration`);
  const listed = [...self.peerUrls].sort().join(',');
  const advertised = [...options.initialAdvertisePeerUrls].sort().join(',');
  if (listed !== advertised) {
    throw new Error(`--initial-cluster has ${name}=${listed} but missing from --initial-advertise-peer-urls=${advertised}`);
  }

  const walDir = options.walDir;
  if (walDir !== '' && existsSync(walDir)) throw new Error(`wal-dir "${walDir}" exists`);
  const building = `${dataDir}.restoring-${process.pid}`;
  try {
    const result = await restoreInto(building, options, membership, self.id);
    renameSync(building, dataDir);
    return result;
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    if (walDir !== '') rmSync(walDir, { recursive: true, force: true });
    throw error;
  }
}

async function restoreInto(dataDir: string, options: SnapshotRestoreOptions, membership: Membership, selfId: bigint): Promise<SnapshotRestoreResult> {
  const memberDir = join(dataDir, 'member');
  mkdirSync(memberDir, { recursive: true, mode: 0o700 });
  const backend = await Backend.open(join(memberDir, 'db'));
  try {
    await installBackendSnapshotFile(backend, options.snapshotPath);
    // The snapshot's membership and Raft position were the old cluster's.
    const batch: BatchOp[] = [];
    for await (const [key] of backend.iterate({ gte: prefix.cluster, lt: prefixEnd(prefix.cluster) })) batch.push({ type: 'del', key });
    membership.persistAll(batch);
    const memberId = Buffer.alloc(8);
    memberId.writeBigUInt64BE(selfId);
    batch.push({ type: 'put', key: MEMBER_ID_KEY, value: memberId });

    // The Raft state of a new cluster: every member starts from the same snapshot of the voters.
    const storage = new MemoryStorage();
    storage.bootstrap({ voters: membership.voterIds(), learners: [] });
    const snapshot = storage.snapshot();
    const applied = Buffer.alloc(8);
    applied.writeBigUInt64BE(BigInt(snapshot.metadata.index));
    batch.push({ type: 'put', key: APPLIED_INDEX_KEY, value: applied });
    await backend.write(batch, true);

    const walDir = options.walDir === '' ? join(memberDir, WAL_DIR_NAME) : options.walDir;
    const { wal } = await RaftWal.open(walDir, backend, { fsync: true });
    try {
      await wal.save([{ snapshot: snapshot.metadata, hardState: storage.initialState().hardState, entries: [] }], true);
    } finally {
      await wal.close();
    }
    return { memberId: selfId, clusterId: membership.clusterId };
  } finally {
    await backend.close();
  }
}
