// The gateway's /v3/lock/* and /v3/election/* unary paths over ServerLocks and ServerElections,
// through the translators the gRPC services use. Lock and Campaign may wait a long time: they get
// the HTTP request's abort signal, so a client that hangs up leaves the queue. Every failure of
// these services answers UNKNOWN (code 2, HTTP 500) with the error's own text, because etcd's
// v3lock/v3election servers return plain Go errors (checked against etcd 3.4: "election: no
// leader", and "etcdserver: requested lease not found" too, arrive as code 2).
import { ConcurrencyError } from '../../concurrency/index.js';
import { EtcdError, GrpcCode } from '../../errors.js';
import { GrpcStatusError } from '../grpc/errors.js';
import {
  campaignRequestFromWire, campaignResponseToWire, headerOnlyResponseToWire, leaderRequestFromWire,
  leaderResponseToWire, proclaimRequestFromWire, resignRequestFromWire,
} from '../grpc/translate/election.js';
import { lockRequestFromWire, lockResponseToWire, unlockRequestFromWire, unlockResponseToWire } from '../grpc/translate/lock.js';
import type { UnaryHandler, UnaryRoute } from './gateway-route-types.js';

export const lockServiceName = 'v3lockpb.Lock';
export const electionServiceName = 'v3electionpb.Election';

/** The status etcd's lock and election servers give an error: UNKNOWN with its text. */
export function concurrencyFailure(error: unknown): unknown {
  if (error instanceof ConcurrencyError || error instanceof EtcdError) return new GrpcStatusError(GrpcCode.UNKNOWN, error.message);
  return error;
}

function concurrencyRoute(service: string, method: string, handle: UnaryHandler): UnaryRoute {
  return {
    service,
    method,
    handle: async (server, request, context, services) => {
      try {
        return await handle(server, request, context, services);
      } catch (error) {
        throw concurrencyFailure(error);
      }
    },
  };
}

/** Paths below the /v3 (or /v3beta) prefix, as etcd's v3lock.proto and v3election.proto map them. */
export const concurrencyRoutes: ReadonlyArray<readonly [string, UnaryRoute]> = [
  ['/lock/lock', concurrencyRoute(lockServiceName, 'Lock', async (_server, request, context, { locks, signal }) => {
    const { name, lease } = lockRequestFromWire(request);
    return lockResponseToWire(await locks.lock(name, lease, signal, context));
  })],
  ['/lock/unlock', concurrencyRoute(lockServiceName, 'Unlock', async (_server, request, context, { locks }) =>
    unlockResponseToWire(await locks.unlock(unlockRequestFromWire(request).key, context)))],
  ['/election/campaign', concurrencyRoute(electionServiceName, 'Campaign', async (_server, request, context, { elections, signal }) => {
    const { name, lease, value } = campaignRequestFromWire(request);
    return campaignResponseToWire(await elections.campaign(name, lease, value, signal, context));
  })],
  ['/election/proclaim', concurrencyRoute(electionServiceName, 'Proclaim', async (_server, request, context, { elections }) => {
    const { leader, value } = proclaimRequestFromWire(request);
    return headerOnlyResponseToWire(await elections.proclaim(leader, value, context));
  })],
  ['/election/leader', concurrencyRoute(electionServiceName, 'Leader', async (_server, request, context, { elections }) =>
    leaderResponseToWire(await elections.leader(leaderRequestFromWire(request).name, context)))],
  ['/election/resign', concurrencyRoute(electionServiceName, 'Resign', async (_server, request, context, { elections }) =>
    headerOnlyResponseToWire(await elections.resign(resignRequestFromWire(request).leader, context)))],
];
