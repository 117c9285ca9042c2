// etcd's corruption checks (--experimental-initial-corrupt-check, --corrupt-check-time), the
// judging part: which peer answers mean that members hold different data for the same history.
// The hashes are HashKV's: a member's keys and their history up to a revision, so two members that
// applied the same log agree on it at every revision both have, with the same compact revision.
// - At start (a restarted member, before it serves): its hash at its current revision against
//   each peer's at that revision. A different hash with the same compact revision is corruption
//   (the member refuses to start); a peer behind it (FutureRev) or compacted past it cannot be
//   compared and is only reported.
// - Periodically, on the leader: its hash at its current revision, the peers' at that revision,
//   then its own again after a linearizable read barrier. Corruption (raise the CORRUPT alarm) when
//   its own hash changed without the revision moving, when a follower reports a revision or a
//   compact revision ahead of the leader's, or a different hash at the same compact revision.
// - Compaction hashes (--experimental-compact-hash-check-enabled), on the leader: every member
//   hashes what each compaction kept as it purges (MvccStore.compactionHashes); the newest
//   compaction that every member has a hash for is compared, and a different one is corruption.
import type { Logger } from 'pino';

export interface LocalHash {
  hash: number;
  revision: number;
  compactRevision: number;
}

/** A peer's HashKV at the asked revision: its hash, compact revision and current revision. */
export interface PeerHash {
  id: bigint;
  answer?: { hash: number; compactRevision: number; revision: number };
  /** Why there is no answer: an etcd error name (FutureRev, Compacted) or a transport failure. */
  error?: string;
}

export interface Finding {
  peer: bigint;
  /** A log line: what was seen. */
  reason: string;
}

export interface InitialCheckResult {
  mismatches: Finding[];
  /** Peers that could not be compared (behind, compacted past us, unreachable, another compaction). */
  unchecked: Finding[];
}

export function judgeInitialCheck(local: LocalHash, peers: readonly PeerHash[]): InitialCheckResult {
  const result: InitialCheckResult = { mismatches: [], unchecked: [] };
  for (const peer of peers) {
    if (peer.answer === undefined) {
      const reason = peer.error === 'FutureRev' ? 'cannot fetch hash from slow remote peer'
        : peer.error === 'Compacted' ? 'cannot fetch hash from remote peer; local member is behind'
          : `cannot fetch hash from remote peer: ${peer.error ?? 'no answer'}`;
      result.unchecked.push({ peer: peer.id, reason });
      continue;
    }
    if (peer.answer.hash === local.hash) continue;
    if (peer.answer.compactRevision === local.compactRevision) {
      result.mismatches.push({ peer: peer.id, reason: 'found different hash values from remote peer' });
    } else {
      result.unchecked.push({ peer: peer.id, reason: 'found different compact revision values from remote peer' });
    }
  }
  return result;
}

/**
 * The leader's periodic check: `before` taken before the peers were asked at before.revision,
 * `after` after a linearizable read barrier. Returns the members found inconsistent (the leader's
 * own id for its own hash changing under it).
 */
export function judgeLeaderCheck(leaderId: bigint, before: LocalHash, after: LocalHash, peers: readonly PeerHash[]): Finding[] {
  const findings: Finding[] = [];
  if (after.hash !== before.hash && after.revision === before.revision && after.compactRevision === before.compactRevision) {
    findings.push({ peer: leaderId, reason: 'found hash mismatch' });
  }
  for (const peer of peers) {
    const answer = peer.answer;
    if (answer === undefined) continue;
    if (answer.revision > after.revision) {
      findings.push({ peer: peer.id, reason: "revision from follower must be less than or equal to leader's" });
    }
    if (answer.compactRevision > after.compactRevision) {
      findings.push({ peer: peer.id, reason: "compact revision from follower must be less than or equal to leader's" });
    }
    if (answer.compactRevision === before.compactRevision && answer.hash !== before.hash) {
      findings.push({ peer: peer.id, reason: 'same compact revision then hashes must match' });
    }
  }
  return findings;
}

/** What the checks need of their member. */
export interface CorruptionCheckHost {
  readonly memberId: bigint;
  readonly logger: Logger;
  /** Every other member of the cluster, learners too. */
  peerIds(): bigint[];
  /** This member's HashKV at its current revision. */
  localHash(): Promise<LocalHash>;
  /** The peer's HashKV at `revision` (its '/hashkv' peer RPC), or why there is none. */
  peerHash(id: bigint, revision: number): Promise<PeerHash>;
  linearizableRead(): Promise<void>;
  isLeader(): boolean;
  /** Proposes etcd's CORRUPT alarm (member id 0, as etcd 3.4 raises it). */
  raiseCorruptAlarm(): Promise<void>;
}

