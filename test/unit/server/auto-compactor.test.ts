import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AutoCompactor, type CompactionTarget } from '../../../src/server/auto-compactor.js';

function target(state: { leader: boolean; current: number; compacted: number }): CompactionTarget & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    isLeader: () => state.leader,
    currentRevision: () => state.current,
    compactRevision: () => state.compacted,
    compact: async (revision) => {
      calls.push(revision);
      state.compacted = revision;
    },
  };
}

const silent = pino({ level: 'silent' });

describe('AutoCompactor', () => {
  it('revision mode keeps the last N revisions, on the leader only', async () => {
    const state = { leader: false, current: 1000, compacted: 0 };
    const t = target(state);
    const compactor = new AutoCompactor({ mode: 'revision', revisions: 100 }, t, silent);
    await compactor.run();
    expect(t.calls).toEqual([]);
    state.leader = true;
    await compactor.run();
    expect(t.calls).toEqual([900]);
    await compactor.run(); // Nothing new to compact.
    expect(t.calls).toEqual([900]);
    state.current = 1500;
    await compactor.run();
    expect(t.calls).toEqual([900, 1400]);
  });

  it('periodic mode compacts to the revision seen one period ago', async () => {
    let nowMs = 0;
    const state = { leader: true, current: 10, compacted: 0 };
    const t = target(state);
    const compactor = new AutoCompactor({ mode: 'periodic', periodMs: 60_000 }, t, silent, () => nowMs);
    await compactor.run(); // sample (0 ms, rev 10)
    nowMs = 30_000;
    state.current = 50;
    await compactor.run(); // sample (30 s, rev 50): nothing is a period old yet
    expect(t.calls).toEqual([]);
    nowMs = 61_000;
    state.current = 90;
    await compactor.run();
    expect(t.calls).toEqual([10]);
    nowMs = 95_000;
    state.current = 120;
    await compactor.run();
    expect(t.calls).toEqual([10, 50]);
  });
});
