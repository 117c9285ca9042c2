// The grpc.health.v1.Health service. Only the whole-server name "" is known, as in etcd; its status
// follows server.isServing(). Watch re-reads the status every healthWatchPollMs and sends changes.
import { status, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import { wireObject, wireString } from './translate/common.js';
import { failStream, malformedError, unary } from './calls.js';
import { MalformedRequest } from './definitions.js';
import { GrpcStatusError, toGrpcError } from './errors.js';

export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;
export const healthWatchPollMs = 1000;

function serviceName(request: unknown): string {
  return wireString(wireObject(request, 'HealthCheckRequest').service, 'service');
}

function currentStatus(server: EtcdServerApi, service: string): number {
  if (service !== '') return ServingStatus.SERVICE_UNKNOWN;
  return server.isServing() ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
}

export function healthService(server: EtcdServerApi, logger: Logger): UntypedServiceImplementation {
  return {
    Check: unary(logger, 'Check', async (request) => {
      const servingStatus = currentStatus(server, serviceName(request));
      if (servingStatus === ServingStatus.SERVICE_UNKNOWN) throw new GrpcStatusError(status.NOT_FOUND, 'unknown service');
      return { status: servingStatus };
    }),
    Watch: (call: ServerWritableStream<unknown, unknown>) => {
      if (call.request instanceof MalformedRequest) { failStream(call, malformedError(call.request)); return; }
      let service: string;
      try {
        service = serviceName(call.request);
      } catch (error) {
        failStream(call, toGrpcError(error, logger, 'Watch'));
        return;
      }
      let lastSent = -1;
      const sendIfChanged = (): void => {
        const servingStatus = currentStatus(server, service);
        if (servingStatus === lastSent) return;
        lastSent = servingStatus;
        call.write({ status: servingStatus });
      };
      sendIfChanged();
      const timer = setInterval(sendIfChanged, healthWatchPollMs);
      const stop = (): void => clearInterval(timer);
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },
  };
}
