// LeaderWatchdog: etcd's monitorLeader counting — three leaderless checks in a row, reset by a leader.
import { describe, expect, it } from 'vitest';
import { LeaderWatchdog, leaderlessChecksMax } from '../../../src/watch/leader-watchdog.js';
import { ManualTimer } from './manual-timer.js';

function setup() {
  const timer = new ManualTimer();
  const state = { hasLeader: true, lostCalls: 0 };
  const watchdog = new LeaderWatchdog({ hasLeader: () => state.hasLeader, electionTimeoutMs: 1000 }, timer, () => { state.lostCalls++; });
  return { timer, state, watchdog };
}

describe('LeaderWatchdog', () => {
  it('checks once per election timeout', () => {
    const { timer } = setup();
    expect([...timer.callbacks.values()].map((entry) => entry.intervalMs)).toEqual([1000]);
  });

  it('reports the loss at the third leaderless check in a row, then at every check until a leader is back', () => {
    const { timer, state } = setup();
    expect(leaderlessChecksMax).toBe(3);
    state.hasLeader = false;
    timer.fire();
    timer.fire();
    expect(state.lostCalls).toBe(0);
    timer.fire();
    expect(state.lostCalls).toBe(1);
    timer.fire();
    expect(state.lostCalls).toBe(2);
    state.hasLeader = true;
    timer.fire();
    expect(state.lostCalls).toBe(2);
  });

  it('a leader seen between leaderless checks starts the count again', () => {
    const { timer, state } = setup();
    state.hasLeader = false;
    timer.fire();
    timer.fire();
    state.hasLeader = true;
    timer.fire();
    state.hasLeader = false;
    timer.fire();
    timer.fire();
    expect(state.lostCalls).toBe(0);
    timer.fire();
    expect(state.lostCalls).toBe(1);
  });

  it('stop clears its interval', () => {
    const { timer, watchdog } = setup();
    watchdog.stop();
    expect(timer.callbacks.size).toBe(0);
  });

  it('refuses an election timeout that is not positive', () => {
    expect(() => new LeaderWatchdog({ hasLeader: () => true, electionTimeoutMs: 0 }, new ManualTimer(), () => undefined)).toThrow(/electionTimeoutMs/);
  });
});
