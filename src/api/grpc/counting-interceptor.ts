// Counts, for /metrics, the calls grpc-js serves itself: those our HTTP/2 path relays to it (server
// streams such as Snapshot, Election's Observe and the health service's Watch). The calls our path
// answers are counted there; none reaches both.
import { ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';
import { countHandled, countReceived, countSent, countStarted, methodType, type GrpcHandledCounts } from './handled-counts.js';

/** A call ends once: with the status grpc-js sends or, when the client goes first, as Canceled. */
export function countingInterceptor(calls: GrpcHandledCounts): ServerInterceptor {
  return (descriptor, next) => {
    const counts = calls.method(descriptor.path, methodType(descriptor.requestStream, descriptor.responseStream));
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
          messageNext(message);
        },
        onCancel: () => end(status.CANCELLED),
      }),
      sendMessage: (message, messageNext) => {
        countSent(counts);
        messageNext(message);
      },
      sendStatus: (sent, statusNext) => {
        end(sent.code ?? status.UNKNOWN);
        statusNext(sent);
      },
    });
  };
}
