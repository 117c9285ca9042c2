// The v2 HTTP API of the client port, a view over the v3 store (see README.md): /v2/keys,
// /v2/members, /v2/machines, /v2/stats/*, and the discovery service's /new. Imports the server
// API and mvcc types only; the HTTP app registers it when --enable-v2 is on.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../../server/server-api.js';
import { registerV2Cluster } from './cluster-routes.js';
import { registerDiscoveryNew } from './discovery-new.js';
import { registerV2Keys } from './keys-routes.js';
import { V2Store } from './store.js';

export interface V2ApiOptions {
  server: EtcdServerApi;
  logger: Logger;
}

export function registerV2Api(app: FastifyInstance, options: V2ApiOptions): V2Store {
  const store = new V2Store(options.server);
  const context = { server: options.server, store, logger: options.logger.child({ component: 'v2' }) };
  registerV2Keys(app, context);
  registerV2Cluster(app, { ...context, startedAt: new Date() });
  registerDiscoveryNew(app, { store });
  return store;
}

export { V2Store } from './store.js';
export { V2Error, v2ErrorMessages } from './errors.js';
export { v2ActionKey, v2KeyspacePrefix, v2NodesPrefix } from './paths.js';
