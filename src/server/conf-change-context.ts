// The context carried by a membership ConfChange entry: the member it concerns (so every member
// applies the same membership record) and the proposer's request id (so the proposer can answer its
// client). JSON, since it is small and rare; 64-bit ids as decimal strings.
import type { Member } from './server-api.js';

export interface ConfChangeContext {
  requestId: bigint;
  member: Member;
}

export function encodeConfChangeContext(context: ConfChangeContext): Uint8Array {
  const { requestId, member } = context;
  return Buffer.from(JSON.stringify({
    requestId: requestId.toString(),
    member: { ...member, id: member.id.toString() },
  }));
}

export function decodeConfChangeContext(bytes: Uint8Array): ConfChangeContext {
  const raw = JSON.parse(Buffer.from(bytes).toString('utf8')) as {
    requestId: string;
    member: { id: string; name: string; peerUrls: string[]; clientUrls: string[]; isLearner: boolean };
  };
  return {
    requestId: BigInt(raw.requestId),
    member: {
      id: BigInt(raw.member.id), name: raw.member.name, peerUrls: raw.member.peerUrls,
      clientUrls: raw.member.clientUrls, isLearner: raw.member.isLearner,
    },
  };
}
