// Cluster wire messages (MemberAdd/Remove/Update/List/Promote) ⇄ EtcdServerApi arguments and results.
import type { Member, ResponseHeader } from '../../../server/server-api.js';
import {
  headerToWire, int64ToWire, wireArray, wireBool, wireObject, wireString, wireUint64Bigint,
  type WireInt64, type WireResponseHeader,
} from './common.js';

/** An unstarted member has no name yet and most are not learners: those zero values are left out, as etcd's encoder does. */
export interface WireMember { ID: WireInt64; name?: string; peerURLs: string[]; clientURLs: string[]; isLearner?: boolean }

function urlsFromWire(value: unknown): string[] {
  return wireArray(value, 'peerURLs').map((url) => wireString(url, 'peerURLs'));
}

export function memberAddRequestFromWire(value: unknown): { peerUrls: string[]; isLearner: boolean } {
  const wire = wireObject(value, 'MemberAddRequest');
  return { peerUrls: urlsFromWire(wire.peerURLs), isLearner: wireBool(wire.isLearner, 'isLearner') };
}

/** MemberRemoveRequest and MemberPromoteRequest: just the ID. */
export function memberIdFromWire(value: unknown): bigint {
  return wireUint64Bigint(wireObject(value, 'Member request').ID, 'ID');
}

export function memberUpdateRequestFromWire(value: unknown): { id: bigint; peerUrls: string[] } {
  const wire = wireObject(value, 'MemberUpdateRequest');
  return { id: wireUint64Bigint(wire.ID, 'ID'), peerUrls: urlsFromWire(wire.peerURLs) };
}

export function memberListRequestFromWire(value: unknown): { linearizable: boolean } {
  return { linearizable: wireBool(wireObject(value, 'MemberListRequest').linearizable, 'linearizable') };
}

export function memberToWire(member: Member): WireMember {
  const wire: WireMember = { ID: int64ToWire(member.id), peerURLs: member.peerUrls, clientURLs: member.clientUrls };
  if (member.name !== '') wire.name = member.name;
  if (member.isLearner) wire.isLearner = true;
  return wire;
}

/** etcd's cluster service fills cluster id, member id and raft term, never the revision (not even a zero one on the wire). */
function clusterHeaderToWire(header: ResponseHeader): WireResponseHeader {
  const { revision: _revision, ...wire } = headerToWire(header);
  return wire;
}

export function membersResponseToWire(result: { header: ResponseHeader; members: Member[] }):
{ header: WireResponseHeader; members: WireMember[] } {
  return { header: clusterHeaderToWire(result.header), members: result.members.map(memberToWire) };
}

export function memberAddResponseToWire(result: { header: ResponseHeader; member: Member; members: Member[] }):
{ header: WireResponseHeader; member: WireMember; members: WireMember[] } {
  return { header: clusterHeaderToWire(result.header), member: memberToWire(result.member), members: result.members.map(memberToWire) };
}
