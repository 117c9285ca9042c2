// The etcdserverpb.Lease service. LeaseKeepAlive is a bidi stream: each request becomes one
// server.leaseKeepAlive call and the answers go out in request order. At most
// keepAliveInFlightMax requests wait per stream; beyond that the stream stops reading, so a client
// that floods keep-alives is slowed by HTTP/2 flow control instead of growing our memory.
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import { headerToWire } from './translate/common.js';
import { encodeLeaseKeepAliveResponse } from './translate/lease-encode.js';
import {
  leaseGrantRequestFromWire, leaseGrantResponseToWire, leaseIdFromWire,
  leaseLeasesResponseToWire, leaseTimeToLiveRequestFromWire, leaseTimeToLiveResponseToWire,
} from './translate/lease.js';
import { drainedOrClosed, failStream, malformedError, unary } from './calls.js';
import { contextOfCall } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError } from './errors.js';

export const keepAliveInFlightMax = 64;

function keepAlive(server: EtcdServerApi, logger: Logger) {
  return (call: ServerDuplexStream<unknown, unknown>): void => {
    const context = contextOfCall(call);
    let done = false;
    let inFlight = 0;
    let readingPaused = false;
    let chain: Promise<void> = Promise.resolve();

    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      if (error === undefined) call.end();
      else failStream(call, error instanceof MalformedRequest ? malformedError(error) : toGrpcError(error, logger, 'LeaseKeepAlive'));
    };

    call.on('data', (request: unknown) => {
      if (done) return;
      if (request instanceof MalformedRequest) { finish(request); return; }
      let id: bigint;
      try {
        id = leaseIdFromWire(request);
      } catch (error) {
        finish(error);
        return;
      }
      inFlight++;
      if (inFlight >= keepAliveInFlightMax && !readingPaused) {
        readingPaused = true;
        call.pause();
      }
      chain = chain.then(async () => {
        if (done) return;
        const result = await server.leaseKeepAlive(id, context);
        if (done) return;
        if (!call.write(encodeLeaseKeepAliveResponse(result))) await drainedOrClosed(call);
      }).then(
        () => {
          inFlight--;
          if (readingPaused && inFlight < keepAliveInFlightMax / 2) {
            readingPaused = false;
            call.resume();
          }
        },
        (error: unknown) => finish(error),
      );
    });
    // The client closed its side: answer what is queued, then close ours.
    call.on('end', () => { void chain.then(() => finish()); });
    call.on('cancelled', () => { done = true; });
    call.on('error', () => { done = true; });
  };
}

export function leaseService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return {
    LeaseGrant: unary(logger, 'LeaseGrant', async (request, context) => {
      const { ttlSeconds, id } = leaseGrantRequestFromWire(request);
      return leaseGrantResponseToWire(await server.leaseGrant(ttlSeconds, id, context));
    }),
    LeaseRevoke: unary(logger, 'LeaseRevoke', async (request, context) => {
      const { header } = await server.leaseRevoke(leaseIdFromWire(request), context);
      return { header: headerToWire(header) };
    }),
    LeaseKeepAlive: keepAlive(server, logger),
    LeaseTimeToLive: unary(logger, 'LeaseTimeToLive', async (request, context) => {
      const { id, keys } = leaseTimeToLiveRequestFromWire(request);
      return leaseTimeToLiveResponseToWire(await server.leaseTimeToLive(id, keys, context));
    }),
    LeaseLeases: unary(logger, 'LeaseLeases', async (_request, context) =>
      leaseLeasesResponseToWire(await server.leaseLeases(context))),
  };
}
