// Which fields the answers of the Lease, Cluster, Maintenance, Auth, Election and Lock services put
// on the wire.
// etcd's Go encoder writes no field at its zero value (proto3); protobufjs writes every field the
// answer object has, so a translator that sets zeros (or leaves out a field etcd writes) changes
// the bytes a client reads, though not what it decodes. The lists below are what etcd 3.4 answered
// to the same calls in the same order on a fresh one-member cluster (the test run with
// COMPAT_SELF_CHECK=1 checks them against it); values differ (ids, hashes), presence must not.
// WIRE_PRESENCE_PRINT=1 prints what the server under test wrote.
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { protobufRoot } from '../../src/api/grpc/definitions.js';
import { startServerUnderTest, selfCheck, type EtcdProcess } from '../helpers/etcd-process.js';
import { rawFirstStreamAnswer, rawUnary } from '../helpers/raw-grpc.js';

let server: EtcdProcess;
const root = protobufRoot();

/** The paths of the fields present in `bytes`, nested messages walked, repeated ones marked []. */
function presentPaths(type: protobuf.Type, bytes: Uint8Array, prefix = '', out = new Set<string>()): Set<string> {
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    const field = type.fieldsById[tag >>> 3];
    const path = `${prefix}${field?.name ?? `#${tag >>> 3}`}${field?.repeated ? '[]' : ''}`;
    out.add(path);
    if (field?.resolvedType instanceof protobuf.Type && wireType === 2) presentPaths(field.resolvedType, reader.bytes(), `${path}.`, out);
    else reader.skipType(wireType);
  }
  return out;
}

type Answer = { paths: string[]; decoded: Record<string, unknown> } | { code: number; details: string };

/** One unary call: `method` of `service`, the request from a plain object; the answer's field paths and decoded value. */
function unary(service: string, method: string, request: Record<string, unknown>): Promise<Answer> {
  const serviceName = service.includes('.') ? service : `etcdserverpb.${service}`;
  const serviceType = root.lookupService(serviceName);
  const rpc = serviceType.methods[method]!;
  rpc.resolve();
  const requestType = rpc.resolvedRequestType!;
  const responseType = rpc.resolvedResponseType!;
  const body = Buffer.from(requestType.encode(requestType.fromObject(request)).finish());
  return rawUnary(server.clientPort, `/${serviceName}/${method}`, body).then((answer) => {
    if (!('ok' in answer)) return answer;
    return {
      paths: [...presentPaths(responseType, answer.ok)].sort(),
      decoded: responseType.toObject(responseType.decode(answer.ok), { longs: String }) as Record<string, unknown>,
    };
  });
}

/** One LeaseKeepAlive request on its own stream, and its answer's field paths. */
async function keepAliveOnce(id: string): Promise<string[]> {
  const requestType = root.lookupType('etcdserverpb.LeaseKeepAliveRequest');
  const responseType = root.lookupType('etcdserverpb.LeaseKeepAliveResponse');
  const body = Buffer.from(requestType.encode(requestType.fromObject({ ID: id })).finish());
  const bytes = await rawFirstStreamAnswer(server.clientPort, '/etcdserverpb.Lease/LeaseKeepAlive', body);
  return [...presentPaths(responseType, bytes)].sort();
}

const header = ['header', 'header.cluster_id', 'header.member_id', 'header.raft_term', 'header.revision'];
/** The cluster service's header: etcd fills everything but the revision. */
const clusterHeader = ['header', 'header.cluster_id', 'header.member_id', 'header.raft_term'];
/** etcd 3.5 added HashKV's hash_revision (field 4); etcd-ts answers as 3.5, etcd 3.4 without it. */
const hashRevision = selfCheck ? [] : ['hash_revision'];

function pathsOf(answer: Answer): string[] {
  if (!('paths' in answer)) throw new Error(`call failed: ${answer.code} ${answer.details}`);
  return answer.paths;
}

function decodedOf(answer: Answer): Record<string, unknown> {
  if (!('decoded' in answer)) throw new Error(`call failed: ${answer.code} ${answer.details}`);
  return answer.decoded;
}

const observed: Record<string, string[]> = {};
const printOnly = process.env.WIRE_PRESENCE_PRINT === '1';

/** Checks a call's field paths against etcd 3.4's, and keeps them for WIRE_PRESENCE_PRINT. */
function expectPaths(label: string, paths: string[], expected: string[]): void {
  observed[label] = paths;
  if (!printOnly) expect(paths, label).toEqual([...expected].sort());
}

