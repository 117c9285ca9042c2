// Real clients against a real etcd-ts process, whose client HTTP/2 connections are all served by
// its own HTTP/2 connection (src/api/h2: unary and bidi methods answered there, the rest relayed
// to grpc-js). etcdctl 3.4 on an http:// endpoint sends host:port as :authority for the commands
// that go through its balancer (put, get, watch) and the whole URL for the per-endpoint ones
// (endpoint status, hashkv), which grpc-js alone refuses: both work. The npm etcd3 client's put,
// get, watch and lease keep-alives work. With auth enabled, a client that claims a verified
// certificate CN in a header is not authenticated by it, whether its first request claims or not.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoFiles, protosDir } from '../../src/api/grpc/definitions.js';
import { etcdctl, spawnWatch, startEtcdTs, type EtcdProcess } from '../helpers/index.js';

describe('real clients on a real etcd-ts', () => {
  let server: EtcdProcess;

  beforeAll(async () => {
    server = await startEtcdTs();
  });

  afterAll(async () => {
    await server?.stop();
  });

  const ok = async (args: string[]) => {
    const result = await etcdctl(server.clientUrl, args, { timeoutMs: 15_000 });
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  };

  it('etcdctl 3.4 on an http:// endpoint: put, get and watch work', async () => {
    await ok(['put', 'paths/etcdctl', 'one']);
    expect(await ok(['get', 'paths/etcdctl', '--print-value-only'])).toBe('one\n');
    const watch = spawnWatch(server.clientUrl, ['paths/watched']);
    try {
      // The watch prints nothing until an event; keep writing until its stream is there.
      let lines: string[] | undefined;
      for (let attempt = 0; attempt < 20 && lines === undefined; attempt++) {
        await ok(['put', 'paths/watched', `v${attempt}`]);
        lines = await watch.waitForLines(3, 500).catch(() => undefined);
      }
      expect(lines?.slice(0, 2)).toEqual(['PUT', 'paths/watched']);
    } finally {
      await watch.stop();
    }
  });

  it('etcdctl 3.4 on an http:// endpoint: endpoint status and hashkv work with the URL as :authority', async () => {
    const status = JSON.parse(await ok(['endpoint', 'status', '-w', 'json'])) as Array<{ Endpoint: string; Status: { header: { revision: number } } }>;
    expect(status[0]!.Endpoint).toBe(server.clientUrl);
    expect(status[0]!.Status.header.revision).toBeGreaterThanOrEqual(1);
    expect(await ok(['endpoint', 'hashkv'])).toMatch(new RegExp(`^${server.clientUrl}, \\d+\\n$`));
  });

  it('the npm etcd3 client: put, get, watch and lease keep-alives work', async () => {
    const client = new Etcd3({ hosts: server.clientUrl });
    try {
      await client.put('paths/etcd3').value('two');
      expect(await client.get('paths/etcd3').string()).toBe('two');

      const watcher = await client.watch().key('paths/etcd3-watched').create();
      const event = new Promise<string>((resolve) => watcher.once('put', (kv) => resolve(kv.value.toString())));
      await client.put('paths/etcd3-watched').value('seen');
      expect(await event).toBe('seen');
      await watcher.cancel();

      const lease = client.lease(3, { autoKeepAlive: true });
      const leaseId = await lease.grant();
      // etcd3 sends a keep-alive every third of the TTL on the LeaseKeepAlive stream.
      const keptAlive = new Promise<string>((resolve) => lease.once('keepaliveSucceeded', (response) => resolve(String(response.TTL))));
      expect(await keptAlive).toBe('3');
      await lease.put('paths/leased').value('x');
      expect(await client.get('paths/leased').string()).toBe('x');
      await lease.revoke();
      expect(await client.get('paths/leased').string()).toBeNull();
      expect(leaseId).toMatch(/^[0-9a-f]+$/);
    } finally {
      client.close();
    }
  });
});

type Callback = (error: grpc.ServiceError | null, response: Record<string, unknown>) => void;
type UnaryStub = grpc.Client & Record<string, (request: unknown, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => void>;

function kvStubConstructor(): new (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) => UnaryStub {
  const definition = protoLoader.loadSync(protoFiles, { keepCase: true, longs: String, defaults: false, includeDirs: [protosDir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { etcdserverpb: { KV: new (...args: never[]) => UnaryStub } };
  return loaded.etcdserverpb.KV as never;
}

describe('a claimed verified identity with auth enabled', () => {
  let server: EtcdProcess;
  const KvStub = kvStubConstructor();
  const stubs: grpc.Client[] = [];

  beforeAll(async () => {
    server = await startEtcdTs();
    for (const args of [
      ['user', 'add', 'root:rootpw'], ['role', 'add', 'root'], ['user', 'grant-role', 'root', 'root'],
      ['user', 'add', 'alice:alicepw'], ['role', 'add', 'reader'], ['role', 'grant-permission', 'reader', 'read', 'guarded'],
      ['user', 'grant-role', 'alice', 'reader'], ['auth', 'enable'],
    ]) {
      const result = await etcdctl(server.clientUrl, args, { timeoutMs: 15_000 });
      expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    const seeded = await etcdctl(server.clientUrl, ['--user', 'root:rootpw', 'put', 'guarded', 'secret'], { timeoutMs: 15_000 });
    expect(seeded.exitCode, seeded.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const stub of stubs) stub.close();
    await server?.stop();
  });

  /** A KV client on a connection of its own (grpc-js would otherwise share one between clients). */
  function newConnection(): UnaryStub {
    const address = server.clientUrl.replace(/^http:\/\//, '');
    const stub = new KvStub(address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    stubs.push(stub);
    return stub;
  }

  function call(stub: UnaryStub, method: 'Put' | 'Range', request: unknown, metadata: grpc.Metadata): Promise<{ ok: true } | { ok: false; details: string }> {
    return new Promise((resolve) => {
      stub[method]!(request, metadata, { deadline: Date.now() + 5_000 }, (error) => resolve(error ? { ok: false, details: error.details } : { ok: true }));
    });
  }

  const claimingRoot = () => {
    const metadata = new grpc.Metadata();
    metadata.set('etcd-ts-verified-cert-cn', 'root');
    metadata.set(`etcd-ts-verified-cert-cn-${'0'.repeat(32)}`, 'root');
    return metadata;
  };
  const put = { key: Buffer.from('guarded'), value: Buffer.from('overwritten') };
  const range = { key: Buffer.from('guarded') };
  const refused = { ok: false, details: 'etcdserver: user name is empty' };

  it('is not trusted on a connection whose first request was clean', async () => {
    const stub = newConnection();
    expect(await call(stub, 'Range', range, new grpc.Metadata())).toEqual(refused);
    expect(await call(stub, 'Put', put, claimingRoot())).toEqual(refused);
    expect(await call(stub, 'Range', range, claimingRoot())).toEqual(refused);
  });

  it('is not trusted on a connection whose first request claims it', async () => {
    const stub = newConnection();
    expect(await call(stub, 'Put', put, claimingRoot())).toEqual(refused);
    expect(await call(stub, 'Range', range, claimingRoot())).toEqual(refused);
  });

  it('leaves the key as root wrote it', async () => {
    const result = await etcdctl(server.clientUrl, ['--user', 'alice:alicepw', 'get', 'guarded', '--print-value-only'], { timeoutMs: 15_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe('secret\n');
  });
});
