// The client listener on an https URL: gRPC and HTTP/1 share the TLS port, the verified client
// certificate's CN reaches gRPC metadata (and so RequestContext.certCommonName), a CN claimed in a
// header by the client never does, and plain text gets Go's answer.
import https from 'node:https';
import net from 'node:net';
import http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterEach, describe, expect, test } from 'vitest';
import { contextFromMetadata } from '../../../src/api/grpc/context.js';
import { ClientListeners, http1HandlerFor, plainRequestToTlsPortAnswer } from '../../../src/api/listener/client-listener.js';
import { verifiedCommonNameHeader, verifiedIdentityHeaderPrefix } from '../../../src/api/listener/verified-identity.js';
import { loadEndpointTls, tlsProtocolOptions } from '../../../src/tls/index.js';
import { makeTempDir } from '../../helpers/process-registry.js';
import { makeTestPki, read } from './tls-helpers.js';

const logger = pino({ level: 'silent' });
const pki = makeTestPki();
const identity = (value: Buffer) => value;
const definition = {
  whoAmI: {
    path: '/test.Who/WhoAmI', requestStream: false, responseStream: false,
    requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity,
  },
} satisfies grpc.ServiceDefinition;
const WhoClient = grpc.makeGenericClientConstructor(definition, 'Who');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startListener(clientCertAuth: boolean): Promise<number> {
  const grpcServer = new grpc.Server();
  grpcServer.addService(definition, {
    whoAmI: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      callback(null, Buffer.from(contextFromMetadata(call.metadata).certCommonName ?? '<none>'));
    },
  });
  cleanups.push(() => grpcServer.forceShutdown());
  const httpServer = http.createServer((request, response) => response.end(`http1 over ${(request.socket as { encrypted?: boolean }).encrypted ? 'tls' : 'plain'}`));
  const listeners = new ClientListeners({ grpcServer, logger, http1Handler: http1HandlerFor(httpServer) });
  cleanups.push(() => listeners.close());
  const loaded = loadEndpointTls({
    role: 'client',
    endpoint: {
      certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, clientCertFile: '', clientKeyFile: '', clientCertAuth,
      trustedCaFile: pki.caFile, autoTls: false, crlFile: '', allowedHostnames: [], allowedCns: [],
    },
    protocol: tlsProtocolOptions([], 'TLS1.2', ''), autoTlsDir: makeTempDir('unused'), autoTlsHosts: [], selfSignedCertValidityYears: 1,
    skipClientSanVerification: false, httpsUrl: 'https://127.0.0.1/', logger,
  });
  const { port } = await listeners.listen('127.0.0.1', 0, { tls: loaded.server });
  return port;
}

function whoAmI(port: number, withClientCert: boolean, metadata = new grpc.Metadata()): Promise<string> {
  const credentials = withClientCert
    ? grpc.credentials.createSsl(Buffer.from(read(pki.caFile)), Buffer.from(read(pki.clientKeyFile)), Buffer.from(read(pki.clientCertFile)))
    : grpc.credentials.createSsl(Buffer.from(read(pki.caFile)));
  const client = new WhoClient(`127.0.0.1:${port}`, credentials);
  cleanups.push(() => client.close());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(definition.whoAmI.path, identity, identity, Buffer.alloc(0), metadata, { deadline: Date.now() + 5000 },
      (error: grpc.ServiceError | null, value?: Buffer) => (error ? reject(error) : resolve(value!.toString())));
  });
}

describe('client listener over TLS', () => {
  test('the verified CN reaches the gRPC context; a claimed one is dropped', async () => {
    const port = await startListener(true);
    const spoof = new grpc.Metadata();
    spoof.set(verifiedCommonNameHeader, 'admin');
    spoof.set(verifiedIdentityHeaderPrefix, 'admin');
    expect(await whoAmI(port, true, spoof)).toBe('root');
    expect(await whoAmI(port, true)).toBe('root');
  });

  test('without client-cert-auth there is no CN, and a claimed one is still dropped', async () => {
    const port = await startListener(false);
    const spoof = new grpc.Metadata();
    spoof.set(verifiedCommonNameHeader, 'root');
    spoof.set(verifiedIdentityHeaderPrefix, 'root');
    expect(await whoAmI(port, false, spoof)).toBe('<none>');
    expect(await whoAmI(port, false)).toBe('<none>');
  });

  test('HTTP/1 shares the TLS port; plain text gets Go\'s 400 answer', async () => {
    const port = await startListener(false);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, path: '/health', ca: read(pki.caFile) }, (response) => {
        let text = '';
        response.on('data', (chunk) => { text += chunk; });
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('http1 over tls');
    const answer = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => { text += chunk; });
      socket.on('close', () => resolve(text));
    });
    expect(answer).toBe(plainRequestToTlsPortAnswer);
  });
});
