// The etcdserverpb.Cluster service: MemberAdd, MemberRemove, MemberUpdate, MemberList, MemberPromote.
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import {
  memberAddRequestFromWire, memberAddResponseToWire, memberIdFromWire, memberListRequestFromWire,
  membersResponseToWire, memberUpdateRequestFromWire,
} from './translate/cluster.js';
import { unary } from './calls.js';

export function clusterService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return {
    MemberAdd: unary(logger, 'MemberAdd', async (request, context) => {
      const { peerUrls, isLearner } = memberAddRequestFromWire(request);
      return memberAddResponseToWire(await server.memberAdd(peerUrls, isLearner, context));
    }),
    MemberRemove: unary(logger, 'MemberRemove', async (request, context) =>
      membersResponseToWire(await server.memberRemove(memberIdFromWire(request), context))),
    MemberUpdate: unary(logger, 'MemberUpdate', async (request, context) => {
      const { id, peerUrls } = memberUpdateRequestFromWire(request);
      return membersResponseToWire(await server.memberUpdate(id, peerUrls, context));
    }),
    MemberList: unary(logger, 'MemberList', async (request, context) =>
      membersResponseToWire(await server.memberList(memberListRequestFromWire(request).linearizable, context))),
    MemberPromote: unary(logger, 'MemberPromote', async (request, context) =>
      membersResponseToWire(await server.memberPromote(memberIdFromWire(request), context))),
  };
}
