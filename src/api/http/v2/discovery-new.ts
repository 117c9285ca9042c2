// Owns what the public discovery service offered: `GET /new?size=N` makes a fresh token, stores
// its size at `/_etcd/registry/<token>/_config/size` through the v2 keys semantics, and answers the
// URL members pass as --discovery.
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { V2Store } from './store.js';

export const discoveryRegistryPath = '/_etcd/registry';
/** The public service refused sizes above this; so do we (a cluster this big is a mistake). */
export const discoverySizeMax = 64;
const discoverySizeDefault = 3;

export function registerDiscoveryNew(app: FastifyInstance, options: { store: V2Store }): void {
  app.get<{ Querystring: { size?: string } }>('/new', async (request, reply) => {
    const rawSize = request.query.size ?? String(discoverySizeDefault);
    const size = Number(rawSize);
    if (!/^\d+$/.test(rawSize) || size < 1 || size > discoverySizeMax) {
      return reply.code(400).type('text/plain; charset=utf-8')
        .send(`invalid size: must be an integer from 1 to ${discoverySizeMax}\n`);
    }
    const token = randomBytes(16).toString('hex');
    const tokenPath = `${discoveryRegistryPath}/${token}`;
    await options.store.set(`${tokenPath}/_config/size`, { value: String(size), dir: false, prevExist: false, refresh: false });
    const host = request.headers.host ?? `${request.hostname}`;
    return reply.type('text/plain; charset=utf-8').send(`http://${host}/v2/keys${tokenPath}`);
  });
}
