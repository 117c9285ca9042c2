// Which path each client connection takes into the gRPC server of a real etcd-ts process, read from
// etcd_ts_client_connections_total on /metrics. etcdctl 3.4 on an http:// endpoint sends host:port
// as :authority for the commands that go through its balancer (put, get, watch: native) and the
// whole URL for the per-endpoint ones (endpoint status, hashkv: rewritten); the npm etcd3 client
// sends host:port and is served natively (put, get, watch and lease keep-alives all work there).
// With auth enabled, a client that claims a
// verified certificate CN in a header, on a native connection or as its first request, is not
// authenticated by it.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { protoFiles, protosDir } from '../../src/api/grpc/definitions.js';
import { etcdctl, spawnWatch, startEtcdTs, type EtcdProcess } from '../helpers/index.js';

interface PathCounts {
  native: number;
  rewritten: number;
}

async function pathCounts(clientUrl: string): Promise<PathCounts> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const count = (path: string) => Number(new RegExp(`^etcd_ts_client_connections_total\\{path="${path}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { native: count('native'), rewritten: count('rewritten') };
}

function delta(after: PathCounts, before: PathCounts): PathCounts {
  return { native: after.native - before.native, rewritten: after.rewritten - before.rewritten };
}

describe('client connection paths on a real etcd-ts', () => {
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

  it('etcdctl 3.4 on an http:// endpoint: put, get and watch work on native connections', async () => {
    const before = await pathCounts(server.clientUrl);
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
    const counted = delta(await pathCounts(server.clientUrl), before);
    expect(counted.rewritten).toBe(0);
    // put, get, the watch and at least one more put: one connection each.
    expect(counted.native).toBeGreaterThanOrEqual(4);
  });

  it('etcdctl 3.4 on an http:// endpoint: endpoint status and hashkv work on rewritten connections', async () => {
    const before = await pathCounts(server.clientUrl);
    const status = JSON.parse(await ok(['endpoint', 'status', '-w', 'json'])) as Array<{ Endpoint: string; Status: { header: { revision: number } } }>;
    expect(status[0]!.Endpoint).toBe(server.clientUrl);
    expect(status[0]!.Status.header.revision).toBeGreaterThanOrEqual(1);
    expect(await ok(['endpoint', 'hashkv'])).toMatch(new RegExp(`^${server.clientUrl}, \\d+\\n$`));
    const counted = delta(await pathCounts(server.clientUrl), before);
    // One per-endpoint client per command, and nothing through the balancer.
    expect(counted).toEqual({ native: 0, rewritten: 2 });
  });

  it('the npm etcd3 client: put, get, watch and lease keep-alives work on a native connection', async () => {
    const before = await pathCounts(server.clientUrl);
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
    const counted = delta(await pathCounts(server.clientUrl), before);
    expect(counted.rewritten).toBe(0);
    expect(counted.native).toBeGreaterThanOrEqual(1);
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

  it('is not trusted on a native connection after a clean first request', async () => {
    const before = await pathCounts(server.clientUrl);
    const stub = newConnection();
    expect(await call(stub, 'Range', range, new grpc.Metadata())).toEqual(refused);
    expect(await call(stub, 'Put', put, claimingRoot())).toEqual(refused);
    expect(await call(stub, 'Range', range, claimingRoot())).toEqual(refused);
    expect(delta(await pathCounts(server.clientUrl), before)).toEqual({ native: 1, rewritten: 0 });
  });

  it('is stripped when the first request claims it (that connection is rewritten)', async () => {
    const before = await pathCounts(server.clientUrl);
    const stub = newConnection();
    expect(await call(stub, 'Put', put, claimingRoot())).toEqual(refused);
    expect(await call(stub, 'Range', range, claimingRoot())).toEqual(refused);
    expect(delta(await pathCounts(server.clientUrl), before)).toEqual({ native: 0, rewritten: 1 });
  });

  it('leaves the key as root wrote it', async () => {
    const result = await etcdctl(server.clientUrl, ['--user', 'alice:alicepw', 'get', 'guarded', '--print-value-only'], { timeoutMs: 15_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toBe('secret\n');
  });
});
