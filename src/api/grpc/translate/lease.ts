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

export interface WireLeaseGrantResponse { header: WireResponseHeader; ID: WireInt64; TTL: number; error: string }

export function leaseGrantResponseToWire(result: { header: ResponseHeader; id: bigint; ttl: number }): WireLeaseGrantResponse {
  return { header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl, error: '' };
}

export function leaseKeepAliveResponseToWire(result: { header: ResponseHeader; id: bigint; ttl: number }):
{ header: WireResponseHeader; ID: WireInt64; TTL: number } {
  return { header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl };
}

export function leaseTimeToLiveResponseToWire(result: LeaseTimeToLiveResult):
{ header: WireResponseHeader; ID: WireInt64; TTL: number; grantedTTL: number; keys: Buffer[] } {
  return {
    header: headerToWire(result.header), ID: int64ToWire(result.id), TTL: result.ttl, grantedTTL: result.grantedTtl,
    keys: result.keys,
  };
}

export function leaseLeasesResponseToWire(result: { header: ResponseHeader; leases: bigint[] }):
{ header: WireResponseHeader; leases: Array<{ ID: WireInt64 }> } {
  return { header: headerToWire(result.header), leases: result.leases.map((id) => ({ ID: int64ToWire(id) })) };
}
