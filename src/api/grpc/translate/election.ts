// v3electionpb wire messages ⇄ the election service's arguments and results. A missing `leader`
// message stays undefined (the service answers etcd's "field must be provided"); a present but
// empty one is a LeaderKey of zero values, as in Go. No grpc-js here: the JSON gateway reuses these.
import type { LeaderKey, LeaderObservation } from '../../../concurrency/index.js';
import type { ResponseHeader } from '../../../server/server-api.js';
import {
  headerToWire, int64ToWire, keyValueToWire, wireBytes, wireInt64Bigint, wireInt64Number, wireObject,
  type WireInt64, type WireKeyValue, type WireResponseHeader,
} from './common.js';

export interface WireLeaderKey {
  name: Buffer;
  key: Buffer;
  rev: number;
  lease: WireInt64;
}

export function campaignRequestFromWire(value: unknown): { name: Buffer; lease: bigint; value: Buffer } {
  const wire = wireObject(value, 'CampaignRequest');
  return {
    name: wireBytes(wire.name, 'name'), lease: wireInt64Bigint(wire.lease, 'lease'), value: wireBytes(wire.value, 'value'),
  };
}

function leaderKeyFromWire(value: unknown): LeaderKey | undefined {
  if (value === undefined || value === null) return undefined;
  const wire = wireObject(value, 'leader');
  return {
    name: wireBytes(wire.name, 'leader.name'),
    key: wireBytes(wire.key, 'leader.key'),
    rev: wireInt64Number(wire.rev, 'leader.rev'),
    lease: wireInt64Bigint(wire.lease, 'leader.lease'),
  };
}

export function proclaimRequestFromWire(value: unknown): { leader: LeaderKey | undefined; value: Buffer } {
  const wire = wireObject(value, 'ProclaimRequest');
  return { leader: leaderKeyFromWire(wire.leader), value: wireBytes(wire.value, 'value') };
}

export function resignRequestFromWire(value: unknown): { leader: LeaderKey | undefined } {
  return { leader: leaderKeyFromWire(wireObject(value, 'ResignRequest').leader) };
}

/** LeaderRequest, for Leader and Observe. */
export function leaderRequestFromWire(value: unknown): { name: Buffer } {
  return { name: wireBytes(wireObject(value, 'LeaderRequest').name, 'name') };
}

export function leaderKeyToWire(leader: LeaderKey): WireLeaderKey {
  return { name: leader.name, key: leader.key, rev: leader.rev, lease: int64ToWire(leader.lease) };
}

export function campaignResponseToWire(result: { header: ResponseHeader; leader: LeaderKey }):
{ header: WireResponseHeader; leader: WireLeaderKey } {
  return { header: headerToWire(result.header), leader: leaderKeyToWire(result.leader) };
}

export function leaderResponseToWire(result: LeaderObservation): { header: WireResponseHeader; kv: WireKeyValue } {
  return { header: headerToWire(result.header), kv: keyValueToWire(result.kv) };
}

/** ProclaimResponse and ResignResponse: the header alone. */
export function headerOnlyResponseToWire(result: { header: ResponseHeader }): { header: WireResponseHeader } {
  return { header: headerToWire(result.header) };
}
