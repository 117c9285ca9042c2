// The transport ceiling: a gRPC server built exactly like etcd-ts's (grpc-js, the same service
// definitions and codecs from dist/api/grpc/definitions.js) whose KV.Put and KV.Range answer a
// constant with no storage, no Raft and no validation. Whatever it reaches under etcd's benchmark
// tool is what the transport alone allows; etcd-ts is reported as a fraction of it.
// Usage: node bench/noop-server.mjs <port> [etcd-ts root]   (binds 127.0.0.1 only; prints
// "listening <port>"; the root, default this checkout, is where the measured dist/ is)
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Server, ServerCredentials } from '@grpc/grpc-js';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node bench/noop-server.mjs <port>; got ${process.argv[2]}`);
  process.exit(2);
}

const etcdTsRoot = resolve(process.argv[3] ?? new URL('..', import.meta.url).pathname);
const { loadServiceDefinitions } = await import(pathToFileURL(join(etcdTsRoot, 'dist', 'api', 'grpc', 'definitions.js')).href);
const definitions = loadServiceDefinitions();

// Header values as etcd-ts sends them (loader option longs: String); a fixed revision because
// nothing is stored.
const header = { cluster_id: '1', member_id: '1', revision: '2', raft_term: '2' };
const putResponse = { header };
// A range of the benchmark's single key: one kv with a 256-byte value, like the real servers hold.
const rangeResponse = {
  header,
  kvs: [{ key: Buffer.from('foo'), create_revision: '2', mod_revision: '2', version: '1', value: Buffer.alloc(256, 0x61) }],
  count: '1',
};

const grpcServer = new Server({ 'grpc.max_receive_message_length': 2 * 1024 * 1024 });
grpcServer.addService(definitions['etcdserverpb.KV'], {
  Put: (_call, callback) => callback(null, putResponse),
  Range: (_call, callback) => callback(null, rangeResponse),
});

grpcServer.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, boundPort) => {
  if (error) {
    console.error(`bind failed: ${error.message}`);
    process.exit(1);
  }
  console.log(`listening ${boundPort}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => grpcServer.tryShutdown(() => process.exit(0)));
}
