// The v3electionpb.Election service. Campaign waits for leadership and Observe streams leader
// changes until the client goes away; both stop (and Campaign withdraws) when the call is
// cancelled. Observe writes at the client's pace: it waits for the transport to drain before
// taking the next change, so a slow observer holds back its own watch, never the server.
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ServerElections } from '../../concurrency/index.js';
import type { EtcdServerApi } from '../../server/server-api.js';
import { drainedOrClosed, failStream, malformedError } from './calls.js';
import { contextFromMetadata } from './context.js';
import { MalformedRequest } from './definitions.js';
import { cancellableUnary, concurrencyToGrpcError } from './lock.js';
import {
  campaignRequestFromWire, campaignResponseToWire, headerOnlyResponseToWire, leaderRequestFromWire,
  leaderResponseToWire, proclaimRequestFromWire, resignRequestFromWire,
} from './translate/election.js';

function observe(elections: ServerElections, logger: Logger) {
  return (call: ServerWritableStream<unknown, unknown>): void => {
    const request = call.request;
    if (request instanceof MalformedRequest) {
      failStream(call, malformedError(request));
      return;
    }
    const abort = new AbortController();
    call.once('cancelled', () => abort.abort());
    const context = contextFromMetadata(call.metadata);
    void (async () => {
      try {
        const { name } = leaderRequestFromWire(request);
        for await (const observation of elections.observe(name, abort.signal, context)) {
          if (!call.write(leaderResponseToWire(observation))) await drainedOrClosed(call);
          if (abort.signal.aborted) return;
        }
        call.end();
      } catch (error) {
        if (abort.signal.aborted) return; // the client is gone: nobody to tell
        failStream(call, concurrencyToGrpcError(error, logger, 'Observe'));
      }
    })();
  };
}

export function electionService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  const elections = new ServerElections(server);
  return {
    Campaign: cancellableUnary(logger, 'Campaign', async (request, context, signal) => {
      const { name, lease, value } = campaignRequestFromWire(request);
      return campaignResponseToWire(await elections.campaign(name, lease, value, signal, context));
    }),
    Proclaim: cancellableUnary(logger, 'Proclaim', async (request, context) => {
      const { leader, value } = proclaimRequestFromWire(request);
      return headerOnlyResponseToWire(await elections.proclaim(leader, value, context));
    }),
    Leader: cancellableUnary(logger, 'Leader', async (request, context) => {
      const { name } = leaderRequestFromWire(request);
      return leaderResponseToWire(await elections.leader(name, context));
    }),
    Observe: observe(elections, logger),
    Resign: cancellableUnary(logger, 'Resign', async (request, context) => {
      const { leader } = resignRequestFromWire(request);
      return headerOnlyResponseToWire(await elections.resign(leader, context));
    }),
  };
}
