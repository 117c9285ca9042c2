// Owns the /v2/keys HTTP surface: etcd's parameter parsing and its errors, the v2 headers
// (X-Etcd-Index, X-Raft-Index, X-Raft-Term, X-Etcd-Cluster-ID), status codes, and long-poll and
// streaming watches written as Go's json.Encoder writes them (one JSON value and a newline each).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { isEtcdError } from '../../../errors.js';
import type { EtcdServerApi } from '../../../server/server-api.js';
import { isV2Error, V2Error } from './errors.js';
import { eventJson, type V2Event } from './nodes.js';
import { cleanV2Path, isRoot } from './paths.js';
import type { V2Store } from './store.js';
import { V2Watch } from './watch.js';

export const v2KeysPrefix = '/v2/keys';

export interface V2RouteContext {
  server: EtcdServerApi;
  store: V2Store;
  logger: Logger;
}

type Form = Map<string, string[]>;

/** Go's r.ParseForm: a urlencoded body's values first, then the query's. */
export function parseForm(request: FastifyRequest): Form {
  const form: Form = new Map();
  const add = (params: URLSearchParams) => {
    for (const [name, value] of params) {
      const values = form.get(name);
      if (values) values.push(value);
      else form.set(name, [value]);
    }
  };
  const contentType = String(request.headers['content-type'] ?? '');
  if ((request.method === 'PUT' || request.method === 'POST') && contentType.includes('application/x-www-form-urlencoded') && typeof request.body === 'string') {
    add(new URLSearchParams(request.body));
  }
  const url = request.raw.url ?? '';
  const query = url.indexOf('?');
  if (query >= 0) add(new URLSearchParams(url.slice(query + 1)));
  return form;
}

function first(form: Form, name: string): string | undefined {
  return form.get(name)?.[0];
}

/** Go's strconv.ParseBool. */
function getBool(form: Form, name: string, quoted = true): boolean {
  const raw = first(form, name);
  if (raw === undefined) return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw new V2Error(209, quoted ? `invalid value for "${name}"` : `invalid value for ${name}`, 0);
}

function getUint(form: Form, name: string, code: 202 | 203): number | undefined {
  const raw = first(form, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new V2Error(code, `invalid value for "${name}"`, 0);
  return Number(raw);
}

export interface ParsedKeyRequest {
  path: string;
  recursive: boolean;
  sorted: boolean;
  wait: boolean;
  stream: boolean;
  dir: boolean;
  refresh: boolean;
  noValueOnSuccess: boolean;
  value: string;
  ttlSeconds?: number;
  prevExist?: boolean;
  prevValue?: string;
  prevIndex?: number;
  waitIndex?: number;
}

/** etcd 3.4's parseKeyRequest, check for check, in its order. */
export function parseKeyRequest(method: string, rawPath: string, form: Form): ParsedKeyRequest {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new V2Error(210, 'invalid path encoding', 0);
  }
  const path = cleanV2Path(decoded);
  const prevIndex = getUint(form, 'prevIndex', 203);
  const waitIndex = getUint(form, 'waitIndex', 203);
  const recursive = getBool(form, 'recursive');
  const sorted = getBool(form, 'sorted');
  const wait = getBool(form, 'wait');
  const dir = getBool(form, 'dir');
  const quorum = getBool(form, 'quorum');
  const stream = getBool(form, 'stream');
  void quorum; // every read here is linearizable already
  if (wait && method !== 'GET') throw new V2Error(209, '"wait" can only be used with GET requests', 0);
  const prevValue = first(form, 'prevValue');
  if (prevValue === '') throw new V2Error(201, '"prevValue" cannot be empty', 0);
  const noValueOnSuccess = getBool(form, 'noValueOnSuccess');
  let ttlSeconds: number | undefined;
  const ttlRaw = first(form, 'ttl');
  if (ttlRaw !== undefined && ttlRaw !== '') {
    if (!/^\d+$/.test(ttlRaw) || !Number.isSafeInteger(Number(ttlRaw))) throw new V2Error(202, 'invalid value for "ttl"', 0);
    ttlSeconds = Number(ttlRaw);
  }
  let prevExist: boolean | undefined;
  if (form.has('prevExist')) prevExist = getBool(form, 'prevExist', false);
  const refresh = form.has('refresh') ? getBool(form, 'refresh') : false;
  const value = first(form, 'value') ?? '';
  if (refresh) {
    if (value !== '') throw new V2Error(211, 'A value was provided on a refresh', 0);
    if (ttlSeconds === undefined) throw new V2Error(212, 'No TTL value set', 0);
  }
  return { path, recursive, sorted, wait, stream, dir, refresh, noValueOnSuccess, value, ttlSeconds, prevExist, prevValue, prevIndex, waitIndex };
}

