// --experimental-warning-apply-duration: a request applied slower than it is logged and counted in
// etcd_server_slow_apply_total. With a 1 ns threshold every applied request is slow. The counter is
// checked against etcd-ts and, with COMPAT_SELF_CHECK=1, a real etcd 3.4 with the same flag; the
// log line (zap's "apply request took too long" with etcd's fields) against etcd-ts.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { etcdctl, selfCheck, startServerUnderTest, type EtcdProcess } from '../helpers/index.js';

let server: EtcdProcess;

beforeAll(async () => {
  server = await startServerUnderTest({ extraArgs: ['--experimental-warning-apply-duration=1ns'] });
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

async function slowApplies(): Promise<number> {
  const text = await (await fetch(`${server.clientUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith('etcd_server_slow_apply_total '));
  if (line === undefined) throw new Error('etcd_server_slow_apply_total missing from /metrics');
  return Number(line.slice('etcd_server_slow_apply_total '.length));
}

describe(`slow applies (${selfCheck ? 'real etcd' : 'etcd-ts'})`, () => {
  test('every request over the threshold is counted, and logged with what it was', async () => {
    const before = await slowApplies();
    expect((await etcdctl(server.clientUrl, ['put', 'slow/key', 'value'])).exitCode).toBe(0);
    expect(await slowApplies()).toBeGreaterThan(before);
    if (!selfCheck) {
      const line = server.output().split('\n').find((candidate) => candidate.includes('apply request took too long') && candidate.includes('slow/key'));
      expect(line).toBeDefined();
      expect(JSON.parse(line!)).toMatchObject({ 'expected-duration': '0.000001ms', response: 'ok' });
      expect(JSON.parse(line!).request).toMatch(/put:<key:"slow\/key" value_size:5 >/);
    }
  });
});
