// Watch wire messages: WatchRequest (create/cancel/progress) ⇄ the WatchStream calls, and
// WatchStreamResponse ⇄ WatchResponse.
import type { ResponseHeader } from '../../../server/server-api.js';
import type { WatchCreateRequest, WatchStreamResponse } from '../../../watch/types.js';
import {
  eventToWire, headerToWire, wireArray, wireBool, wireBytes, wireEnum, wireInt64Number, wireObject,
  WireFormatError, type WireEvent, type WireResponseHeader,
} from './common.js';

export type WatchCommand =
  | { create: WatchCreateRequest }
  | { cancel: { watchId: number } }
  | { progress: true };

const zeroKey = Buffer.from([0]);

function watchCreateFromWire(value: unknown): WatchCreateRequest {
  const wire = wireObject(value, 'WatchCreateRequest');
  const key = wireBytes(wire.key, 'key');
  return {
    // etcd reads an empty watch key as "\0", so key="" range_end="\0" watches everything.
    key: key.length === 0 ? zeroKey : key,
    rangeEnd: wireBytes(wire.range_end, 'range_end'),
    startRevision: wireInt64Number(wire.start_revision, 'start_revision'),
    progressNotify: wireBool(wire.progress_notify, 'progress_notify'),
    filters: wireArray(wire.filters, 'filters').map((filter) => wireEnum(filter, 'filters')),
    prevKv: wireBool(wire.prev_kv, 'prev_kv'),
    watchId: wireInt64Number(wire.watch_id, 'watch_id'),
    fragment: wireBool(wire.fragment, 'fragment'),
  };
}

export function watchRequestFromWire(value: unknown): WatchCommand {
  const wire = wireObject(value, 'WatchRequest');
  if (wire.create_request != null) return { create: watchCreateFromWire(wire.create_request) };
  if (wire.cancel_request != null) {
    return { cancel: { watchId: wireInt64Number(wireObject(wire.cancel_request, 'WatchCancelRequest').watch_id, 'watch_id') } };
  }
  if (wire.progress_request != null) return { progress: true };
  throw new WireFormatError('WatchRequest: no request set');
}

export interface WireWatchResponse {
  header: WireResponseHeader;
  watch_id: number;
  created: boolean;
  canceled: boolean;
  compact_revision: number;
  cancel_reason: string;
  fragment: boolean;
  events: WireEvent[];
}

/** `identity` supplies cluster id, member id and raft term; the response supplies the revision. */
export function watchResponseToWire(response: WatchStreamResponse, identity: ResponseHeader): WireWatchResponse {
  return {
    header: headerToWire({ ...identity, revision: response.revision }),
    watch_id: response.watchId,
    created: response.created,
    canceled: response.canceled,
    compact_revision: response.compactRevision,
    cancel_reason: response.cancelReason,
    fragment: response.fragment,
    events: response.events.map(eventToWire),
  };
}
