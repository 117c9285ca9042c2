// --host-whitelist and --cors: the rules (AccessControl), the metrics listener that has neither, and
// the real server (bin/etcd-ts, or etcd 3.4 with COMPAT_SELF_CHECK=1) started with both flags and
// asked with raw HTTP requests as a browser or a DNS-rebinding page would send them.
import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessControl, dnsRebindingRefusal, hostnameOf } from '../../../src/api/http/access-control.js';
import { createMetricsHttpApp } from '../../../src/api/http/index.js';
import { etcdctl, selfCheck, startServerUnderTest, type EtcdProcess } from '../../helpers/index.js';
import { ScriptedServer } from '../api-grpc/harness.js';

const fakeRequest = (host: string | undefined, encrypted = false) =>
  ({ headers: host === undefined ? {} : { host }, socket: { encrypted } }) as unknown as IncomingMessage;

describe('AccessControl', () => {
  it("takes the host from Host as Go's SplitHostPort does", () => {
    expect(hostnameOf('example.com:2379')).toBe('example.com');
    expect(hostnameOf('[::1]:2379')).toBe('::1');
    expect(hostnameOf('example.com')).toBe('example.com');
    expect(hostnameOf('[::1]')).toBe('[::1]');
    expect(hostnameOf('::1')).toBe('::1');
    expect(hostnameOf('')).toBe('');
  });

  it('refuses an unlisted host over plain HTTP only; an empty list or "*" allows any', () => {
    const access = new AccessControl(['*'], ['example.com', '127.0.0.1']);
    expect(access.refusedHost(fakeRequest('127.0.0.1:2379'))).toBeUndefined();
    expect(access.refusedHost(fakeRequest('example.com'))).toBeUndefined();
    expect(access.refusedHost(fakeRequest('evil.com:2379'))).toBe('evil.com');
    expect(access.refusedHost(fakeRequest(undefined))).toBe('');
    expect(access.refusedHost(fakeRequest('evil.com:2379', true))).toBeUndefined();
    expect(new AccessControl(['*'], []).refusedHost(fakeRequest('evil.com'))).toBeUndefined();
    expect(new AccessControl(['*'], ['a', '*']).refusedHost(fakeRequest('evil.com'))).toBeUndefined();
  });

  it('gives CORS headers for "*" when every origin is allowed, else for a listed origin only', () => {
    const anyOrigin = new AccessControl(['*'], ['*']).corsHeaders('http://b.example');
    expect(anyOrigin).toEqual({
      'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Headers': 'accept, content-type, authorization',
    });
    expect(new AccessControl([], ['*']).corsHeaders(undefined)['Access-Control-Allow-Origin']).toBe('*');
    const listed = new AccessControl(['http://a.example:8080'], ['*']);
    expect(listed.corsHeaders('http://a.example:8080')['Access-Control-Allow-Origin']).toBe('http://a.example:8080');
    expect(listed.corsHeaders('http://b.example')).toEqual({});
    expect(listed.corsHeaders(undefined)).toEqual({});
  });
});

describe('the metrics listener', () => {
  it('answers without CORS headers and whatever the Host, as etcd serves its metrics mux', async () => {
    const app = createMetricsHttpApp({
      server: new ScriptedServer(), maxRequestBytes: 1024, logger: pino({ level: 'silent' }), etcdVersion: '3.5.17',
      cors: ['http://a.example:8080'], hostWhitelist: ['example.com'],
    });
    await app.ready();
    try {
      const answer = await app.inject({ method: 'GET', url: '/metrics', headers: { host: 'evil.com', origin: 'http://a.example:8080' } });
      expect(answer.statusCode).toBe(200);
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await app.close();
    }
  });
});

interface RawAnswer { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One request with the headers given (Host too), read to its end or, for a stream, to its headers. */
function rawRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string; headersOnly?: boolean }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: options.method ?? 'GET', headers: options.headers, timeout: 10_000 }, (response) => {
      if (options.headersOnly) {
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: '' });
        request.destroy();
        return;
      }
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => { body += chunk; });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
    });
    request.on('timeout', () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(options.body);
  });
}

describe(`--host-whitelist and --cors on the client port (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  let server: EtcdProcess;

  beforeAll(async () => {
    server = await startServerUnderTest({ extraArgs: ['--host-whitelist=example.com,127.0.0.1', '--cors=http://a.example:8080'] });
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses a plain-HTTP request naming an unlisted host with 421 and etcd\'s text, and serves a listed one', async () => {
    for (const [host, named] of [['evil.com:2379', 'evil.com'], ['[::1]:2379', '::1']] as const) {
      const refused = await rawRequest(`${server.clientUrl}/version`, { headers: { host } });
      expect(refused.status).toBe(421);
      expect(refused.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(refused.headers['x-content-type-options']).toBe('nosniff');
      expect(refused.body).toBe(dnsRebindingRefusal(named));
    }
    const gateway = await rawRequest(`${server.clientUrl}/v3/kv/range`, { method: 'POST', headers: { host: 'evil.com' }, body: '{"key":"Zm9v"}' });
    expect(gateway.status).toBe(421);
    expect((await rawRequest(`${server.clientUrl}/version`, { headers: { host: 'example.com' } })).status).toBe(200);
    expect((await rawRequest(`${server.clientUrl}/version`, {})).status).toBe(200);
  });

  it('leaves gRPC alone: etcdctl reaches the server by a name the list does not hold', async () => {
    const byName = server.clientUrl.replace('127.0.0.1', 'localhost');
    expect((await etcdctl(byName, ['put', 'access/a', '1'])).exitCode).toBe(0);
  });

  it('answers CORS headers for a listed origin only, also on a gateway stream; OPTIONS is 200 either way', async () => {
    const listed = await rawRequest(`${server.clientUrl}/version`, { headers: { origin: 'http://a.example:8080' } });
    expect(listed.headers['access-control-allow-origin']).toBe('http://a.example:8080');
    expect(listed.headers['access-control-allow-methods']).toBe('POST, GET, OPTIONS, PUT, DELETE');
    expect(listed.headers['access-control-allow-headers']).toBe('accept, content-type, authorization');
    const other = await rawRequest(`${server.clientUrl}/version`, { headers: { origin: 'http://b.example' } });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await rawRequest(`${server.clientUrl}/v3/kv/range`, { method: 'OPTIONS', headers: { origin: 'http://b.example' } });
    expect([preflight.status, preflight.body, preflight.headers['access-control-allow-origin']]).toEqual([200, '', undefined]);
    const stream = await rawRequest(`${server.clientUrl}/v3/watch`, {
      method: 'POST', headers: { origin: 'http://a.example:8080' }, body: '{"create_request":{"key":"Zm9v"}}', headersOnly: true,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers['access-control-allow-origin']).toBe('http://a.example:8080');
  });
});
