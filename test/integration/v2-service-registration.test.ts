// The service-registration scenario with plain HTTP against etcd-ts: 20 services register with a
// TTL and refresh it (refresh=true&prevExist=true&ttl=N); a streaming recursive watcher sees them
// come and go; a service that stops refreshing is gone within its TTL plus one second. Then the
// same through the v3 JSON gateway (lease grant, put with lease, keepalive, watch).
import http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupAll, startEtcdTs, type EtcdProcess } from '../helpers/index.js';

afterAll(async () => { await cleanupAll(); });

const servicesCount = 20;
const ttlSeconds = 3;

async function form(url: string, method: string, body: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const response = await fetch(url, { method, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
  return { status: response.status, json: await response.json() };
}

/** Newline-delimited JSON from a held-open GET or POST; `items` fills as they arrive. */
function stream(url: string, body?: string): { items: any[]; close: () => void } {
  const items: any[] = [];
  const request = http.request(url, { method: body ? 'POST' : 'GET' }, (response) => {
    let pending = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      pending += chunk;
      let at;
      while ((at = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, at).trim();
        pending = pending.slice(at + 1);
        if (line) items.push(JSON.parse(line));
      }
    });
  });
  request.on('error', () => undefined);
  request.end(body);
  return { items, close: () => request.destroy() };
}

async function until(check: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

describe('service registration', () => {
  let server: EtcdProcess;

  it('v2 keys: 20 services register, refresh, and one that stops refreshing expires within TTL + 1 s', async () => {
    server = await startEtcdTs({ extraArgs: ['--enable-v2'] });
    const base = `${server.clientUrl}/v2/keys/services`;
    const watcher = stream(`${base}?wait=true&recursive=true&stream=true`);
    await new Promise((r) => setTimeout(r, 200));
    const registered = await Promise.all(Array.from({ length: servicesCount }, (_, i) =>
      form(`${base}/svc-${i}?ttl=${ttlSeconds}`, 'PUT', { value: `10.0.0.${i}:8080` })));
    for (const answer of registered) expect(answer.status).toBe(201);
    await until(() => watcher.items.length >= servicesCount, 5000);
    expect(new Set(watcher.items.map((e) => e.node.key)).size).toBe(servicesCount);

    // Everyone but svc-0 keeps refreshing every second for longer than the TTL.
    let refreshing = true;
    const refreshers = Array.from({ length: servicesCount - 1 }, async (_, j) => {
      while (refreshing) {
        const answer = await form(`${base}/svc-${j + 1}?refresh=true&prevExist=true&ttl=${ttlSeconds}`, 'PUT');
        expect(answer.status).toBe(200);
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
    const stoppedAt = Date.now();
    const expiredAfterMs = await until(() => watcher.items.some((e) => e.action === 'expire' && e.node.key === '/services/svc-0'), (ttlSeconds + 2) * 1000);
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual((ttlSeconds + 1) * 1000);
    expect(expiredAfterMs).toBeGreaterThan((ttlSeconds - 1) * 1000);
    // Refreshes woke no watcher; the others are all still there.
    await new Promise((r) => setTimeout(r, 1500));
    expect(watcher.items.filter((e) => e.action !== 'set')).toEqual([expect.objectContaining({ action: 'expire' })]);
    const listing = await (await fetch(`${base}?recursive=true`)).json() as { node: { nodes: unknown[] } };
    expect(listing.node.nodes).toHaveLength(servicesCount - 1);
    refreshing = false;
    await Promise.all(refreshers);
    watcher.close();
  }, 60_000);

  it('v3 JSON gateway: lease grant, put with lease, keepalive, watch; the silent one expires within TTL + 1 s', async () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    const post = async (path: string, body: unknown) => (await fetch(`${server.clientUrl}${path}`, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
    const watcher = stream(`${server.clientUrl}/v3/watch`, JSON.stringify({ create_request: { key: b64('/v3services/'), range_end: b64('/v3services0') } }));
    await new Promise((r) => setTimeout(r, 300));
    const leases: string[] = [];
    for (let i = 0; i < servicesCount; i++) {
      const grant = await post('/v3/lease/grant', { TTL: String(ttlSeconds) });
      leases.push(grant.ID);
      await post('/v3/kv/put', { key: b64(`/v3services/svc-${i}`), value: b64(`10.0.1.${i}:8080`), lease: grant.ID });
    }
    const events = () => watcher.items.flatMap((item) => item.result?.events ?? []);
    await until(() => events().length >= servicesCount, 5000);
    let refreshing = true;
    const keepers = leases.slice(1).map(async (id) => {
      while (refreshing) {
        await post('/v3/lease/keepalive', { ID: id });
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
    const stoppedAt = Date.now();
    await until(() => events().some((e) => e.type === 'DELETE' && Buffer.from(e.kv.key, 'base64').toString() === '/v3services/svc-0'), (ttlSeconds + 2) * 1000);
    expect(Date.now() - stoppedAt).toBeLessThanOrEqual((ttlSeconds + 1) * 1000);
    const range = await post('/v3/kv/range', { key: b64('/v3services/'), range_end: b64('/v3services0'), count_only: true });
    expect(range.count).toBe(String(servicesCount - 1));
    refreshing = false;
    await Promise.all(keepers);
    watcher.close();
    await server.stop();
  }, 60_000);
});
