// The replicated state machine of a member, loaded from LevelDB: at start, and again after a
// snapshot from the leader replaced it.
import { AuthStore } from '../auth/auth-store.js';
import { AlarmStore } from './alarms.js';
import { APPLIED_INDEX_KEY } from './apply.js';
import type { EtcdServerConfig } from './etcd-server.js';
import { Membership } from './membership.js';
import { Lessor } from '../lease/lessor.js';
import { MvccStore } from '../mvcc/store.js';
import type { Backend } from '../storage/backend.js';

/** The replicated state machine of a member: what apply changes and a state snapshot carries. */
export interface ReplicatedState {
  membership: Membership;
  mvcc: MvccStore;
  lessor: Lessor;
  alarms: AlarmStore;
  auth: AuthStore;
}

/** etcd's pause between compaction slices (3.4: fixed; 3.5: --experimental-compaction-sleep-interval). */
const compactionSleepIntervalMsDefault = 10;

export async function loadReplicatedState(backend: Backend, config: EtcdServerConfig): Promise<{ state: ReplicatedState; appliedIndex: number }> {
  const membership = await Membership.load(backend);
  if (!membership) throw new Error('the data dir has no cluster membership');
  const appliedBytes = await backend.get(APPLIED_INDEX_KEY);
  const appliedIndex = appliedBytes ? Number(appliedBytes.readBigUInt64BE(0)) : 0;
  // etcd's minimum lease TTL: 1.5 election timeouts, so a lease outlives a leader change.
  const minTtlSeconds = Math.ceil((3 * config.electionTimeoutMs) / 2 / 1000);
  const lessor = await Lessor.load(backend, { minTtlSeconds, clock: { nowMs: () => performance.now() } });
  const mvcc = await MvccStore.open(backend, {
    leases: lessor,
    purge: {
      batchLimit: config.compactionBatchLimit ?? 0,
      sleepIntervalMs: (config.compactionSleepIntervalMs ?? 0) > 0 ? config.compactionSleepIntervalMs! : compactionSleepIntervalMsDefault,
    },
  });
  const alarms = await AlarmStore.load(backend);
  const auth = await AuthStore.load(backend);
  return { state: { membership, mvcc, lessor, alarms, auth }, appliedIndex };
}

