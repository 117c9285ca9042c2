// The same v2 requests against the real etcd 3.4 (--enable-v2) and etcd-ts (--enable-v2): the same
// statuses and bodies once indexes are made relative to each server's starting index and
// expiration times are masked. Cases where etcd-ts differs on purpose are in v2/README.md.
import { afterAll, expect, it } from 'vitest';
import { cleanupAll, startEtcdTs, startRealEtcd, type EtcdProcess } from '../helpers/index.js';

afterAll(async () => { await cleanupAll(); });

type Step = [method: string, path: string, form?: Record<string, string>];

const steps: Step[] = [
  ['GET', '/foo'],
  ['PUT', '/foo', { value: 'bar' }],
  ['PUT', '/foo?noValueOnSuccess=true&prevExist=true', { value: 'bar2' }],
  ['PUT', '/foo', { ttl: 'abc', value: 'x' }],
  ['PUT', '/foo', { prevExist: 'x', value: 'x' }],
  ['PUT', '/foo', { prevValue: '', value: 'x' }],
  ['PUT', '/foo?refresh=true', { value: 'x' }],
  ['PUT', '/foo?refresh=true'],
  ['GET', '/foo?recursive=maybe'],
  ['GET', '/foo?wait=true&waitIndex=x'],
  ['PUT', '/d?dir=true', { value: 'ignored' }],
  ['PUT', '/foo?prevValue=zz', { value: 'x' }],
  ['PUT', '/foo?prevIndex=1&prevValue=zz', { value: 'x' }],
  ['PUT', '/foo?prevIndex=1', { value: 'x' }],
  ['PUT', '/foo?prevExist=false', { value: 'x' }],
  ['PUT', '/foo?prevValue=bar2&prevExist=true', { value: 'bar3' }],
  ['DELETE', '/d'],
  ['PUT', '/foo/bar', { value: 'x' }],
  ['POST', '/q', { value: 'x' }],
  ['POST', '/q', { value: 'y' }],
  ['GET', '/q?sorted=true'],
  ['PUT', '/', { value: '1' }],
  ['PUT', '/t?ttl=5', { value: '1' }],
  ['PUT', '/t?ttl=&prevExist=true', { value: '1' }],
  ['GET', '/?sorted=true'],
  ['POST', '/foo', { value: '1' }],
  ['DELETE', '/q?dir=true'],
  ['DELETE', '/q?recursive=true'],
  ['PUT', '/foo?ttl=-1', { value: '1' }],
  ['PUT', '/foo?ttl=7&refresh=true&prevExist=true'],
  ['DELETE', '/foo?prevValue=no'],
  ['DELETE', '/nope'],
  ['PUT', '/_hid', { value: '1' }],
  ['GET', '/?recursive=true&sorted=true'],
  ['PUT', '/x/y/z', { value: '1' }],
  ['DELETE', '/x?dir=true'],
  ['PUT', '/x', { value: '1' }],
  ['PUT', '/x?dir=true'],
  ['GET', '/x?recursive=true'],
  ['DELETE', '/x/y/z?prevIndex=1'],
  ['DELETE', '/x/y/z'],
  ['GET', '/foo?wait=true&waitIndex=1'],
];

async function run(server: EtcdProcess): Promise<string[]> {
  const transcript: string[] = [];
  let base: number | undefined;
  for (const [method, path, form] of steps) {
    const response = await fetch(`${server.clientUrl}/v2/keys${path}`, {
      method,
      headers: form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : undefined,
      body: form ? new URLSearchParams(form).toString() : undefined,
      signal: AbortSignal.timeout(5000),
    });
    const text = await response.text();
    const etcdIndex = Number(response.headers.get('x-etcd-index'));
    base ??= etcdIndex;
    const relative = (n: number) => (n === 0 ? 0 : n - base!);
    const body = JSON.parse(text, (key, value) => {
      if (key === 'expiration') return '<time>';
      // v3 lease TimeToLive reports whole seconds left, rounded down; v2 rounded up (README).
      if (key === 'ttl') return '<ttl>';
      if (key === 'cause' && typeof value === 'string') return value.replace(/\[(\d+) != (\d+)\]/g, (_m, a, b) => `[${a} != ${relative(Number(b))}]`);
      if (key === 'key' && typeof value === 'string') return value.replace(/\/(\d{20})$/, (_m, n) => `/in-order+${relative(Number(n))}`);
      if ((key === 'modifiedIndex' || key === 'createdIndex' || key === 'index') && typeof value === 'number') return relative(value);
      return value;
    });
    transcript.push(`${method} ${path} ${JSON.stringify(form ?? {})} => ${response.status} index+${relative(etcdIndex)} ${response.headers.get('content-type')} ${JSON.stringify(body)}`);
  }
  return transcript;
}

it('etcd-ts answers the v2 requests as etcd 3.4 does', async () => {
  const real = await startRealEtcd({ extraArgs: ['--enable-v2'] });
  const ours = await startEtcdTs({ extraArgs: ['--enable-v2'] });
  const [expected, actual] = [await run(real), await run(ours)];
  const differences = steps.map((_, i) => i).filter((i) => actual[i] !== expected[i]).map((i) => `etcd:    ${expected[i]}\netcd-ts: ${actual[i]}`);
  expect(differences).toEqual([]);
  await real.stop();
  await ours.stop();
}, 90_000);
