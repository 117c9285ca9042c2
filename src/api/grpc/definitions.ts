// Loads our .proto files into grpc-js service definitions. Loader options keep every 64-bit value
// exact (longs as decimal strings), bytes as Buffers and enums as numbers (no name lookups on the hot
// path), field names as in the .proto (the JSON gateway uses the same names), and no defaults
// (the translators treat a missing field as its zero value, which saves building them).
// Every request deserializer is wrapped: a message that fails the wire-type check or protobufjs's
// decode becomes a MalformedRequest value, which the handlers answer with INVALID_ARGUMENT; grpc-js
// would otherwise answer INTERNAL for a throwing deserializer.
// The Watch service, LeaseKeepAlive and Range write their responses already encoded
// (translate/watch-encode.ts, lease-encode.ts, kv-encode.ts): their response serializers pass a
// Buffer through unchanged, on grpc-js's path and on the lean path alike. Put's serializer
// encodes the server's answer itself (kv-encode.ts's PutAnswer) and passes a Buffer through.
// LeaseKeepAlive's requests are decoded by hand too (after the same wire-type check), one int64
// each, and Put's straight into the server's PutRequest, checking wire types as it goes
// (translate/put-decode.ts).
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { encodePutResponse, isPutAnswer } from './translate/kv-encode.js';
import { decodeLeaseKeepAliveRequest } from './translate/lease-encode.js';
import { decodePutRequest } from './translate/put-decode.js';
import { checkWireTypes } from './wire-check.js';

export const protosDir = fileURLToPath(new URL('../../../protos/', import.meta.url));

export const protoFiles = [
  'etcdserverpb/rpc.proto', 'mvccpb/kv.proto', 'authpb/auth.proto', 'v3lockpb/v3lock.proto',
  'v3electionpb/v3election.proto', 'grpc/health/v1/health.proto',
];

export const loaderOptions: protoLoader.Options = {
  keepCase: true,
  longs: String,
  defaults: false,
  arrays: false,
  oneofs: false,
  includeDirs: [protosDir],
};

/** A request that could not be decoded; carried to the handler instead of a thrown error. */
export class MalformedRequest {
  constructor(readonly reason: string) {}
}

export function loadProtobufRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('/') ? target : protosDir + target);
  root.loadSync(protoFiles, { keepCase: true });
  root.resolveAll();
  return root;
}

let sharedRoot: protobuf.Root | undefined;

/** One loaded root for the process's readers of it (service definitions, gateway, request stats): the .proto files are read once. */
export function protobufRoot(): protobuf.Root {
  sharedRoot ??= loadProtobufRoot();
  return sharedRoot;
}

function decodePutRequestOrMalformed(bytes: Buffer): unknown {
  try {
    return decodePutRequest(bytes);
  } catch (error) {
    return new MalformedRequest(error instanceof Error ? error.message : String(error));
  }
}

export type ServiceName =
  | 'etcdserverpb.KV' | 'etcdserverpb.Watch' | 'etcdserverpb.Lease' | 'etcdserverpb.Cluster'
  | 'etcdserverpb.Maintenance' | 'etcdserverpb.Auth' | 'v3lockpb.Lock' | 'v3electionpb.Election'
  | 'grpc.health.v1.Health';

export type ServiceDefinitions = Record<ServiceName, ServiceDefinition>;

let cached: ServiceDefinitions | undefined;

/** The definitions do not depend on the server instance, so one load serves every server. */
export function loadServiceDefinitions(): ServiceDefinitions {
  if (cached) return cached;
  const packageDefinition = protoLoader.loadSync(protoFiles, loaderOptions);
  const root = protobufRoot();
  const services = {} as ServiceDefinitions;
  const names: ServiceName[] = [
    'etcdserverpb.KV', 'etcdserverpb.Watch', 'etcdserverpb.Lease', 'etcdserverpb.Cluster', 'etcdserverpb.Maintenance',
    'etcdserverpb.Auth', 'v3lockpb.Lock', 'v3electionpb.Election', 'grpc.health.v1.Health',
  ];
  for (const name of names) {
    const loaded = packageDefinition[name] as ServiceDefinition | undefined;
    if (!loaded || !('path' in (Object.values(loaded)[0] ?? {}))) throw new Error(`proto service ${name} not found in ${protosDir}`);
    const service = root.lookupService(name);
    const wrapped: Record<string, ServiceDefinition[string]> = {};
    for (const [methodName, method] of Object.entries(loaded)) {
      const requestType = service.methods[methodName]!.resolvedRequestType!;
      const keepAlive = name === 'etcdserverpb.Lease' && methodName === 'LeaseKeepAlive';
      const put = name === 'etcdserverpb.KV' && methodName === 'Put';
      const decode = keepAlive ? decodeLeaseKeepAliveRequest : method.requestDeserialize;
      const serialize = method.responseSerialize;
      wrapped[methodName] = {
        ...method,
        ...(name === 'etcdserverpb.Watch' || keepAlive || (name === 'etcdserverpb.KV' && methodName === 'Range')
          ? { responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) }
          : {}),
        ...(put
          ? {
            responseSerialize: (value: unknown) =>
              (Buffer.isBuffer(value) ? value : isPutAnswer(value) ? encodePutResponse(value.header, value.result) : serialize(value)),
          }
          : {}),
        requestDeserialize: put ? decodePutRequestOrMalformed : (bytes: Buffer) => {
          try {
            checkWireTypes(requestType, bytes);
            return decode(bytes);
          } catch (error) {
            return new MalformedRequest(error instanceof Error ? error.message : String(error));
          }
        },
      };
    }
    services[name] = wrapped as ServiceDefinition;
  }
  cached = services;
  return services;
}
