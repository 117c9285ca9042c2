// The etcdserverpb.Maintenance service. Snapshot streams the server's chunks with backpressure:
// the next chunk is pulled only after the previous one fit in the stream's buffer, so a slow
// client never makes us hold the whole database in memory. Downgrade is not offered by
// EtcdServerApi yet and answers UNIMPLEMENTED (grpc-js's answer for a method without handler).
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import {
  alarmRequestFromWire, alarmResponseToWire, hashKvRequestFromWire, hashKvResponseToWire, hashResponseToWire,
  emptyResponseToWire, moveLeaderRequestFromWire, snapshotChunkToWire, statusResponseToWire,
} from './translate/maintenance.js';
import { drainedOrClosed, failStream, malformedError, unary } from './calls.js';
import { contextFromMetadata } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError } from './errors.js';

function snapshot(server: EtcdServerApi, logger: Logger) {
  return async (call: ServerWritableStream<unknown, unknown>): Promise<void> => {
    if (call.request instanceof MalformedRequest) {
      failStream(call, malformedError(call.request));
      return;
    }
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    const chunks = server.snapshot(contextFromMetadata(call.metadata))[Symbol.asyncIterator]();
    let finished = false;
    try {
      while (!cancelled) {
        const next = await chunks.next();
        if (next.done) { finished = true; break; }
        if (cancelled) break;
        if (!call.write(snapshotChunkToWire(next.value))) await drainedOrClosed(call);
      }
      if (!cancelled) call.end();
    } catch (error) {
      finished = true;
      if (!cancelled) failStream(call, toGrpcError(error, logger, 'Snapshot'));
    } finally {
      // Lets the producer release its consistent view when the client went away early.
      if (!finished) await chunks.return?.();
    }
  };
}

export function maintenanceService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return {
    Alarm: unary(logger, 'Alarm', async (request, context) => {
      const { action, memberId, alarm } = alarmRequestFromWire(request);
      return alarmResponseToWire(await server.alarm(action, memberId, alarm, context));
    }),
    Status: unary(logger, 'Status', async (_request, context) => statusResponseToWire(await server.status(context))),
    Defragment: unary(logger, 'Defragment', async (_request, context) =>
      emptyResponseToWire(await server.defragment(context))),
    Hash: unary(logger, 'Hash', async (_request, context) => hashResponseToWire(await server.hash(context))),
    HashKV: unary(logger, 'HashKV', async (request, context) =>
      hashKvResponseToWire(await server.hashKv(hashKvRequestFromWire(request).revision, context))),
    Snapshot: snapshot(server, logger),
    MoveLeader: unary(logger, 'MoveLeader', async (request, context) =>
      emptyResponseToWire(await server.moveLeader(moveLeaderRequestFromWire(request).targetId, context))),
  };
}
