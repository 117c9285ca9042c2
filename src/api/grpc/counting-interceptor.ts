// Counts, for /metrics, the calls grpc-js serves itself: those our HTTP/2 path relays to it (server
// streams such as Snapshot, Election's Observe and the health service's Watch). The calls our path
// answers are counted there; none reaches both. grpc-js hands the interceptor decoded messages: their
// bytes are those of their encoding again (a client's canonical encoding has the same length).
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import {
  countHandled, countReceived, countReceivedBytes, countSent, countSentBytes, countStarted, methodType, type GrpcHandledCounts,
} from './handled-counts.js';

/** A method's request encoder, by path (grpc-js gives the interceptor the response encoder only). */
export type RequestEncoders = ReadonlyMap<string, (request: unknown) => Buffer>;

/** A call ends once: with the status grpc-js sends or, when the client goes first, as Canceled. */
export function countingInterceptor(calls: GrpcHandledCounts, requestEncoders: RequestEncoders = new Map()): ServerInterceptor {
  return (descriptor, next) => {
    const counts = calls.method(descriptor.path, methodType(descriptor.requestStream, descriptor.responseStream));
    const encodeRequest = requestEncoders.get(descriptor.path);
    countStarted(counts);
    let ended = false;
    const end = (code: number) => {
      if (ended) return;
      ended = true;
      countHandled(counts, code);
    };
    return new ServerInterceptingCall(next, {
      start: (startNext) => startNext({
        onReceiveMessage: (message, messageNext) => {
          countReceived(counts);
          if (encodeRequest !== undefined) countReceivedBytes(counts, encodeRequest(message).length);
          messageNext(message);
        },
        onCancel: () => end(status.CANCELLED),
      }),
      sendMessage: (message, messageNext) => {
        countSent(counts);
        countSentBytes(counts, (descriptor.responseSerialize(message) as Buffer).length);
        messageNext(message);
      },
      sendStatus: (sent, statusNext) => {
        end(sent.code ?? status.UNKNOWN);
        statusNext(sent);
      },
    });
  };
}
