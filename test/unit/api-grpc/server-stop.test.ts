// Server stop over real gRPC, end to end with an in-process EtcdServer: an open Watch call and a Lock
// call waiting for its turn end at once with "etcdserver: server stopped", instead of hanging until
// the gRPC server is force-shut.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import pino from 'pino';
import { afterEach, expect, it } from 'vitest';
import { bindGrpcServer, createGrpcServer } from '../../../src/api/grpc/index.js';
import { protoFiles, protosDir } from '../../../src/api/grpc/definitions.js';
import { grantLease, startServer } from '../concurrency/fixture.js';

/** Well under the time a hanging call would take to be noticed, well over a stop's own work. */
const endWithinMs = 3000;

const grpcServers: grpc.Server[] = [];
afterEach(() => {
  for (const server of grpcServers.splice(0)) server.forceShutdown();
});

type ClientConstructor = new (address: string, credentials: grpc.ChannelCredentials) => grpc.Client;

function clientsFor(port: number) {
  const definition = protoLoader.loadSync(protoFiles, { keepCase: true, longs: String, defaults: true, arrays: true, includeDirs: [protosDir] });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    etcdserverpb: Record<string, ClientConstructor>;
    v3lockpb: Record<string, ClientConstructor>;
  };
  const address = `127.0.0.1:${port}`;
  const credentials = grpc.credentials.createInsecure();
  return {
    watch: new loaded.etcdserverpb.Watch!(address, credentials) as grpc.Client & Record<string, any>,
    lock: new loaded.v3lockpb.Lock!(address, credentials) as grpc.Client & Record<string, any>,
  };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'pending'>((resolve) => { timer = setTimeout(() => resolve('pending'), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

it('server stop ends an open Watch call and a waiting Lock call with "etcdserver: server stopped"', async () => {
  const server = await startServer();
  const grpcServer = createGrpcServer({ server, maxRequestBytes: 1_572_864, logger: pino({ level: 'silent' }) });
  grpcServers.push(grpcServer);
  const port = await bindGrpcServer(grpcServer, '127.0.0.1', 0);
  const clients = clientsFor(port);

  const watchCall = clients.watch.Watch() as grpc.ClientDuplexStream<unknown, any>;
  const watchResponses: any[] = [];
  watchCall.on('data', (response) => watchResponses.push(response));
  const watchEnded = new Promise<grpc.ServiceError>((resolve) => watchCall.on('error', resolve));
  watchCall.write({ create_request: { key: Buffer.from('w') } });

  const lockName = Buffer.from('stop-lock');
  const holderLease = await grantLease(server);
  const waiterLease = await grantLease(server);
  const held = await new Promise<any>((resolve, reject) => {
    clients.lock.Lock({ name: lockName, lease: holderLease.toString() }, (error: Error | null, response: any) => (error ? reject(error) : resolve(response)));
  });
  expect(held.key.toString()).toContain('stop-lock/');
  const waiterEnded = new Promise<grpc.ServiceError | 'acquired'>((resolve) => {
    clients.lock.Lock({ name: lockName, lease: waiterLease.toString() }, (error: grpc.ServiceError | null) => resolve(error ?? 'acquired'));
  });
  // The watch is open (created) and the waiter is queued behind the holder before the stop.
  const deadline = Date.now() + endWithinMs;
  while (watchResponses.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(watchResponses[0]).toMatchObject({ created: true });
  expect(await within(waiterEnded, 200)).toBe('pending');

  await server.stop();
  const [watchError, waiterError] = await Promise.all([within(watchEnded, endWithinMs), within(waiterEnded, endWithinMs)]);
  expect(watchError).not.toBe('pending');
  expect(waiterError).not.toBe('pending');
  expect([(watchError as grpc.ServiceError).code, (watchError as grpc.ServiceError).details]).toEqual([grpc.status.UNAVAILABLE, 'etcdserver: server stopped']);
  // Lock errors reach clients as UNKNOWN with etcd's text (see concurrencyToGrpcError).
  expect((waiterError as grpc.ServiceError).details).toBe('etcdserver: server stopped');
  clients.watch.close();
  clients.lock.close();
});
