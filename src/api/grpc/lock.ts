// The v3lockpb.Lock service: Lock waits (possibly long) for its turn, so unlike the other unary
// calls it carries the call's cancellation down: a client that goes away or whose deadline passes
// stops waiting and leaves the queue. The cancellable unary wrapper and the error mapping for the
// concurrency errors live here and are shared with election.ts.
import { status, type Deadline, type handleUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConcurrencyError, ServerLocks } from '../../concurrency/index.js';
import { EtcdError } from '../../errors.js';
import type { EtcdServerApi, RequestContext } from '../../server/server-api.js';
import { malformedError } from './calls.js';
import { contextFromMetadata } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError, type GrpcError } from './errors.js';
import { lockRequestFromWire, lockResponseToWire, unlockRequestFromWire, unlockResponseToWire } from './translate/lock.js';

/**
 * etcd's lock and election servers call the server through an in-process client, whose errors are
 * plain Go errors by then: every failure (its own "election: no leader" as much as a KV error such
 * as "etcdserver: requested lease not found") reaches the client as UNKNOWN with the exact text,
 * and Go clients recognise the etcd ones by that text. Checked against etcd 3.4.
 */
export function concurrencyToGrpcError(error: unknown, logger: Logger, method: string): GrpcError {
  if (error instanceof ConcurrencyError || error instanceof EtcdError) return { code: status.UNKNOWN, details: error.message };
  return toGrpcError(error, logger, method);
}

function deadlinePassed(deadline: Deadline): boolean {
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(deadlineMs) && Date.now() >= deadlineMs;
}

/** A unary handler whose work may wait: `signal` aborts when the call is cancelled or times out. */
export function cancellableUnary<Response>(
  logger: Logger,
  method: string,
  handle: (request: unknown, context: RequestContext, signal: AbortSignal) => Promise<Response>,
): handleUnaryCall<unknown, Response> {
  return (call, callback) => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      callback(malformedError(request));
      return;
    }
    const abort = new AbortController();
    const onCancelled = (): void => {
      abort.abort(new ConcurrencyError(deadlinePassed(call.getDeadline()) ? 'DeadlineExceeded' : 'Canceled'));
    };
    call.once('cancelled', onCancelled);
    Promise.resolve()
      .then(() => handle(request, contextFromMetadata(call.metadata), abort.signal))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(concurrencyToGrpcError(error, logger, method)),
      )
      .finally(() => call.off('cancelled', onCancelled));
  };
}

export function lockService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  const locks = new ServerLocks(server);
  return {
    Lock: cancellableUnary(logger, 'Lock', async (request, context, signal) => {
      const { name, lease } = lockRequestFromWire(request);
      return lockResponseToWire(await locks.lock(name, lease, signal, context));
    }),
    Unlock: cancellableUnary(logger, 'Unlock', async (request, context) => {
      const { key } = unlockRequestFromWire(request);
      return unlockResponseToWire(await locks.unlock(key, context));
    }),
  };
}
