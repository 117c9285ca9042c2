// The context carried by a membership ConfChange entry: the member it concerns (so every member
// applies the same membership record) and the proposer's request id (so the proposer can answer its
// client). JSON, since it is small and rare; 64-bit ids as decimal strings (a request id in its
// 64-bit form, origin on top: request-ids.ts).
import { requestIdFromBigint, requestIdToBigint } from './request-ids.js';
import type { Member } from './server-api.js';

export interface ConfChangeContext {
  /** The proposer's counter; 0 for none. */
  requestId: number;
  /** The proposer's origin (request-ids.ts). */
  requestOrigin: number;
  member: Member;
}

export function encodeConfChangeContext(context: ConfChangeContext): Uint8Array {
  const { requestId, requestOrigin, member } = context;
  return Buffer.from(JSON.stringify({
    requestId: requestIdToBigint(requestId, requestOrigin).toString(),
    member: { ...member, id: member.id.toString() },
  }));
}

export function decodeConfChangeContext(bytes: Uint8Array): ConfChangeContext {
  const raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
    requestId: string;
    member: { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean };
  };
  return {
    ...requestIdFromBigint(BigInt(raw.requestId)),
    member: {
      id: BigInt(raw.member.id), name: raw.member.name, peerUrls: raw.member.peerUrls,
      clientUrls: raw.member.clientUrls, isLearner: raw.member.isLearner,
    },
  };
}
