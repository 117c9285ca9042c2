// etcd's --grpc-keepalive-* flags as grpc-go's server applies them (etcd's embed passes a policy
// only for a min-time above 0, and server parameters only when interval and timeout are both above
// 0; grpc-go fills whatever is unset or 0 with its defaults). So 0 does not disable anything: a
// min-time of 0 means grpc-go's 5 minutes, and an interval or timeout of 0 means 2 hours and 20 s.
import type { H2KeepaliveOptions } from '../h2/h2-connection.js';

const grpcDefaultMinClientPingIntervalMs = 5 * 60 * 1000;
const grpcDefaultPingAfterIdleMs = 2 * 60 * 60 * 1000;
const grpcDefaultPingTimeoutMs = 20 * 1000;

export interface GrpcKeepaliveFlags {
  grpcKeepAliveMinTimeMs: number;
  grpcKeepAliveIntervalMs: number;
  grpcKeepAliveTimeoutMs: number;
}

export function grpcKeepaliveOptions(flags: GrpcKeepaliveFlags): H2KeepaliveOptions {
  const serverPings = flags.grpcKeepAliveIntervalMs > 0 && flags.grpcKeepAliveTimeoutMs > 0;
  return {
    minClientPingIntervalMs: flags.grpcKeepAliveMinTimeMs > 0 ? flags.grpcKeepAliveMinTimeMs : grpcDefaultMinClientPingIntervalMs,
    pingAfterIdleMs: serverPings ? flags.grpcKeepAliveIntervalMs : grpcDefaultPingAfterIdleMs,
    pingTimeoutMs: serverPings ? flags.grpcKeepAliveTimeoutMs : grpcDefaultPingTimeoutMs,
  };
}
