// The shape of a gateway unary path: which gRPC method it stands for (proto types, metrics labels)
// and the handler that calls the server. Kept apart so the route tables (KV and friends, auth,
// lock and election) can each live in their own module without importing one another.
import type { ServerElections, ServerLocks } from '../../concurrency/index.js';
import type { AuthServerApi, EtcdServerApi, RequestContext } from '../../server/server-api.js';

/** What a handler may call beyond EtcdServerApi, and the signal of the HTTP request it serves. */
export interface RouteServices {
  /** Absent when the app was built without one: the Auth paths answer "unknown service". */
  auth?: AuthServerApi;
  locks: ServerLocks;
  elections: ServerElections;
  /** Aborts when the client goes away before its answer was written (a Lock or Campaign stops waiting). */
  signal: AbortSignal;
}

export type UnaryHandler = (
  server: EtcdServerApi, request: Record<string, unknown>, context: RequestContext, services: RouteServices,
) => Promise<object>;

export interface UnaryRoute {
  /** Full proto service name, e.g. etcdserverpb.KV. */
  service: string;
  method: string;
  handle?: UnaryHandler;
}
