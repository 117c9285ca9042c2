// Owns how fault tests build the etcd3 npm client: no retries and no circuit breaker (etcd3's
// defaults retry a failed call up to three times, which would apply one logical write twice and
// hide the outcome a history must record), and a deadline on every unary call.
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';

/** etcd3's `faultHandling` with every policy a pass-through (the way etcd3's docs disable it). */
export function noRetryFaultHandling(): { host: () => typeof noop; global: typeof noop } {
  return { host: () => noop, global: noop };
}

/** A client for the given client URLs whose unary calls give up after `deadlineMs`. */
export function createTestClient(hosts: string[], deadlineMs: number): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: deadlineMs,
    faultHandling: noRetryFaultHandling(),
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + deadlineMs }),
  });
}
