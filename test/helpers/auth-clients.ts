// Owns the token-carrying clients that auth tests use against a running member: raw grpc-js stubs
// for etcdserverpb.Auth and KV built from our own protos (the token in the `token` metadata, as
// clientv3 sends it), and the JSON gateway (`/v3/auth/authenticate`, `/v3/kv/*` with the token in
// the Authorization header). Every call answers a plain result or the server's error as data, so a
// test can assert on refusals as exactly as on successes.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoFiles, protosDir } from '../../src/api/grpc/definitions.js';

/** A hung member must fail the call, not the whole test timeout. */
const callDeadlineMs = 5000;

type Callback = (error: grpc.ServiceError | null, response: Record<string, unknown>) => void;
type UnaryMethod = (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => void;
type Stub = grpc.Client & Record<string, UnaryMethod>;
type StubConstructor = new (address: string, credentials: grpc.ChannelCredentials) => Stub;

let constructors: { kv: StubConstructor; auth: StubConstructor } | undefined;

function stubConstructors(): { kv: StubConstructor; auth: StubConstructor } {
  if (constructors) return constructors;
  const definition = protoLoader.loadSync(protoFiles, { keepCase: true, longs: String, defaults: false, includeDirs: [protosDir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: { KV: StubConstructor; Auth: StubConstructor } };
  constructors = { kv: loaded.etcdserverpb.KV, auth: loaded.etcdserverpb.Auth };
  return constructors;
}

/** What a call came back with: the response, or the gRPC status code and message of the refusal. */
export type CallResult = { ok: true; response: Record<string, unknown> } | { ok: false; code: number; details: string };

/** One member's gRPC KV and Auth over a plain connection (`http://host:port` or `host:port`). */
export class MemberGrpcClient {
  private readonly kv: Stub;
  private readonly auth: Stub;

  constructor(clientUrl: string) {
    const address = clientUrl.replace(/^https?:\/\//, '');
    const { kv, auth } = stubConstructors();
    this.kv = new kv(address, grpc.credentials.createInsecure());
    this.auth = new auth(address, grpc.credentials.createInsecure());
  }

  private call(stub: Stub, method: string, request: unknown, token: string | undefined): Promise<CallResult> {
    const metadata = new grpc.Metadata();
    if (token !== undefined) metadata.set('token', token);
    const unary = stub[method];
    if (unary === undefined) throw new Error(`no gRPC method ${method}`);
    return new Promise((resolve) => {
      unary.call(stub, request, metadata, { deadline: Date.now() + callDeadlineMs }, (error, response) => {
        resolve(error ? { ok: false, code: error.code, details: error.details } : { ok: true, response });
      });
    });
  }

  authenticate(name: string, password: string): Promise<CallResult> {
    return this.call(this.auth, 'Authenticate', { name, password }, undefined);
  }

  range(key: string, token: string | undefined): Promise<CallResult> {
    return this.call(this.kv, 'Range', { key: Buffer.from(key) }, token);
  }

  put(key: string, value: string, token: string | undefined): Promise<CallResult> {
    return this.call(this.kv, 'Put', { key: Buffer.from(key), value: Buffer.from(value) }, token);
  }

  close(): void {
    this.kv.close();
    this.auth.close();
  }
}

/** The values of a gRPC Range response, as strings. */
export function rangeValues(result: CallResult): string[] {
  if (!result.ok) throw new Error(`range refused: ${result.code} ${result.details}`);
  const kvs = (result.response.kvs ?? []) as Array<{ value?: Buffer }>;
  return kvs.map((kv) => (kv.value ?? Buffer.alloc(0)).toString('utf8'));
}

export interface GatewayResult {
  status: number;
  body: Record<string, unknown>;
}

async function gatewayPost(clientUrl: string, path: string, body: unknown, token: string | undefined): Promise<GatewayResult> {
  const response = await fetch(`${clientUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: token }) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(callDeadlineMs),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const base64 = (text: string): string => Buffer.from(text).toString('base64');

export function gatewayAuthenticate(clientUrl: string, name: string, password: string): Promise<GatewayResult> {
  return gatewayPost(clientUrl, '/v3/auth/authenticate', { name, password }, undefined);
}

export function gatewayRange(clientUrl: string, key: string, token: string | undefined): Promise<GatewayResult> {
  return gatewayPost(clientUrl, '/v3/kv/range', { key: base64(key) }, token);
}

export function gatewayPut(clientUrl: string, key: string, value: string, token: string | undefined): Promise<GatewayResult> {
  return gatewayPost(clientUrl, '/v3/kv/put', { key: base64(key), value: base64(value) }, token);
}

/** The values of a gateway range answer, decoded from base64. */
export function gatewayValues(result: GatewayResult): string[] {
  if (result.status !== 200) throw new Error(`gateway range refused: ${result.status} ${JSON.stringify(result.body)}`);
  const kvs = (result.body.kvs ?? []) as Array<{ value?: string }>;
  return kvs.map((kv) => Buffer.from(kv.value ?? '', 'base64').toString('utf8'));
}
