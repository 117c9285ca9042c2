// Owns the v2 proxy's /metrics: etcd's etcd_proxy_* series (requests by method, handled by method
// and code, dropped by method and reason, handling time) and the process series.
import { Counter, Histogram, Registry } from 'prom-client';
import { registerProcessMetrics } from '../api/http/metrics.js';

export type DropReason = 'zero_endpoints' | 'failed_sending_request' | 'failed_getting_response';

export class ProxyMetrics {
  readonly registry = new Registry();
  private readonly incoming: Counter<'method'>;
  private readonly handled: Counter<'method' | 'code'>;
  private readonly dropped: Counter<'method' | 'proxying_error'>;
  private readonly handlingSeconds: Histogram<'method'>;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.incoming = new Counter({ name: 'etcd_proxy_requests_total', help: 'Counter requests incoming by method.', labelNames: ['method'], registers });
    this.handled = new Counter({
      name: 'etcd_proxy_handled_total', help: 'Counter of requests fully handled (by authoratitave servers)', labelNames: ['method', 'code'], registers,
    });
    this.dropped = new Counter({
      name: 'etcd_proxy_dropped_total', help: 'Counter of requests dropped on the proxy.', labelNames: ['method', 'proxying_error'], registers,
    });
    this.handlingSeconds = new Histogram({
      name: 'etcd_proxy_handling_duration_seconds',
      help: 'Bucketed histogram of handling time of successful events (non-watches), by method (GET/PUT etc.).',
      labelNames: ['method'],
      // 0.5 ms doubling 13 times, as etcd's.
      buckets: Array.from({ length: 13 }, (_, i) => 0.0005 * 2 ** i),
      registers,
    });
    if (options.processMetrics ?? true) registerProcessMetrics(this.registry);
  }

  requestIn(method: string): void {
    this.incoming.inc({ method });
  }

  requestHandled(method: string, code: number, startedMs: number): void {
    this.handled.inc({ method, code: String(code) });
    this.handlingSeconds.observe({ method }, (performance.now() - startedMs) / 1000);
  }

  requestDropped(method: string, reason: DropReason): void {
    this.dropped.inc({ method, proxying_error: reason });
  }
}
