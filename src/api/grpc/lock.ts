// The v3lockpb.Lock service: Lock waits (possibly long) for its turn, so unlike the other unary
// calls it carries the call's cancellation down: a client that goes away or whose deadline passes
// stops waiting and leaves the queue. The cancellable unary wrapper and the error mapping for the
// concurrency errors live here and are shared with election.ts.
import { status, type handleUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ConcurrencyError, ServerLocks } from '../../concurrency/index.js';
import type { EtcdServerApi, RequestContext } from '../../server/server-api.js';
import { malformedError } from './calls.js';
import { contextFromMetadata } from './context.js';
import { MalformedRequest } from './definitions.js';
import { toGrpcError, type GrpcError } from './errors.js';
import { lockRequestFromWire, lockResponseToWire, unlockRequestFromWire, unlockResponseToWire } from './translate/lock.js';

/** etcd returns the lock and election errors as plain Go errors: UNKNOWN with the exact text. */
export function concurrencyToGrpcError(error: unknown, logger: Logger, method: string): GrpcError {
  if (error instanceof ConcurrencyError) return { code: status.UNKNOWN, details: error.message };
  return toGrpcError(error, logger, method);
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
    const onCancelled = (): void => abort.abort();
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
