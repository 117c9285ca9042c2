// Owns the joining side of etcd 3.6's v3 discovery (`--discovery-endpoints` + `--discovery-token`),
// over gRPC with our own protos: size at /_etcd/registry/<token>/_config/size, members under
// /_etcd/registry/<token>/members/<id hex>; the first `size` by create revision form the cluster.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { DiscoveryError, membersFromValues } from './errors.js';

export interface V3DiscoveryOptions {
  endpoints: readonly string[];
  token: string;
  memberId: bigint;
  selfValue: string;
  requestTimeoutMs?: number;
  /** Ends the wait for the other members. */
  signal?: AbortSignal;
}

interface Kv { key: Buffer; value: Buffer; create_revision: string }
type Unary = (request: unknown, options: { deadline: Date }, callback: (error: grpc.ServiceError | null, response: any) => void) => void;

const protosDir = fileURLToPath(new URL('../../protos/', import.meta.url));

function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function target(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '');
}

export async function joinClusterV3(options: V3DiscoveryOptions): Promise<Array<{ name: string; peerUrls: string[] }>> {
  // enums: String so an event's type reads 'PUT' (numbers by default, where PUT is 0).
  const definition = protoLoader.loadSync('etcdserverpb/rpc.proto', { keepCase: true, longs: String, enums: String, defaults: true, includeDirs: [protosDir] });
  const proto = grpc.loadPackageDefinition(definition) as any;
  const endpoint = options.endpoints[0];
  if (!endpoint) throw new DiscoveryError('BadDiscoveryEndpoint', 'no --discovery-endpoints');
  const kv = new proto.etcdserverpb.KV(target(endpoint), grpc.credentials.createInsecure());
  const watch = new proto.etcdserverpb.Watch(target(endpoint), grpc.credentials.createInsecure());
  const timeoutMs = options.requestTimeoutMs ?? 5_000;
  const call = (method: Unary, request: unknown): Promise<any> =>
    new Promise((resolve, reject) => method.call(kv, request, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => (error ? reject(error) : resolve(response))));
  const registry = `/_etcd/registry/${options.token}`;
  const membersPrefix = Buffer.from(`${registry}/members/`);
  const selfKey = Buffer.from(`${registry}/members/${options.memberId.toString(16)}`);
  try {
    const sizeAnswer = await call(kv.Range, { key: Buffer.from(`${registry}/_config/size`) });
    const sizeKv = (sizeAnswer.kvs as Kv[])[0];
    if (!sizeKv) throw new DiscoveryError('SizeNotFound');
    const size = Number(sizeKv.value.toString());
    if (!Number.isSafeInteger(size) || size <= 0) throw new DiscoveryError('BadSizeKey');

    const check = async (): Promise<{ members: Kv[]; revision: number }> => {
      const answer = await call(kv.Range, { key: membersPrefix, range_end: prefixEnd(membersPrefix), sort_target: 'CREATE', sort_order: 'ASCEND' });
      const members = [...(answer.kvs as Kv[])].sort((a, b) => Number(a.create_revision) - Number(b.create_revision));
      const position = members.findIndex((m) => m.key.equals(selfKey));
      if ((position === -1 && members.length >= size) || position >= size) throw new DiscoveryError('FullCluster');
      return { members, revision: Number(answer.header.revision) };
    };
    await check();
    await call(kv.Put, { key: selfKey, value: Buffer.from(options.selfValue) });
    const { members, revision } = await check();
    const found = members.slice(0, size);
    if (found.length < size) {
      await new Promise<void>((resolve, reject) => {
        const stream = watch.Watch();
        const end = (error?: Error) => {
          stream.cancel();
          if (error) reject(error);
          else resolve();
        };
        options.signal?.addEventListener('abort', () => end(new Error('discovery: waiting for members was aborted')));
        stream.on('data', (response: { events?: Array<{ type: string; kv: Kv }>; canceled?: boolean; cancel_reason?: string }) => {
          if (response.canceled) return end(new Error(`discovery: watch canceled: ${response.cancel_reason ?? ''}`));
          for (const event of response.events ?? []) {
            if (event.type !== 'PUT' || found.some((m) => m.key.equals(event.kv.key))) continue;
            found.push(event.kv);
            if (found.length >= size) return end();
          }
        });
        stream.on('error', (error: Error) => end(error));
        stream.write({ create_request: { key: membersPrefix, range_end: prefixEnd(membersPrefix), start_revision: String(revision + 1) } });
      });
    }
    return membersFromValues(found.slice(0, size).map((m) => m.value.toString()), size);
  } finally {
    kv.close();
    watch.close();
  }
}
