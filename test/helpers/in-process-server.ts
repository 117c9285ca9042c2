// The configuration of a one-member EtcdServer run inside the test process (no peer listener):
// etcd's defaults, with per-test overrides. One place, so a new server option changes one file.
import type { EtcdServerConfig } from '../../src/server/etcd-server.js';

export function inProcessServerConfig(dataDir: string, overrides: Partial<EtcdServerConfig> = {}): EtcdServerConfig {
  return {
    name: 'default', dataDir, walDir: '',
    initialCluster: [{ name: 'default', peerUrls: ['http://localhost:2380'] }],
    initialClusterState: 'new', initialClusterToken: 'etcd-cluster',
    advertiseClientUrls: ['http://localhost:2379'],
    listenPeerUrls: [], initialAdvertisePeerUrls: ['http://localhost:2380'],
    heartbeatIntervalMs: 100, electionTimeoutMs: 1000, snapshotCount: 100_000, snapshotCatchupEntries: 5000,
    quotaBackendBytes: 2 * 1024 ** 3, maxTxnOps: 128, maxRequestBytes: 1572864, preVote: true, initialElectionTickAdvance: true,
    strictReconfigCheck: true, maxLearners: 1,
    autoCompaction: { mode: 'periodic', periodMs: 0 }, watchProgressNotifyIntervalMs: 600_000,
    unsafeNoFsync: false, etcdVersion: '3.5.17',
    ...overrides,
  };
}
