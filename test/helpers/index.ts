// The test helpers in one import: ports, server processes, etcdctl and watch children.
export { freePort, isPortFree } from './ports.js';
export {
  startRealEtcd, startEtcdTs, startServerUnderTest, selfCheck, repoRoot, realEtcdPath, etcdTsBinPath,
  type EtcdProcess, type StartOptions, type ExitStatus,
} from './etcd-process.js';
export { etcdctl, spawnWatch, etcdctlPath, type EtcdctlResult, type EtcdctlOptions, type WatchProcess } from './etcdctl.js';
export { makeTempDir, cleanupAll, liveChildPids } from './process-registry.js';
export {
  TestCluster, parseEndpointStatus, sleep,
  type ClusterMember, type ClusterOptions, type MemberProcess, type MemberStatus, type ServerKind,
} from './cluster.js';
export { PeerProxy, type CutMode, type PeerProxyStats } from './peer-proxy.js';
