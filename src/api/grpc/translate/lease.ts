// Lease wire messages (LeaseGrant/Revoke/KeepAlive/TimeToLive/Leases) ⇄ EtcdServerApi arguments and
// results. Wire field names are etcd's upper-case TTL and ID.
import type { LeaseTimeToLiveResult, ResponseHeader } from '../../../server/server-api.js';
import {
  headerToWire, int64ToWire, wireBool, wireInt64Bigint, wireInt64Number, wireObject,
  type WireInt64, type WireResponseHeader,
} from './common.js';

export function leaseGrantRequestFromWire(value: unknown): { ttlSeconds: number; id: bigint } {
  const wire = wireObject(value, 'LeaseGrantRequest');
  return { ttlSeconds: wireInt64Number(wire.TTL, 'TTL'), id: wireInt64Bigint(wire.ID, 'ID') };
}

/** LeaseRevokeRequest and LeaseKeepAliveRequest: just the ID. */
export function leaseIdFromWire(value: unknown): bigint {
  return wireInt64Bigint(wireObject(value, 'Lease request').ID, 'ID');
}

export function leaseTimeToLiveRequestFromWire(value: unknown): { id: bigint; keys: boolean } {
  const wire = wireObject(value, 'LeaseTimeToLiveRequest');
  return { id: wireInt64Bigint(wire.ID, 'ID'), keys: wireBool(wire.keys, 'keys') };
}

// Zero values are left out of the answer objects, as etcd's Go encoder writes no field at its zero
// value (protobufjs writes every field an object has; see kv.ts): a grant's `error` (always empty,
// etcd reports failures as gRPC statuses) and the granted TTL of a lease that is not there.
export interface WireLeaseGrantResponse { header: WireResponseHeader; ID: WireInt64; TTL: number }

export function leaseGrantResponseToWire(result: { header: ResponseHeader; id: bigint; ttl: number }): WireLeaseGrantResponse {
  return { header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl };
}

export function leaseKeepAliveResponseToWire(result: { header: ResponseHeader; id: bigint; ttl: number }):
{ header: WireResponseHeader; ID: WireInt64; TTL: number } {
  return { header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl };
}

export function leaseTimeToLiveResponseToWire(result: LeaseTimeToLiveResult):
{ header: WireResponseHeader; ID: WireInt64; TTL: number; grantedTTL?: number; keys: Buffer[] } {
  const wire: { header: WireResponseHeader; ID: WireInt64; TTL: number; grantedTTL?: number; keys: Buffer[] } = {
    header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl, keys: result.keys,
  };
  if (result.grantedTtl !== 0) wire.grantedTTL = result.grantedTtl;
  return wire;
}

export function leaseLeasesResponseToWire(result: { header: ResponseHeader; leases: bigint[] }):
{ header: WireResponseHeader; leases: Array<{ ID: WireInt64 }> } {
  return { header: headerToWire(result.header), leases: result.leases.map((id) => ({ ID: int64ToWire(id) })) };
}
