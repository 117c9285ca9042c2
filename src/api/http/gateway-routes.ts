// The gateway's unary paths: each POST path names its gRPC method (for the proto types and the
// metrics labels) and calls EtcdServerApi through the same translators the gRPC services use; the
// auth, lock and election paths come from their own modules. A method without a handler is one
// the server does not offer yet; it answers UNIMPLEMENTED as etcd's Go gRPC server does for an
// unregistered method.
import { headerToWire } from '../grpc/translate/common.js';
import {
  memberAddRequestFromWire, memberAddResponseToWire, memberIdFromWire, memberListRequestFromWire, membersResponseToWire,
  memberUpdateRequestFromWire,
} from '../grpc/translate/cluster.js';
import {
  compactionRequestFromWire, deleteRangeRequestFromWire, deleteRangeResponseToWire, putRequestFromWire, putResponseToWire,
  rangeRequestFromWire, rangeResponseToWire, txnRequestFromWire, txnResponseToWire,
} from '../grpc/translate/kv.js';
import {
  leaseGrantRequestFromWire, leaseGrantResponseToWire, leaseIdFromWire, leaseLeasesResponseToWire,
  leaseTimeToLiveRequestFromWire, leaseTimeToLiveResponseToWire,
} from '../grpc/translate/lease.js';
import {
  alarmRequestFromWire, alarmResponseToWire, emptyResponseToWire, hashKvRequestFromWire, hashKvResponseToWire,
  hashResponseToWire, moveLeaderRequestFromWire, statusResponseToWire,
} from '../grpc/translate/maintenance.js';
import { authRoutes } from './gateway-auth-routes.js';
import { concurrencyRoutes } from './gateway-concurrency-routes.js';
import type { UnaryRoute } from './gateway-route-types.js';

export type { RouteServices, UnaryHandler, UnaryRoute } from './gateway-route-types.js';

const kv = 'etcdserverpb.KV';
const lease = 'etcdserverpb.Lease';
const cluster = 'etcdserverpb.Cluster';
const maintenance = 'etcdserverpb.Maintenance';

const leaseTimeToLive: UnaryRoute = {
  service: lease, method: 'LeaseTimeToLive',
  handle: async (server, request, context) => {
    const { id, keys } = leaseTimeToLiveRequestFromWire(request);
    return leaseTimeToLiveResponseToWire(await server.leaseTimeToLive(id, keys, context));
  },
};
const leaseRevoke: UnaryRoute = {
  service: lease, method: 'LeaseRevoke',
  handle: async (server, request, context) => ({ header: headerToWire((await server.leaseRevoke(leaseIdFromWire(request), context)).header) }),
};
const leaseLeases: UnaryRoute = {
  service: lease, method: 'LeaseLeases',
  handle: async (server, _request, context) => leaseLeasesResponseToWire(await server.leaseLeases(context)),
};

