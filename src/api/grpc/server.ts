// Builds the gRPC server: the etcd services (KV, Watch, Lease, Cluster, Maintenance) and the
// standard health service over one EtcdServerApi, with etcd's message-size limits, plus the
// server-side Lock and Election services. Auth is left unregistered until it exists: grpc-js
// answers UNIMPLEMENTED for it.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { EtcdServerApi } from '../../server/server-api.js';
import { clusterService } from './cluster.js';
import { loadServiceDefinitions } from './definitions.js';
import { electionService } from './election.js';
import { healthService } from './health.js';
import { kvService } from './kv.js';
import { leaseService } from './lease.js';
import { lockService } from './lock.js';
import { maintenanceService } from './maintenance.js';
import { watchService } from './watch.js';
import { countingInterceptor } from './counting-interceptor.js';
import type { GrpcHandledCounts } from './handled-counts.js';
import { addServiceWithFastPath, enableLeanPath } from './lean-path.js';
import { DEFAULT_WARNING_UNARY_REQUEST_MS, RequestStatsLog } from './request-stats.js';

/** etcd lets a gRPC message exceed --max-request-bytes by this much (room for the envelope). */
export const receiveMessageSlackBytes = 512 * 1024;

export interface GrpcServerOptions {
  server: EtcdServerApi;
  maxRequestBytes: number;
  logger: Logger;
  /** Where finished calls are counted for /metrics (EtcdMetrics.grpcHandledCounts). */
  handledCounts?: GrpcHandledCounts;
  /** --warning-unary-request-duration: a unary call slower than this is logged (request-stats.ts). */
  warningUnaryRequestMs?: number;
}

/** Every method's request encoder by path, for the byte counts of calls grpc-js serves. */
function requestEncoders(definitions: ReturnType<typeof loadServiceDefinitions>): Map<string, (request: unknown) => Buffer> {
  const encoders = new Map<string, (request: unknown) => Buffer>();
  for (const service of Object.values(definitions)) {
    for (const method of Object.values(service) as Array<{ path: string; requestSerialize: (request: unknown) => Buffer }>) {
      encoders.set(method.path, method.requestSerialize);
    }
  }
  return encoders;
}

export function createGrpcServer(options: GrpcServerOptions): Server {
  if (!Number.isSafeInteger(options.maxRequestBytes) || options.maxRequestBytes <= 0) {
    throw new Error(`maxRequestBytes must be a positive integer, got ${options.maxRequestBytes}`);
  }
  const logger = options.logger.child({ component: 'grpc' });
  const definitions = loadServiceDefinitions();
  const grpcServer = new Server({
    'grpc.max_receive_message_length': options.maxRequestBytes + receiveMessageSlackBytes,
    'grpc.max_send_message_length': -1,
    interceptors: options.handledCounts === undefined ? [] : [countingInterceptor(options.handledCounts, requestEncoders(definitions))],
  });
  enableLeanPath(grpcServer, {
    maxReceiveMessageBytes: options.maxRequestBytes + receiveMessageSlackBytes, logger, handledCounts: options.handledCounts,
    requestStats: new RequestStatsLog(logger, options.warningUnaryRequestMs ?? DEFAULT_WARNING_UNARY_REQUEST_MS),
  });
  const server = options.server;
  addServiceWithFastPath(grpcServer, definitions['etcdserverpb.KV'], kvService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['etcdserverpb.Watch'], watchService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['etcdserverpb.Lease'], leaseService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['etcdserverpb.Cluster'], clusterService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['etcdserverpb.Maintenance'], maintenanceService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['v3lockpb.Lock'], lockService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['v3electionpb.Election'], electionService(server, logger));
  addServiceWithFastPath(grpcServer, definitions['grpc.health.v1.Health'], healthService(server, logger));
  return grpcServer;
}

/** Binds without TLS (TLS listeners come with the client URL work) and returns the bound port. */
export async function bindGrpcServer(grpcServer: Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    grpcServer.bindAsync(address, ServerCredentials.createInsecure(), (error, boundPort) => {
      if (error) reject(error);
      else resolve(boundPort);
    });
  });
}
