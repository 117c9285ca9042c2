// grpc-js clients for the Lock and Election services (plus KV and Lease for setup), built from our
// protos, as a Go client would call them. Shared by the unit and integration tests.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoFiles, protosDir } from '../../../src/api/grpc/definitions.js';

type ClientConstructor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;
export type RawClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export interface Clients {
  lock: RawClient;
  election: RawClient;
  kv: RawClient;
  lease: RawClient;
  close(): void;
}

export function lockElectionClients(address: string): Clients {
  const definition = protoLoader.loadSync(protoFiles, { keepCase: true, longs: String, defaults: true, arrays: true, includeDirs: [protosDir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    etcdserverpb: Record<string, ClientConstructor>;
    v3lockpb: Record<string, ClientConstructor>;
    v3electionpb: Record<string, ClientConstructor>;
  };
  const credentials = grpc.credentials.createInsecure();
  const make = (ctor: ClientConstructor): RawClient => new ctor(address, credentials) as RawClient;
  const clients = {
    lock: make(loaded.v3lockpb.Lock!),
    election: make(loaded.v3electionpb.Election!),
    kv: make(loaded.etcdserverpb.KV!),
    lease: make(loaded.etcdserverpb.Lease!),
  };
  return { ...clients, close: () => { for (const client of Object.values(clients)) client.close(); } };
}

export interface UnaryOutcome {
  response?: Record<string, any>;
  error?: grpc.ServiceError;
}

export interface UnaryCall {
  done: Promise<UnaryOutcome>;
  cancel(): void;
}

export function startUnary(client: RawClient, method: string, request: unknown, deadlineMs?: number): UnaryCall {
  let call: grpc.ClientUnaryCall | undefined;
  const done = new Promise<UnaryOutcome>((resolve) => {
    const options: grpc.CallOptions = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    call = client[method]!.call(client, request, new grpc.Metadata(), options,
      (error: grpc.ServiceError | null, response: Record<string, any>) => resolve(error ? { error } : { response })) as grpc.ClientUnaryCall;
  });
  return { done, cancel: () => call?.cancel() };
}

export function unary(client: RawClient, method: string, request: unknown, deadlineMs?: number): Promise<UnaryOutcome> {
  return startUnary(client, method, request, deadlineMs).done;
}

export async function grantLeaseOver(clients: Clients, ttlSeconds: number): Promise<string> {
  const { response, error } = await unary(clients.lease, 'LeaseGrant', { TTL: ttlSeconds });
  if (error) throw error;
  return String(response!.ID);
}

export async function keysOver(clients: Clients, prefix: string): Promise<Array<{ key: string; create_revision: number; lease: string }>> {
  const key = Buffer.from(prefix);
  const end = Buffer.from(key);
  end[end.length - 1]! += 1;
  const { response, error } = await unary(clients.kv, 'Range', { key, range_end: end });
  if (error) throw error;
  return (response!.kvs as Array<Record<string, any>>).map((kv) => ({
    key: (kv.key as Buffer).toString(), create_revision: Number(kv.create_revision), lease: String(kv.lease),
  }));
}