/** Paths below the /v3 (or /v3beta) prefix. */
export const unaryRoutes: ReadonlyMap<string, UnaryRoute> = new Map<string, UnaryRoute>([
  ['/kv/range', {
    service: kv, method: 'Range',
    handle: async (server, request, context) => {
      const { header, result } = await server.range(rangeRequestFromWire(request), context);
      return rangeResponseToWire(headerToWire(header), result);
    },
  }],
  ['/kv/put', {
    service: kv, method: 'Put',
    handle: async (server, request, context) => {
      const { header, result } = await server.put(putRequestFromWire(request), context);
      return putResponseToWire(headerToWire(header), result);
    },
  }],
  ['/kv/deleterange', {
    service: kv, method: 'DeleteRange',
    handle: async (server, request, context) => {
      const { header, result } = await server.deleteRange(deleteRangeRequestFromWire(request), context);
      return deleteRangeResponseToWire(headerToWire(header), result);
    },
  }],
  ['/kv/txn', {
    service: kv, method: 'Txn',
    handle: async (server, request, context) => {
      const { header, result } = await server.txn(txnRequestFromWire(request), context);
      return txnResponseToWire(header, result);
    },
  }],
  ['/kv/compaction', {
    service: kv, method: 'Compact',
    handle: async (server, request, context) => {
      const { revision, physical } = compactionRequestFromWire(request);
      return { header: headerToWire((await server.compact(revision, physical, context)).header) };
    },
  }],
  ['/lease/grant', {
    service: lease, method: 'LeaseGrant',
    handle: async (server, request, context) => {
      const { ttlSeconds, id } = leaseGrantRequestFromWire(request);
      return leaseGrantResponseToWire(await server.leaseGrant(ttlSeconds, id, context));
    },
  }],
  ['/lease/revoke', leaseRevoke],
  ['/kv/lease/revoke', leaseRevoke],
  ['/lease/timetolive', leaseTimeToLive],
  ['/kv/lease/timetolive', leaseTimeToLive],
  ['/lease/leases', leaseLeases],
  ['/kv/lease/leases', leaseLeases],
  ['/cluster/member/add', {
    service: cluster, method: 'MemberAdd',
    handle: async (server, request, context) => {
      const { peerUrls, isLearner } = memberAddRequestFromWire(request);
      return memberAddResponseToWire(await server.memberAdd(peerUrls, isLearner, context));
    },
  }],
  ['/cluster/member/remove', {
    service: cluster, method: 'MemberRemove',
    handle: async (server, request, context) => membersResponseToWire(await server.memberRemove(memberIdFromWire(request), context)),
  }],
  ['/cluster/member/update', {
    service: cluster, method: 'MemberUpdate',
    handle: async (server, request, context) => {
      const { id, peerUrls } = memberUpdateRequestFromWire(request);
      return membersResponseToWire(await server.memberUpdate(id, peerUrls, context));
    },
  }],
  ['/cluster/member/list', {
    service: cluster, method: 'MemberList',
    handle: async (server, request, context) =>
      membersResponseToWire(await server.memberList(memberListRequestFromWire(request).linearizable, context)),
  }],
  ['/cluster/member/promote', {
    service: cluster, method: 'MemberPromote',
    handle: async (server, request, context) => membersResponseToWire(await server.memberPromote(memberIdFromWire(request), context)),
  }],
  ['/maintenance/alarm', {
    service: maintenance, method: 'Alarm',
    handle: async (server, request, context) => {
      const { action, memberId, alarm } = alarmRequestFromWire(request);
      return alarmResponseToWire(await server.alarm(action, memberId, alarm, context));
    },
  }],
  ['/maintenance/status', {
    service: maintenance, method: 'Status',
    handle: async (server, _request, context) => statusResponseToWire(await server.status(context)),
  }],
  ['/maintenance/defragment', {
    service: maintenance, method: 'Defragment',
    handle: async (server, _request, context) => emptyResponseToWire(await server.defragment(context)),
  }],
  // etcd 3.4's proto maps both Hash and HashKV to /hash and the gateway serves Hash there; 3.5
  // moved HashKV to /hashkv. Serving both keeps 3.4 and 3.5 clients working.
  ['/maintenance/hash', {
    service: maintenance, method: 'Hash',
    handle: async (server, _request, context) => hashResponseToWire(await server.hash(context)),
  }],
  ['/maintenance/hashkv', {
    service: maintenance, method: 'HashKV',
    handle: async (server, request, context) =>
      hashKvResponseToWire(await server.hashKv(hashKvRequestFromWire(request).revision, context)),
  }],
  ['/maintenance/transfer-leadership', {
    service: maintenance, method: 'MoveLeader',
    handle: async (server, request, context) =>
      emptyResponseToWire(await server.moveLeader(moveLeaderRequestFromWire(request).targetId, context)),
  }],
  ['/maintenance/downgrade', { service: maintenance, method: 'Downgrade' }],
  ...authRoutes,
  ...concurrencyRoutes,
]);
