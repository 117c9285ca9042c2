// The dashboard (GET /dashboard) of a real etcd-ts process, its page run in jsdom against that
// member: the page's own script (as served, export keywords dropped so it runs as a classic
// script) with Node's fetch. It shows the member as leader, lists keys by prefix, watches a prefix
// live, lists leases with their keys, and, once auth is on, asks for a login and then works with
// the token. The data functions are also called directly (dashboard-client.ts), as curl would.
import { JSDOM } from 'jsdom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authenticate, call, clusterOverview, listKeys, listLeases, showBytes, prefixEnd, utf8, watchPrefix, GatewayError } from '../../src/dashboard/dashboard-client.js';
import { cleanupAll, startEtcdTs, type EtcdProcess } from '../helpers/index.js';

let member: EtcdProcess;
beforeAll(async () => { member = await startEtcdTs(); }, 60_000);
afterAll(async () => {
  await member?.stop();
  await cleanupAll();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const b64 = (text: string) => Buffer.from(text).toString('base64');
const put = (key: string, value: string, extra: Record<string, string> = {}, token?: string) =>
  call({ base: member.clientUrl, token }, '/kv/put', { key: b64(key), value: b64(value), ...extra });

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Loads the served page in jsdom and runs its script there. */
async function openDashboard(): Promise<{ dom: JSDOM; document: Document; close(): Promise<void> }> {
  const answer = await fetch(`${member.clientUrl}/dashboard`);
  expect(answer.status).toBe(200);
  expect(answer.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const html = await answer.text();
  const script = /<script type="module">([\s\S]*)<\/script>/.exec(html)![1]!;
  const dom = new JSDOM(html.replace(/<script type="module">[\s\S]*<\/script>/, ''), { url: `${member.clientUrl}/dashboard`, runScripts: 'outside-only' });
  const window = dom.window as unknown as Record<string, unknown>;
  Object.assign(window, { fetch, TextEncoder, TextDecoder, AbortController, Response });
  // The page refreshes on a timer: stopped, and its last requests let finish, before the window goes.
  const timers: number[] = [];
  const setIntervalOfWindow = dom.window.setInterval.bind(dom.window);
  Object.assign(window, { setInterval: (fn: () => void, ms: number) => { const id = setIntervalOfWindow(fn, ms); timers.push(id); return id; } });
  (dom.window as unknown as { eval(code: string): void }).eval(script.replace(/^export /gm, ''));
  return {
    dom, document: dom.window.document,
    close: async () => {
      for (const id of timers) dom.window.clearInterval(id);
      await sleep(500);
      dom.window.close();
    },
  };
}

const cells = (document: Document, tbody: string) =>
  [...document.getElementById(tbody)!.querySelectorAll('tr')].map((row) => [...row.querySelectorAll('td')].map((td) => td.textContent));

describe('dashboard', () => {
  it('serves one self-contained page', async () => {
    const html = await (await fetch(`${member.clientUrl}/dashboard`)).text();
    expect(html).toContain('<title>etcd-ts dashboard</title>');
    expect(html).toContain('async function clusterOverview');
    // Nothing from elsewhere: no script, style or font URLs.
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('shows the member, keys by prefix, a live watch and the leases', async () => {
    const lease = await call({ base: member.clientUrl }, '/lease/grant', { TTL: 300 });
    await put('svc/a', 'one', { lease: lease.ID });
    await put('svc/b', 'two');
    await put('other', 'x');
    const page = await openDashboard();
    try {
      const { document } = page;
      const members = await until('the members table', () => { const rows = cells(document, 'members'); return rows.length === 1 && rows[0]![2] !== '?' ? rows : undefined; });
      expect(members[0]!.slice(0, 3)).toEqual(['n1', members[0]![1], 'leader']);
      expect(members[0]![3]).toBe(member.clientUrl);
      expect(document.getElementById('alarms')!.textContent).toBe('none');

      (document.getElementById('prefix') as HTMLInputElement).value = 'svc/';
      document.getElementById('keys-form')!.dispatchEvent(new page.dom.window.Event('submit', { cancelable: true }));
      const keys = await until('the svc/ keys', () => { const rows = cells(document, 'keys'); return rows.length === 2 && rows[0]![0] === 'svc/a' ? rows : undefined; });
      expect(keys.map((row) => [row[0], row[1]])).toEqual([['svc/a', 'one'], ['svc/b', 'two']]);
      expect(keys[0]![5]).toBe(BigInt(lease.ID).toString(16));

      (document.getElementById('watch-prefix') as HTMLInputElement).value = 'svc/';
      (document.getElementById('watch-button') as HTMLButtonElement).click();
      await sleep(300);
      await put('svc/c', 'three');
      await put('elsewhere', 'not shown');
      const events = await until('the watch event', () => { const rows = cells(document, 'events'); return rows.length >= 1 ? rows : undefined; });
      expect(events.map((row) => [row[1], row[2], row[3]])).toEqual([['PUT', 'svc/c', 'three']]);
      (document.getElementById('watch-button') as HTMLButtonElement).click();

      (document.getElementById('leases-button') as HTMLButtonElement).click();
      const leases = await until('the lease', () => { const rows = cells(document, 'leases'); return rows.length === 1 ? rows : undefined; });
      expect(leases[0]![0]).toBe(BigInt(lease.ID).toString(16));
      expect(leases[0]![2]).toBe('svc/a');
    } finally {
      await page.close();
    }
  }, 30_000);

  it('the data functions, as a script would call them', async () => {
    expect(showBytes(utf8('plain'))).toBe('plain');
    expect(showBytes(new Uint8Array([0, 255]))).toBe('0x00ff');
    expect([...prefixEnd(new Uint8Array([0x61, 0xff]))]).toEqual([0x62]);
    expect([...prefixEnd(new Uint8Array([0xff]))]).toEqual([0]);
    const session = { base: member.clientUrl };
    const overview = await clusterOverview(session);
    expect(overview.members.map((m) => [m.name, m.status?.leader === m.id])).toEqual([['n1', true]]);
    const all = await listKeys(session, '', 2);
    expect(all.more).toBe(true);
    expect(all.kvs).toHaveLength(2);
    const seen: string[] = [];
    const stop = new AbortController();
    let created!: () => void;
    const ready = new Promise<void>((resolve) => { created = resolve; });
    const watching = watchPrefix(session, 'w/', (event) => seen.push(`${event.type} ${event.key}`), stop.signal, created);
    await ready;
    await put('w/1', 'a');
    await call(session, '/kv/deleterange', { key: b64('w/1') });
    await until('two events', () => seen.length >= 2 || undefined);
    stop.abort();
    await watching;
    expect(seen).toEqual(['PUT w/1', 'DELETE w/1']);
    expect((await listLeases(session)).length).toBeGreaterThanOrEqual(1);
  });

  it('asks for a login once auth is on, then shows the cluster with the token', async () => {
    const base = { base: member.clientUrl };
    await call(base, '/auth/user/add', { name: 'root', password: 'rootpw' });
    await call(base, '/auth/user/grant', { user: 'root', role: 'root' });
    await call(base, '/auth/enable', {});
    try {
      await expect(clusterOverview(base)).rejects.toSatisfy((error: unknown) => error instanceof GatewayError && error.needsLogin);
      const page = await openDashboard();
      try {
        const { document } = page;
        await until('the login form', () => !document.getElementById('login')!.hidden || undefined);
        (document.getElementById('user') as HTMLInputElement).value = 'root';
        (document.getElementById('password') as HTMLInputElement).value = 'rootpw';
        document.getElementById('login-form')!.dispatchEvent(new page.dom.window.Event('submit', { cancelable: true }));
        await until('the login to close', () => document.getElementById('login')!.hidden || undefined);
        const members = await until('the members table', () => { const rows = cells(document, 'members'); return rows.length === 1 && rows[0]![2] === 'leader' ? rows : undefined; });
        expect(members[0]![0]).toBe('n1');
      } finally {
        await page.close();
      }
    } finally {
      const token = await authenticate(member.clientUrl, 'root', 'rootpw');
      await call({ base: member.clientUrl, token }, '/auth/disable', {});
    }
  }, 30_000);
});
