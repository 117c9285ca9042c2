// Owns the v2 cluster endpoints on the client port: /v2/members (list, add, remove, update, leader),
// /v2/machines and /v2/stats/{self,leader,store}, each mapped onto the server's member and status
// calls with etcd's JSON shapes and its status codes.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isEtcdError } from '../../../errors.js';
import type { EtcdServerApi, Member } from '../../../server/server-api.js';
import type { V2Store } from './store.js';

export interface V2ClusterContext {
  server: EtcdServerApi;
  store: V2Store;
  /** When this member's HTTP side started (stats/self startTime). */
  startedAt: Date;
}

function memberJson(member: Member): Record<string, unknown> {
  return { id: member.id.toString(16), name: member.name, peerURLs: member.peerUrls, clientURLs: member.clientUrls };
}

async function sendJson(reply: FastifyReply, context: V2ClusterContext, status: number, body: unknown): Promise<void> {
  const clusterId = context.server.responseHeader(0).clusterId.toString(16);
  await reply.code(status).headers({ 'Content-Type': 'application/json', 'X-Etcd-Cluster-Id': clusterId })
    .send(Buffer.from(`${JSON.stringify(body)}\n`));
}

/** etcd's v2http member errors: {"message"} with the status its httptypes chose. */
async function sendMemberError(reply: FastifyReply, context: V2ClusterContext, error: unknown, id?: string): Promise<void> {
  if (isEtcdError(error)) {
    switch (error.name) {
      case 'MemberNotFound': return sendJson(reply, context, 404, { message: `No such member: ${id ?? ''}` });
      case 'MemberExist': case 'PeerURLExist': return sendJson(reply, context, 409, { message: error.message });
      case 'MemberBadURLs': return sendJson(reply, context, 400, { message: error.message });
      default: return sendJson(reply, context, 500, { message: error.message });
    }
  }
  return sendJson(reply, context, 500, { message: error instanceof Error ? error.message : String(error) });
}

function peerUrlsOf(request: FastifyRequest): string[] | undefined {
  const contentType = String(request.headers['content-type'] ?? '');
  if (!contentType.includes('application/json') || typeof request.body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(request.body) as { peerURLs?: unknown };
    if (!Array.isArray(parsed.peerURLs) || !parsed.peerURLs.every((u) => typeof u === 'string')) return undefined;
    for (const url of parsed.peerURLs as string[]) new URL(url);
    return parsed.peerURLs as string[];
  } catch {
    return undefined;
  }
}

function parseMemberId(raw: string): bigint | undefined {
  return /^[0-9a-fA-F]{1,16}$/.test(raw) ? BigInt(`0x${raw}`) : undefined;
}

export function registerV2Cluster(app: FastifyInstance, context: V2ClusterContext): void {
  const { server } = context;
  app.get('/v2/members', async (_request, reply) => {
    const { members } = await server.memberList(true);
    await sendJson(reply, context, 200, { members: members.map(memberJson) });
  });
  app.get('/v2/members/leader', async (_request, reply) => {
    const status = await server.status();
    const { members } = await server.memberList(false);
    const leader = members.find((m) => m.id === status.leader);
    if (!leader) return sendJson(reply, context, 503, { message: 'During election' });
    return sendJson(reply, context, 200, memberJson(leader));
  });
  app.post('/v2/members', async (request, reply) => {
    const peerUrls = peerUrlsOf(request);
    if (!peerUrls) return sendJson(reply, context, 400, { message: 'Unable to decode JSON: peerURLs required' });
    try {
      const { member } = await server.memberAdd(peerUrls, false);
      return await sendJson(reply, context, 201, memberJson(member));
    } catch (error) {
      return sendMemberError(reply, context, error);
    }
  });
  app.delete<{ Params: { id: string } }>('/v2/members/:id', async (request, reply) => {
    const id = parseMemberId(request.params.id);
    if (id === undefined) return sendJson(reply, context, 404, { message: `No such member: ${request.params.id}` });
    try {
      await server.memberRemove(id);
      return await reply.code(204).send();
    } catch (error) {
      return sendMemberError(reply, context, error, request.params.id);
    }
  });
  app.put<{ Params: { id: string } }>('/v2/members/:id', async (request, reply) => {
    const id = parseMemberId(request.params.id);
    const peerUrls = peerUrlsOf(request);
    if (id === undefined) return sendJson(reply, context, 404, { message: `No such member: ${request.params.id}` });
    if (!peerUrls) return sendJson(reply, context, 400, { message: 'Unable to decode JSON: peerURLs required' });
    try {
      await server.memberUpdate(id, peerUrls);
      return await reply.code(204).send();
    } catch (error) {
      return sendMemberError(reply, context, error, request.params.id);
    }
  });
  app.get('/v2/machines', async (_request, reply) => {
    const { members } = await server.memberList(false);
    await reply.type('text/plain; charset=utf-8').send(members.flatMap((m) => m.clientUrls).join(', '));
  });
  app.get('/v2/stats/self', async (_request, reply) => {
    const status = await server.status();
    const { members } = await server.memberList(false);
    const self = members.find((m) => m.id === status.header.memberId);
    const isLeader = status.leader === status.header.memberId;
    await sendJson(reply, context, 200, {
      name: self?.name ?? '',
      id: status.header.memberId.toString(16),
      state: isLeader ? 'StateLeader' : status.isLearner ? 'StateLearner' : 'StateFollower',
      startTime: context.startedAt.toISOString(),
      leaderInfo: { leader: status.leader.toString(16) },
    });
  });
  app.get('/v2/stats/leader', async (_request, reply) => {
    const status = await server.status();
    if (status.leader !== status.header.memberId) return sendJson(reply, context, 403, { message: 'not current leader' });
    const { members } = await server.memberList(false);
    const followers: Record<string, unknown> = {};
    for (const member of members) if (member.id !== status.leader) followers[member.id.toString(16)] = {};
    return sendJson(reply, context, 200, { leader: status.leader.toString(16), followers });
  });
  app.get('/v2/stats/store', async (_request, reply) => {
    await sendJson(reply, context, 200, context.store.stats);
  });
}
