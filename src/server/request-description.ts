// One line for an applied request in a log, in the spirit of etcd's InternalRaftStringer: the kind,
// its key, and sizes instead of values (values can be large and secret).
import type { InternalRequest } from './requests.js';

function quoted(bytes: Buffer): string {
  return JSON.stringify(bytes.toString('utf8'));
}

export function describeRequest(request: InternalRequest): string {
  const header = `header:<ID:${request.requestId} > `;
  if (request.put) {
    const { key, value, lease } = request.put;
    return `${header}put:<key:${quoted(key)} value_size:${value.length}${lease !== 0n ? ` lease:${lease}` : ''} >`;
  }
  if (request.deleteRange) {
    const { key, rangeEnd } = request.deleteRange;
    return `${header}delete_range:<key:${quoted(key)}${rangeEnd.length > 0 ? ` range_end:${quoted(rangeEnd)}` : ''} >`;
  }
  if (request.txn) {
    const { compare, success, failure } = request.txn;
    return `${header}txn:<compare_size:${compare.length} success_size:${success.length} failure_size:${failure.length} >`;
  }
  if (request.compaction) return `${header}compaction:<revision:${request.compaction.revision}${request.compaction.physical ? ' physical:true' : ''} >`;
  if (request.leaseGrant) return `${header}lease_grant:<ID:${request.leaseGrant.id} TTL:${request.leaseGrant.ttlSeconds} >`;
  if (request.leaseRevoke) return `${header}lease_revoke:<ID:${request.leaseRevoke.id} >`;
  if (request.leaseCheckpoint) return `${header}lease_checkpoint:<checkpoints_size:${request.leaseCheckpoint.checkpoints.length} >`;
  if (request.alarm) return `${header}alarm:<action:${request.alarm.action} memberID:${request.alarm.memberId} alarm:${request.alarm.alarm} >`;
  if (request.memberAttributes) return `${header}member_attributes:<name:${JSON.stringify(request.memberAttributes.name)} >`;
  if (request.authManagement) return `${header}auth_management:<>`;
  return header.trimEnd();
}
