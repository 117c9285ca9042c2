// etcd's --grpc-keepalive-* flags mapped the way etcd hands them to grpc-go (keepalive-config.ts).
import { describe, expect, it } from 'vitest';
import { grpcKeepaliveOptions } from '../../../src/api/grpc/keepalive-config.js';

const flags = (minTime: number, interval: number, timeout: number) =>
  grpcKeepaliveOptions({ grpcKeepAliveMinTimeMs: minTime, grpcKeepAliveIntervalMs: interval, grpcKeepAliveTimeoutMs: timeout });

describe('grpcKeepaliveOptions', () => {
  it("takes etcd's defaults as they are (5s, 2h, 20s)", () => {
    expect(flags(5000, 7_200_000, 20_000)).toEqual({ minClientPingIntervalMs: 5000, pingAfterIdleMs: 7_200_000, pingTimeoutMs: 20_000 });
  });

  it("gives a min-time of 0 grpc-go's own default, 5 minutes", () => {
    expect(flags(0, 1000, 1000).minClientPingIntervalMs).toBe(300_000);
  });

  it('takes interval and timeout only together: either at 0 leaves both at 2h and 20s', () => {
    expect(flags(5000, 1000, 500)).toMatchObject({ pingAfterIdleMs: 1000, pingTimeoutMs: 500 });
    expect(flags(5000, 0, 500)).toMatchObject({ pingAfterIdleMs: 7_200_000, pingTimeoutMs: 20_000 });
    expect(flags(5000, 1000, 0)).toMatchObject({ pingAfterIdleMs: 7_200_000, pingTimeoutMs: 20_000 });
  });
});
