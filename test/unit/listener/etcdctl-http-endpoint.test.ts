// End to end through the real server process: etcdctl's per-endpoint commands with an http://
// endpoint (they send the whole URL as :authority), HTTP/2 pings, the message size limit, a
// garbage connection that must end alone, the HTTP/1 answer, and a clean exit on SIGTERM.
import { existsSync, statSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdctl, makeTempDir, startEtcdTs, type EtcdProcess } from '../../helpers/index.js';

describe('client listener with the real server and etcdctl', () => {
  let server: EtcdProcess;
  let endpoint: string;

  beforeAll(async () => {
    server = await startEtcdTs();
    endpoint = server.clientUrl;
    expect(endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  afterAll(async () => {
    await server?.stop();
  });

  const ok = async (args: string[]) => {
    const result = await etcdctl(endpoint, args, { timeoutMs: 15_000 });
    expect(result.exitCode, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    return result.stdout;
  };

  it('serves endpoint status, hashkv, defrag and snapshot save on an http:// endpoint', async () => {
    await ok(['put', 'listener-key', 'v']);
    const status = JSON.parse(await ok(['endpoint', 'status', '-w', 'json'])) as Array<{ Endpoint: string; Status: { header: { revision: number } } }>;
    expect(status[0]!.Endpoint).toBe(endpoint);
    expect(status[0]!.Status.header.revision).toBeGreaterThanOrEqual(2);
    expect(await ok(['endpoint', 'hashkv'])).toMatch(new RegExp(`^${endpoint}, \\d+\\n$`));
    expect(await ok(['defrag'])).toContain(`Finished defragmenting etcd member[${endpoint}]`);
    const snapshotPath = join(makeTempDir('listener-snapshot'), 'snap.db');
    await ok(['snapshot', 'save', snapshotPath]);
    expect(existsSync(snapshotPath) && statSync(snapshotPath).size).toBeGreaterThan(0);
  });

  it('answers HTTP/2 pings', async () => {
    const session = http2.connect(endpoint);
    try {
      const durationMs = await new Promise<number>((resolve, reject) => {
        session.once('error', reject);
        // node cancels a ping asked for before the session is connected.
        session.once('connect', () => {
          session.ping(Buffer.from('listener'), (error, duration) => (error ? reject(error) : resolve(duration)));
        });
      });
      expect(durationMs).toBeLessThan(5_000);
    } finally {
      session.destroy();
    }
  });

  it('refuses a message above the gRPC receive limit and keeps serving', async () => {
    // --max-request-bytes defaults to 1.5 MiB; grpc-js accepts that plus 512 KiB of envelope.
    const result = await etcdctl(endpoint, ['put', 'big-key'], { input: 'x'.repeat(2_200_000), timeoutMs: 15_000 });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toMatch(/ResourceExhausted|larger than max|request is too large/);
    expect(await ok(['get', 'listener-key', '--print-value-only'])).toBe('v\n');
  });

  it('closes a connection that sends a bad HTTP/2 frame, and only that one', async () => {
    const closed = await new Promise<boolean>((resolve) => {
      const socket = net.connect(Number(new URL(endpoint).port), '127.0.0.1', () => {
        // A valid preface, then CONTINUATION on stream 1 with no HEADERS before it.
        socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 1, 0x9, 0x4, 0, 0, 0, 1, 0x82])]));
      });
      socket.on('error', () => {});
      socket.on('data', () => {});
      socket.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 5_000).unref();
    });
    expect(closed).toBe(true);
    expect(await ok(['endpoint', 'status'])).toContain(endpoint);
  });

  it('serves HTTP/1.1 (the JSON gateway and /version) on the same port as gRPC', async () => {
    const response = await fetch(`${endpoint}/version`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ etcdserver: expect.any(String) });
  });

  it('exits 0 on SIGTERM with an idle HTTP/2 connection open', async () => {
    const other = await startEtcdTs();
    const session = http2.connect(other.clientUrl);
    session.on('error', () => {});
    let goawayReceived = false;
    session.on('goaway', () => { goawayReceived = true; });
    // The server's SETTINGS prove the connection got past sniffing into an HTTP/2 session.
    await new Promise((resolve) => session.once('remoteSettings', resolve));
    const started = Date.now();
    const exit = await other.stop(10_000);
    session.destroy();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    // The graceful close's GOAWAY must get out before the socket is torn down.
    expect(goawayReceived).toBe(true);
  });
});
