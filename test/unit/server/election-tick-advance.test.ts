// The initial election tick advance: when it fast-forwards the raft clock, by how much, and when not.
import { describe, expect, it } from 'vitest';
import { advanceInitialElectionTicks, type TickAdvanceOptions } from '../../../src/server/election-tick-advance.js';

/** A fake clock: each sleep moves it on; activePeers reads the peers seen at that time. */
function harness(peersAt: (elapsedMs: number) => number, overrides: Partial<TickAdvanceOptions> = {}) {
  let elapsedMs = 0;
  let stopped = false;
  const advanced: number[] = [];
  const logged: Array<Record<string, unknown>> = [];
  const options: TickAdvanceOptions = {
    electionTicks: 10,
    activePeers: () => peersAt(elapsedMs),
    advance: (ticks) => advanced.push(ticks),
    isStopped: () => stopped,
    sleep: async (ms) => {
      elapsedMs += ms;
    },
    log: (fields) => logged.push(fields),
    ...overrides,
  };
  return { options, advanced, logged, elapsed: () => elapsedMs, stop: () => { stopped = true; } };
}

describe('advanceInitialElectionTicks', () => {
  it('advances election ticks minus two once more than one peer is active, and only once', async () => {
    const h = harness((ms) => (ms < 300 ? 0 : ms < 600 ? 1 : 2));
    expect(await advanceInitialElectionTicks(h.options)).toBe(8);
    expect(h.advanced).toEqual([8]);
    expect(h.elapsed()).toBe(600);
    expect(h.logged).toEqual([{ 'advanced-ticks': 8, 'election-ticks': 10, 'active-remote-members': 2 }]);
  });

  it('leaves the clock alone when peers never come within the wait (5 s, polled every 50 ms)', async () => {
    const h = harness(() => 1);
    expect(await advanceInitialElectionTicks(h.options)).toBe(0);
    expect(h.advanced).toEqual([]);
    expect(h.elapsed()).toBe(5000);
  });

  it('stops waiting when the server stops', async () => {
    const h = harness(() => 0);
    const options = { ...h.options, sleep: async (ms: number) => { await h.options.sleep(ms); if (h.elapsed() >= 200) h.stop(); } };
    expect(await advanceInitialElectionTicks(options)).toBe(0);
    expect(h.elapsed()).toBe(200);
    expect(h.advanced).toEqual([]);
  });

  it('does not advance when the election timeout leaves no two ticks to spare', async () => {
    const h = harness(() => 2, { electionTicks: 2 });
    expect(await advanceInitialElectionTicks(h.options)).toBe(0);
    expect(h.advanced).toEqual([]);
  });
});