export function registerV2Keys(app: FastifyInstance, context: V2RouteContext): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.raw.url ?? '';
    const pathPart = url.split('?')[0].replace(/^\/+/, '/').slice(v2KeysPrefix.length);
    try {
      const parsed = parseKeyRequest(request.method, pathPart, parseForm(request));
      if (request.method === 'GET' && parsed.wait) return await watchKey(context, request, reply, parsed);
      const result = await runKeyRequest(context, request.method, parsed);
      await sendEvent(context, reply, request.method, result.event, result.etcdIndex, parsed.noValueOnSuccess);
    } catch (error) {
      await sendError(context, reply, error);
    }
    return reply;
  };
  for (const path of [v2KeysPrefix, `${v2KeysPrefix}/*`]) {
    app.route({ method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'], url: path, handler, exposeHeadRoute: false });
  }
}

async function runKeyRequest(context: V2RouteContext, method: string, parsed: ParsedKeyRequest): Promise<{ event: V2Event; etcdIndex: number }> {
  const { store } = context;
  switch (method) {
    case 'GET':
    case 'HEAD':
      return store.get(parsed.path, parsed.recursive, parsed.sorted);
    case 'PUT':
      return store.set(parsed.path, {
        value: parsed.value, dir: parsed.dir, ttlSeconds: parsed.ttlSeconds, prevExist: parsed.prevExist,
        prevValue: parsed.prevValue, prevIndex: parsed.prevIndex, refresh: parsed.refresh,
      });
    case 'POST':
      if (isRoot(parsed.path)) {
        // etcd creates in-order keys under the root as well.
        return store.createInOrder('/', parsed.value, parsed.ttlSeconds);
      }
      return store.createInOrder(parsed.path, parsed.value, parsed.ttlSeconds);
    case 'DELETE':
      return store.delete(parsed.path, { dir: parsed.dir, recursive: parsed.recursive, prevValue: parsed.prevValue, prevIndex: parsed.prevIndex });
    default:
      throw new V2Error(210, `method ${method} not allowed`, 0);
  }
}

/** The headers every v2 keys answer carries. */
export async function v2Headers(context: V2RouteContext, etcdIndex: number): Promise<Record<string, string>> {
  const header = context.server.responseHeader(etcdIndex);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-Etcd-Cluster-Id': header.clusterId.toString(16),
    'X-Etcd-Index': String(etcdIndex),
  };
  try {
    const status = await context.server.status();
    headers['X-Raft-Index'] = String(status.raftIndex);
    headers['X-Raft-Term'] = String(status.raftTerm);
  } catch {
    headers['X-Raft-Term'] = String(header.raftTerm);
  }
  return headers;
}

async function sendEvent(context: V2RouteContext, reply: FastifyReply, method: string, event: V2Event, etcdIndex: number, noValueOnSuccess: boolean): Promise<void> {
  const created = event.action === 'create' || (event.action === 'set' && event.prevNode === undefined);
  const body: V2Event = noValueOnSuccess && ['set', 'create', 'update', 'compareAndSwap'].includes(event.action) ? { action: event.action } : event;
  reply.headers(await v2Headers(context, etcdIndex)).code(created ? 201 : 200);
  if (method === 'HEAD') await reply.send();
  else await reply.send(Buffer.from(eventJson(body)));
}

export async function sendError(context: V2RouteContext, reply: FastifyReply, error: unknown): Promise<void> {
  let v2Error: V2Error;
  if (isV2Error(error)) v2Error = error;
  else if (isEtcdError(error)) v2Error = new V2Error(300, error.message, 0);
  else {
    context.logger.warn({ err: error }, 'v2 keys request failed');
    v2Error = new V2Error(300, error instanceof Error ? error.message : String(error), 0);
  }
  const header = context.server.responseHeader(v2Error.index);
  await reply.code(v2Error.httpStatus).headers({
    'Content-Type': 'application/json',
    'X-Etcd-Cluster-Id': header.clusterId.toString(16),
    'X-Etcd-Index': String(v2Error.index),
  }).send(Buffer.from(`${v2Error.toJson()}\n`));
}

/**
 * A long poll: the headers go out at once (clients see 200 and the start index), then the first
 * matching event; with stream=true every matching event until the client leaves.
 */
async function watchKey(context: V2RouteContext, request: FastifyRequest, reply: FastifyReply, parsed: ParsedKeyRequest): Promise<FastifyReply> {
  const currentIndex = await context.store.currentIndex();
  // Headers are ready before the watch starts: an event from history must not beat them out.
  const headers = await v2Headers(context, currentIndex);
  let watch: V2Watch | undefined;
  const raw = reply.raw;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => { done = resolve; });
  try {
    watch = V2Watch.start(context.server, currentIndex, { path: parsed.path, recursive: parsed.recursive, sinceIndex: parsed.waitIndex }, (event) => {
      const { index: _index, ...body } = event;
      raw.write(eventJson(body));
      if (parsed.stream) return true;
      raw.end();
      done();
      return false;
    }, () => {
      // etcd ends the response when its watcher is dropped; the client retries with a new index.
      raw.end();
      done();
    });
  } catch (error) {
    await sendError(context, reply, error);
    return reply;
  }
  reply.hijack();
  raw.writeHead(200, headers);
  raw.flushHeaders();
  context.store.stats.watchers = V2Watch.openCount();
  request.raw.socket.once('close', () => done());
  raw.once('close', () => done());
  await finished;
  watch.close();
  context.store.stats.watchers = V2Watch.openCount();
  if (!raw.writableEnded) raw.end();
  return reply;
}
