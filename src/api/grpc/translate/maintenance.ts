// Maintenance wire messages (Alarm/Status/Hash/HashKV/Snapshot/MoveLeader/Defragment) ⇄
// EtcdServerApi arguments and results.
import type { AlarmMember, ResponseHeader, StatusResult } from '../../../server/server-api.js';
import {
  headerToWire, int64ToWire, wireEnum, wireInt64Number, wireObject, wireUint64Bigint,
  type WireInt64, type WireResponseHeader,
} from './common.js';

export function alarmRequestFromWire(value: unknown): { action: number; memberId: bigint; alarm: number } {
  const wire = wireObject(value, 'AlarmRequest');
  return {
    action: wireEnum(wire.action, 'action'),
    memberId: wireUint64Bigint(wire.memberID, 'memberID'),
    alarm: wireEnum(wire.alarm, 'alarm'),
  };
}

export function hashKvRequestFromWire(value: unknown): { revision: number } {
  return { revision: wireInt64Number(wireObject(value, 'HashKVRequest').revision, 'revision') };
}

export function moveLeaderRequestFromWire(value: unknown): { targetId: bigint } {
  return { targetId: wireUint64Bigint(wireObject(value, 'MoveLeaderRequest').targetID, 'targetID') };
}

// etcd 3.4's v3rpc answers Alarm, Defragment, MoveLeader and Snapshot chunks without a header
// (`etcdctl alarm list -w json` prints `{}`); we answer the same, so clients see what they see from etcd.

export function alarmResponseToWire(result: { header: ResponseHeader; alarms: AlarmMember[] }):
{ alarms: Array<{ memberID: WireInt64; alarm: number }> } {
  return {
    alarms: result.alarms.map((alarm) => ({ memberID: int64ToWire(alarm.memberId), alarm: alarm.alarm })),
  };
}

export interface WireStatusResponse {
  header: WireResponseHeader;
  version: string;
  dbSize: number;
  leader?: WireInt64;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  dbSizeInUse: number;
  /** Only when true, and `leader` only while there is one: etcd writes no field at its zero value. */
  isLearner?: boolean;
}

export function statusResponseToWire(result: StatusResult): WireStatusResponse {
  const wire: WireStatusResponse = {
    header: headerToWire(result.header),
    version: result.version,
    dbSize: result.dbSize,
    raftIndex: result.raftIndex,
    raftTerm: result.raftTerm,
    raftAppliedIndex: result.raftAppliedIndex,
    errors: result.errors,
    dbSizeInUse: result.dbSizeInUse,
  };
  if (result.leader !== 0n) wire.leader = int64ToWire(result.leader);
  if (result.isLearner) wire.isLearner = true;
  return wire;
}

export function hashResponseToWire(result: { header: ResponseHeader; hash: number }): { header: WireResponseHeader; hash: number } {
  return { header: headerToWire(result.header), hash: result.hash };
}

export function hashKvResponseToWire(result: { header: ResponseHeader; hash: number; compactRevision: number; hashRevision: number }):
{ header: WireResponseHeader; hash: number; compact_revision: number; hash_revision: number } {
  return {
    header: headerToWire(result.header), hash: result.hash, compact_revision: result.compactRevision,
    hash_revision: result.hashRevision,
  };
}

export function snapshotChunkToWire(chunk: { header: ResponseHeader; remainingBytes: number; blob: Buffer }):
{ remaining_bytes: number; blob: Buffer } {
  return { remaining_bytes: chunk.remainingBytes, blob: chunk.blob };
}

/** Defragment and MoveLeader: etcd 3.4 sends an empty response. */
export function emptyResponseToWire(_result: { header: ResponseHeader }): Record<string, never> {
  return {};
}
