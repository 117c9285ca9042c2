// gRPC keep-alive (src/api/h2/keepalive.ts) on a driven clock: the client-ping strikes of grpc-go's
// enforcement policy, and the server's idle ping and its timeout.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientPingPolicy, idleClientPingIntervalMs, ServerPinger } from '../../../src/api/h2/keepalive.js';

describe('ClientPingPolicy', () => {
  let now = 0;
  const policy = (minIntervalMs: number) => new ClientPingPolicy(minIntervalMs, () => now);
  /** Pings `count` times `everyMs` apart; the answers of allowPing. */
  const pings = (subject: ClientPingPolicy, count: number, everyMs: number, openStreams = 1) =>
    Array.from({ length: count }, () => {
      now += everyMs;
      return subject.allowPing(openStreams);
    });

  beforeEach(() => {
    now = 1_000_000;
  });

  it('takes the first ping and two strikes, and refuses the third strike', () => {
    expect(pings(policy(5000), 5, 1000)).toEqual([true, true, true, false, false]);
  });

  it('never strikes pings at least min-time apart', () => {
    expect(pings(policy(5000), 20, 5000).every(Boolean)).toBe(true);
  });

  it('clears the strikes, and lets the next ping pass, after the server wrote a response', () => {
    const subject = policy(5000);
    expect(pings(subject, 3, 100)).toEqual([true, true, true]);
    subject.noteResponseWritten();
    expect(pings(subject, 3, 100)).toEqual([true, true, true]);
    expect(pings(subject, 1, 100)).toEqual([false]);
  });

  it('holds a client without open streams to one ping in two hours', () => {
    expect(pings(policy(5000), 4, idleClientPingIntervalMs - 1, 0)).toEqual([true, true, true, false]);
    expect(pings(policy(5000), 4, idleClientPingIntervalMs, 0).every(Boolean)).toBe(true);
  });
});

describe('ServerPinger', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function pinger(idleMs: number, timeoutMs: number) {
    const events: string[] = [];
    const subject = new ServerPinger({
      idleMs,
      timeoutMs,
      sendPing: () => events.push(`ping@${Date.now()}`),
      onUnresponsive: () => events.push(`close@${Date.now()}`),
      nowMs: () => Date.now(),
    });
    return { subject, events };
  }

  it('pings after idleMs without reads, and closes timeoutMs after an unanswered ping', () => {
    const start = Date.now();
    const { events } = pinger(2000, 1000);
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual([`ping@${start + 2000}`, `close@${start + 3000}`]);
  });

  it('waits the whole timeout when it is longer than the interval, with one ping', () => {
    const start = Date.now();
    const { events } = pinger(1000, 5000);
    vi.advanceTimersByTime(20_000);
    expect(events).toEqual([`ping@${start + 1000}`, `close@${start + 6000}`]);
  });

  it('counts every read as activity: the next ping comes idleMs after the last read', () => {
    const start = Date.now();
    const { subject, events } = pinger(2000, 1000);
    vi.advanceTimersByTime(1500);
    subject.noteRead();
    vi.advanceTimersByTime(1900);
    expect(events).toEqual([]);
    vi.advanceTimersByTime(100);
    expect(events).toEqual([`ping@${start + 3500}`]);
    // The ACK is a read: no close, and the next ping idleMs after it.
    vi.advanceTimersByTime(200);
    subject.noteRead();
    vi.advanceTimersByTime(5000);
    expect(events).toEqual([`ping@${start + 3500}`, `ping@${start + 5700}`, `close@${start + 6700}`]);
  });

  it('stops for good', () => {
    const { subject, events } = pinger(1000, 1000);
    subject.stop();
    vi.advanceTimersByTime(10_000);
    expect(events).toEqual([]);
  });
});
