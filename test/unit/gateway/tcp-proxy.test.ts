// The gateway's choice of endpoint (tcp-proxy.ts pick): SRV priority classes, weights within a
// class (weight-0 records rarely), and round robin for plain endpoints.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { TcpProxy, type ProxyEndpoint } from '../../../src/gateway/tcp-proxy.js';

function proxyOf(endpoints: ProxyEndpoint[], randoms: number[] = []): TcpProxy {
  let next = 0;
  return new TcpProxy({ endpoints, retryDelayMs: 60_000, logger: pino({ level: 'silent' }), random: () => randoms[next++ % randoms.length] ?? 0 });
}

const endpoint = (port: number, priority = 0, weight = 0): ProxyEndpoint => ({ host: '127.0.0.1', port, priority, weight });

describe('TcpProxy.pick', () => {
  it('goes round robin over plain endpoints', () => {
    const proxy = proxyOf([endpoint(1), endpoint(2), endpoint(3)]);
    expect(Array.from({ length: 5 }, () => proxy.pick()!.port)).toEqual([1, 2, 3, 1, 2]);
  });

  it('takes the lowest priority class only, by weight within it', () => {
    // Weights 1 and 3 out of 4: a draw of 0 or 1 (of 0..3) lands on the first, 2 and 3 on the
    // second (RFC 2782's running sum, as etcd walks it). One draw a pick: no weight-0 record here.
    const proxy = proxyOf([endpoint(1, 5, 1), endpoint(2, 5, 3), endpoint(9, 7, 100)], [0.5, 0.0, 0.3, 0.6]);
    expect(Array.from({ length: 4 }, () => proxy.pick()!.port)).toEqual([2, 1, 1, 2]);
  });

  it('gives a weight-0 record of the class a 1-in-100 chance beside weighted ones', () => {
    // Math.floor(random * 100) === 1 picks the unweighted record.
    const rare = proxyOf([endpoint(1, 0, 5), endpoint(2, 0, 0)], [0.015]);
    expect(rare.pick()!.port).toBe(2);
    const usual = proxyOf([endpoint(1, 0, 5), endpoint(2, 0, 0)], [0.5]);
    expect(usual.pick()!.port).toBe(1);
  });
});
