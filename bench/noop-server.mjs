// The transport ceiling: a gRPC server on etcd-ts's own transport (our HTTP/2 connection, api/h2,
// with the lean path of api/grpc/lean-path.js, and the same service definitions and codecs from
// dist/api/grpc/definitions.js) whose KV.Put and KV.Range answer a constant with no storage, no
// Raft and no validation. Whatever it reaches under etcd's benchmark tool is what the transport
// alone allows; etcd-ts is reported as a fraction of it.
// Usage: node bench/noop-server.mjs <port> [etcd-ts root]   (binds 127.0.0.1 only; prints
// "listening <port>"; the root, default this checkout, is where the measured dist/ is)
import net from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Server } from '@grpc/grpc-js';
import pino from 'pino';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`usage: node bench/noop-server.mjs <port>; got ${process.argv[2]}`);
  process.exit(2);
}

const etcdTsRoot = resolve(process.argv[3] ?? new URL('..', import.meta.url).pathname);
const distModule = (...parts) => import(pathToFileURL(join(etcdTsRoot, 'dist', ...parts)).href);
const { loadServiceDefinitions } = await distModule('api', 'grpc', 'definitions.js');
const { unary, unaryWith } = await distModule('api', 'grpc', 'calls.js');
const { addServiceWithFastPath, createGrpcConnectionHandler, enableLeanPath } = await distModule('api', 'grpc', 'lean-path.js');
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

const logger = pino({ level: 'silent' });
const grpcServer = new Server({ 'grpc.max_receive_message_length': 2 * 1024 * 1024 });
enableLeanPath(grpcServer, { maxReceiveMessageBytes: 2 * 1024 * 1024, logger });
// Encoded once: the serializers pass a Buffer through, as etcd-ts's hand-encoded answers go.
const kv = definitions['etcdserverpb.KV'];
const putBytes = kv.Put.responseSerialize(putResponse);
const rangeBytes = kv.Range.responseSerialize(rangeResponse);
// The handler form etcd-ts's Put uses: a callback where the transport has it (unaryWith), so the
// ceiling is the transport's best; a promise on older checkouts measured with --worktree.
addServiceWithFastPath(grpcServer, kv, {
  Put: unaryWith ? unaryWith(logger, 'Put', (_request, _context, done) => done(undefined, putBytes)) : unary(logger, 'Put', () => Promise.resolve(putBytes)),
  Range: unary(logger, 'Range', () => Promise.resolve(rangeBytes)),
});
const connections = createGrpcConnectionHandler(grpcServer, { logger });
const listener = net.createServer({ noDelay: true }, (socket) => connections.serve(socket, Buffer.alloc(0)));
listener.on('error', (error) => {
  console.error(`listen failed: ${error.message}`);
  process.exit(1);
});
listener.listen(port, '127.0.0.1', () => console.log(`listening ${listener.address().port}`));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    listener.close();
    void connections.closeAll(200).then(() => process.exit(0));
  });
}
