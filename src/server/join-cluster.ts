// Joining an existing cluster (--initial-cluster-state existing): the cluster already added this
// member with MemberAdd, so the member asks the cluster who it is before it starts.
import type { Logger } from 'pino';
import type { EtcdServerConfig } from './etcd-server.js';
import { Membership, decodeMember } from './membership.js';
import { PeerTransport } from '../transport/peer-transport.js';

const JOIN_REQUEST_TIMEOUT_MS = 2000;

/**
 * A member started with --initial-cluster-state existing asks the members of --initial-cluster
 * for the membership, and finds itself in it by its advertised peer URLs (MemberAdd gave it an id).
 */
export async function fetchClusterMembership(config: EtcdServerConfig, logger: Logger): Promise<{ membership: Membership; memberId: bigint }> {
  const ownUrls = new Set(config.initialAdvertisePeerUrls);
  const peerUrls = config.initialCluster.flatMap((m) => m.peerUrls).filter((url) => !ownUrls.has(url));
  // A client-only transport: nothing is served and no raft message flows through it.
  const probe = new PeerTransport({
    localId: 0n, clusterId: 0n, logger: logger.child({ component: 'join' }),
    onMessage: () => undefined, onSnapshot: async () => undefined, snapshotSource: () => emptyBlobs(),
    reportUnreachable: () => undefined, reportSnapshot: () => undefined,
  });
  try {
    for (const url of peerUrls) {
      try {
        const reply = await probe.requestUrl(url, '/members', Buffer.alloc(0), JOIN_REQUEST_TIMEOUT_MS);
        const answer = JSON.parse(reply.body.toString('utf8')) as { clusterId: string; members: string[] };
        const members = answer.members.map((m) => decodeMember(Buffer.from(m, 'utf8')));
        const membership = Membership.fromMembers(BigInt(answer.clusterId), members);
        const self = membership.findByPeerUrls(config.initialAdvertisePeerUrls);
        if (!self) {
          throw new Error(`this member (peer URLs ${config.initialAdvertisePeerUrls.join(',')}) is not a member of the cluster at ${url}: add it with 'etcdctl member add' first`);
        }
        return { membership, memberId: self.id };
      } catch (error) {
        if (error instanceof Error && error.message.includes('is not a member')) throw error;
        logger.warn({ err: error, url }, 'could not get the cluster membership from this peer');
      }
    }
  } finally {
    await probe.stop();
  }
  throw new Error('could not reach any member of --initial-cluster to join the existing cluster');
}

async function* emptyBlobs(): AsyncGenerator<Buffer> {
  // A client-only transport never sends snapshots.
}