/** --experimental-initial-corrupt-check: throws, as etcd refuses to start, when a peer holds other data. */
export async function checkInitialHashKv(host: CorruptionCheckHost): Promise<void> {
  const { logger } = host;
  logger.info({ 'local-member-id': host.memberId.toString(16) }, 'starting initial corruption check');
  const local = await host.localHash();
  const peers = await Promise.all(host.peerIds().map((id) => host.peerHash(id, local.revision)));
  const { mismatches, unchecked } = judgeInitialCheck(local, peers);
  const fields = (finding: Finding) => ({
    'local-member-id': host.memberId.toString(16), 'local-member-revision': local.revision,
    'local-member-compact-revision': local.compactRevision, 'local-member-hash': local.hash, 'remote-peer-id': finding.peer.toString(16),
  });
  for (const finding of [...unchecked, ...mismatches]) logger.warn(fields(finding), finding.reason);
  if (mismatches.length > 0) throw new Error(`${host.memberId.toString(16)} found data inconsistency with peers`);
  logger.info({ 'local-member-id': host.memberId.toString(16) }, 'initial corruption checking passed; no corruption');
}

/** --corrupt-check-time: one pass of the leader's check; raises the CORRUPT alarm on a finding. */
export async function checkHashKvAsLeader(host: CorruptionCheckHost): Promise<Finding[]> {
  if (!host.isLeader()) return [];
  const before = await host.localHash();
  const peers = await Promise.all(host.peerIds().map((id) => host.peerHash(id, before.revision)));
  await host.linearizableRead();
  const after = await host.localHash();
  const findings = judgeLeaderCheck(host.memberId, before, after, peers);
  for (const finding of findings) {
    host.logger.warn({ 'leader-revision': after.revision, 'leader-compact-revision': after.compactRevision, 'peer-id': finding.peer.toString(16) }, finding.reason);
  }
  if (findings.length > 0) await host.raiseCorruptAlarm();
  host.logger.info({ 'number-of-peers-checked': peers.filter((peer) => peer.answer !== undefined).length }, 'finished peer corruption check');
  return findings;
}

/** A peer's hash of what its compaction at a revision kept, or why there is none. */
export interface PeerCompactionHash {
  id: bigint;
  hash?: number;
  error?: string;
}

/** What the compaction hash check needs of the leader. */
export interface CompactionHashCheckHost {
  readonly memberId: bigint;
  readonly logger: Logger;
  peerIds(): bigint[];
  isLeader(): boolean;
  /** This member's compaction hashes, newest first. */
  compactionHashes(): Array<{ revision: number; hash: number }>;
  /** The peer's hash of its compaction at `revision` (its '/compaction-hash' peer RPC). */
  peerCompactionHash(id: bigint, revision: number): Promise<PeerCompactionHash>;
  /** Proposes etcd's CORRUPT alarm. */
  raiseCorruptAlarm(): Promise<void>;
}

/**
 * The members that differ from the hash a strict majority of them holds (every member but the
 * leader's own, when no majority agrees: the leader cannot tell who is wrong, only that someone is).
 */
export function judgeCompactionHashes(leaderId: bigint, leaderHash: number, peers: ReadonlyArray<{ id: bigint; hash: number }>): Finding[] {
  const members = [{ id: leaderId, hash: leaderHash }, ...peers];
  const holders = new Map<number, number>();
  for (const member of members) holders.set(member.hash, (holders.get(member.hash) ?? 0) + 1);
  if (holders.size === 1) return [];
  const majority = [...holders].find(([, count]) => count * 2 > members.length)?.[0];
  const reference = majority ?? leaderHash;
  return members.filter((member) => member.hash !== reference)
    .map((member) => ({ peer: member.id, reason: 'detected compaction hash mismatch' }));
}

/**
 * --experimental-compact-hash-check-enabled: one pass of the leader's check. From the leader's
 * newest compaction down to `checkedRevision` (exclusive), the first one that every peer has a hash
 * for is compared; a peer without one (its purge is still running, it restarted since, or it did
 * not answer) only moves the check to an older compaction. Agreement ends the pass, as does a
 * difference, which raises the CORRUPT alarm. Returns the revision compared, if any.
 */
export async function checkCompactionHashesAsLeader(host: CompactionHashCheckHost, checkedRevision: number): Promise<{ revision?: number; findings: Finding[] }> {
  if (!host.isLeader()) return { findings: [] };
  const peerIds = host.peerIds();
  for (const own of host.compactionHashes()) {
    if (own.revision <= checkedRevision) break;
    const answers = await Promise.all(peerIds.map((id) => host.peerCompactionHash(id, own.revision)));
    const peers = answers.flatMap((answer) => (answer.hash === undefined ? [] : [{ id: answer.id, hash: answer.hash }]));
    if (peers.length < peerIds.length) continue;
    const findings = judgeCompactionHashes(host.memberId, own.hash, peers);
    if (findings.length === 0) {
      host.logger.info({ 'number-of-peers-checked': peers.length, revision: own.revision }, 'successfully checked hash on whole cluster');
      return { revision: own.revision, findings };
    }
    const hashes = Object.fromEntries([[host.memberId.toString(16), own.hash], ...peers.map((peer) => [peer.id.toString(16), peer.hash])]);
    for (const finding of findings) {
      host.logger.error({ revision: own.revision, 'member-id': finding.peer.toString(16), hashes }, finding.reason);
    }
    await host.raiseCorruptAlarm();
    return { revision: own.revision, findings };
  }
  host.logger.debug({ 'checked-revision': checkedRevision }, 'no new compaction hashed on every member: compaction hash check skipped');
  return { findings: [] };
}
