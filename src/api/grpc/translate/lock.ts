// v3lockpb wire messages (LockRequest/Response, UnlockRequest/Response) ⇄ the lock service's
// arguments and results. No grpc-js here: the JSON gateway reuses these.
import type { LockResult } from '../../../concurrency/index.js';
import type { ResponseHeader } from '../../../server/server-api.js';
import { headerToWire, wireBytes, wireInt64Bigint, wireObject, type WireResponseHeader } from './common.js';

export function lockRequestFromWire(value: unknown): { name: Buffer; lease: bigint } {
  const wire = wireObject(value, 'LockRequest');
  return { name: wireBytes(wire.name, 'name'), lease: wireInt64Bigint(wire.lease, 'lease') };
}

export function unlockRequestFromWire(value: unknown): { key: Buffer } {
  return { key: wireBytes(wireObject(value, 'UnlockRequest').key, 'key') };
}

export function lockResponseToWire(result: LockResult): { header: WireResponseHeader; key: Buffer } {
  return { header: headerToWire(result.header), key: result.key };
}

export function unlockResponseToWire(result: { header: ResponseHeader }): { header: WireResponseHeader } {
  return { header: headerToWire(result.header) };
}