describe(`answers' fields on the wire (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  beforeAll(async () => {
    server = await startServerUnderTest({ name: 'wirepresence' });
  }, 60_000);

  afterAll(async () => {
    if (printOnly) console.log(JSON.stringify(observed, null, 1));
    await server?.stop();
  });

  test('Lease', async () => {
    const granted = await unary('Lease', 'LeaseGrant', { TTL: 60 });
    expectPaths('LeaseGrant', pathsOf(granted), [...header, 'ID', 'TTL']);
    const id = decodedOf(granted).ID as string;
    expectPaths('LeaseGrant with ID', pathsOf(await unary('Lease', 'LeaseGrant', { TTL: 30, ID: 4242 })), [...header, 'ID', 'TTL']);
    const put = await unary('KV', 'Put', { key: Buffer.from('leased'), value: Buffer.from('v'), lease: id });
    expectPaths('Put with lease', pathsOf(put), header);
    expectPaths('LeaseTimeToLive', pathsOf(await unary('Lease', 'LeaseTimeToLive', { ID: id })), [...header, 'ID', 'TTL', 'grantedTTL']);
    expectPaths('LeaseTimeToLive keys', pathsOf(await unary('Lease', 'LeaseTimeToLive', { ID: id, keys: true })), [...header, 'ID', 'TTL', 'grantedTTL', 'keys[]']);
    // TTL -1, granted TTL 0: not written.
    expectPaths('LeaseTimeToLive unknown', pathsOf(await unary('Lease', 'LeaseTimeToLive', { ID: 99 })), [...header, 'ID', 'TTL']);
    expectPaths('LeaseLeases', pathsOf(await unary('Lease', 'LeaseLeases', {})), [...header, 'leases[]', 'leases[].ID']);
    expectPaths('LeaseKeepAlive', await keepAliveOnce(id), [...header, 'ID', 'TTL']);
    expectPaths('LeaseRevoke', pathsOf(await unary('Lease', 'LeaseRevoke', { ID: 4242 })), header);
  });

  test('Cluster', async () => {
    const members = ['members[]', 'members[].ID', 'members[].name', 'members[].peerURLs[]', 'members[].clientURLs[]'];
    expectPaths('MemberList', pathsOf(await unary('Cluster', 'MemberList', {})), [...clusterHeader, ...members]);
    const added = await unary('Cluster', 'MemberAdd', { peerURLs: ['http://127.0.0.1:1'], isLearner: true });
    // The new member has no name until it starts, and is the one learner.
    expectPaths('MemberAdd learner', pathsOf(added), [
      ...clusterHeader, 'member', 'member.ID', 'member.peerURLs[]', 'member.isLearner', ...members, 'members[].isLearner',
    ]);
    const memberId = (decodedOf(added).member as { ID: string }).ID;
    // etcd 3.4's update replaces the member's raft attributes with the request's, and its learner
    // flag with them (in its member list only: raft still counts it as a learner); etcd-ts keeps it.
    expectPaths('MemberUpdate', pathsOf(await unary('Cluster', 'MemberUpdate', { ID: memberId, peerURLs: ['http://127.0.0.1:2'] })),
      [...clusterHeader, ...members, ...(selfCheck ? [] : ['members[].isLearner'])]);
    expectPaths('MemberRemove', pathsOf(await unary('Cluster', 'MemberRemove', { ID: memberId })), [...clusterHeader, ...members]);
  });

  test('Maintenance and Compact', async () => {
    expectPaths('Status', pathsOf(await unary('Maintenance', 'Status', {})),
      [...header, 'version', 'dbSize', 'leader', 'raftIndex', 'raftTerm', 'raftAppliedIndex', 'dbSizeInUse']);
    // No header at all: etcd 3.4's Alarm and Defragment answers carry none.
    expectPaths('Alarm GET', pathsOf(await unary('Maintenance', 'Alarm', { action: 'GET' })), []);
    expectPaths('Hash', pathsOf(await unary('Maintenance', 'Hash', {})), [...header, 'hash']);
    expectPaths('HashKV', pathsOf(await unary('Maintenance', 'HashKV', {})), [...header, 'hash', 'compact_revision', ...hashRevision]);
    expectPaths('Compact', pathsOf(await unary('KV', 'Compact', { revision: 2 })), header);
    expectPaths('HashKV after compaction', pathsOf(await unary('Maintenance', 'HashKV', {})),
      [...header, 'hash', 'compact_revision', ...hashRevision]);
    expectPaths('Defragment', pathsOf(await unary('Maintenance', 'Defragment', {})), []);
  });

  test('Election and Lock', async () => {
    const leaseId = decodedOf(await unary('Lease', 'LeaseGrant', { TTL: 60 })).ID as string;
    const locked = await unary('v3lockpb.Lock', 'Lock', { name: Buffer.from('lk'), lease: leaseId });
    expectPaths('Lock', pathsOf(locked), [...header, 'key']);
    expectPaths('Unlock', pathsOf(await unary('v3lockpb.Lock', 'Unlock', { key: decodedOf(locked).key })), header);
    const campaign = await unary('v3electionpb.Election', 'Campaign', { name: Buffer.from('el'), lease: leaseId, value: Buffer.from('v1') });
    expectPaths('Campaign', pathsOf(campaign), [...header, 'leader', 'leader.name', 'leader.key', 'leader.rev', 'leader.lease']);
    const leader = decodedOf(campaign).leader;
    expectPaths('Proclaim', pathsOf(await unary('v3electionpb.Election', 'Proclaim', { leader, value: Buffer.from('v2') })), header);
    expectPaths('Leader', pathsOf(await unary('v3electionpb.Election', 'Leader', { name: Buffer.from('el') })),
      [...header, 'kv', 'kv.key', 'kv.create_revision', 'kv.mod_revision', 'kv.version', 'kv.value', 'kv.lease']);
    expectPaths('Resign', pathsOf(await unary('v3electionpb.Election', 'Resign', { leader })), header);
    const none = await unary('v3electionpb.Election', 'Leader', { name: Buffer.from('el') });
    observed['Leader after resign'] = ['paths' in none ? 'answered' : `${none.code} ${none.details}`];
    if (!printOnly) expect(none).toEqual({ code: grpc.status.UNKNOWN, details: 'election: no leader' });
  });

  test('Auth', async () => {
    expectPaths('UserAdd', pathsOf(await unary('Auth', 'UserAdd', { name: 'u1', password: 'p1' })), header);
    expectPaths('RoleAdd', pathsOf(await unary('Auth', 'RoleAdd', { name: 'r1' })), header);
    expectPaths('RoleGrantPermission', pathsOf(await unary('Auth', 'RoleGrantPermission', {
      name: 'r1', perm: { permType: 'READWRITE', key: Buffer.from('a'), range_end: Buffer.from('b') },
    })), header);
    expectPaths('RoleGet', pathsOf(await unary('Auth', 'RoleGet', { role: 'r1' })), [...header, 'perm[]', 'perm[].permType', 'perm[].key', 'perm[].range_end']);
    expectPaths('RoleList', pathsOf(await unary('Auth', 'RoleList', {})), [...header, 'roles[]']);
    expectPaths('UserGrantRole', pathsOf(await unary('Auth', 'UserGrantRole', { user: 'u1', role: 'r1' })), header);
    expectPaths('UserGet', pathsOf(await unary('Auth', 'UserGet', { name: 'u1' })), [...header, 'roles[]']);
    expectPaths('UserList', pathsOf(await unary('Auth', 'UserList', {})), [...header, 'users[]']);
    expectPaths('UserRevokeRole', pathsOf(await unary('Auth', 'UserRevokeRole', { name: 'u1', role: 'r1' })), header);
    expectPaths('UserGet without roles', pathsOf(await unary('Auth', 'UserGet', { name: 'u1' })), header);
    expectPaths('RoleRevokePermission', pathsOf(await unary('Auth', 'RoleRevokePermission', { role: 'r1', key: Buffer.from('a'), range_end: Buffer.from('b') })), header);
    expectPaths('RoleGet without permissions', pathsOf(await unary('Auth', 'RoleGet', { role: 'r1' })), header);
    expectPaths('UserChangePassword', pathsOf(await unary('Auth', 'UserChangePassword', { name: 'u1', password: 'p2' })), header);
    expectPaths('UserDelete', pathsOf(await unary('Auth', 'UserDelete', { name: 'u1' })), header);
    expectPaths('RoleDelete', pathsOf(await unary('Auth', 'RoleDelete', { role: 'r1' })), header);
  });
});
