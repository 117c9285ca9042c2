import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleScavenger, SEMI_SPACE_CAP_BYTES } from '../../src/young-generation.js';

const moduleUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'young-generation.js')).href;

/**
 * Runs `body` in a fresh node with the built module imported as `young` (a real V8 heap, not the
 * test worker's), with `nodeFlags`; returns what the body printed as JSON.
 */
function runInNode(body: string, nodeFlags: string[] = []): unknown {
  const script = `import * as young from ${JSON.stringify(moduleUrl)};\n${body}`;
  const out = execFileSync(process.execPath, [...nodeFlags, '--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(out);
}

// An eighth of it outlives a few scavenges, like a member's Raft entries among its requests'
// garbage; each step yields to the event loop, as a server does between reads. Without the cap V8
// grows the semi-spaces to 16 MiB on this.
const allocateWithSurvivors = `
const kept = [];
let largest = young.semiSpaceBytes();
for (let step = 0; step < 1500; step++) {
  let last;
  for (let i = 0; i < 3000; i++) {
    const object = { step, i, data: [step, i] };
    if (i % 8 === 0) kept.push(object);
    else last = object;
  }
  if (kept.length > 60_000) kept.splice(0, 20_000);
  await new Promise((resolve) => setImmediate(resolve));
  largest = Math.max(largest, young.semiSpaceBytes());
}
`;

describe('young generation cap', () => {
  it('stops the semi-spaces from growing past the cap', () => {
    const largest = runInNode(`young.capYoungGeneration();\n${allocateWithSurvivors}\nconsole.log(JSON.stringify(largest));`);
    expect(largest).toBeGreaterThan(0);
    expect(largest).toBeLessThanOrEqual(SEMI_SPACE_CAP_BYTES);
  });

  it('leaves an operator\'s own semi-space flag alone (and the same load grows past the cap without it)', () => {
    const largest = runInNode(`young.capYoungGeneration();\n${allocateWithSurvivors}\nconsole.log(JSON.stringify(largest));`, ['--max-semi-space-size=16']);
    expect(largest).toBeGreaterThan(SEMI_SPACE_CAP_BYTES);
  });

  // Whether it waits while the loop is busy is timing, tested with fake timers below.
  const rest = (start: string): string => `
import { PerformanceObserver, constants } from 'node:perf_hooks';
${start}
// Garbage, as most of a request's allocations are once it is answered.
let last;
while (young.youngGenerationFill() < 0.4) last = { n: Math.random() };
const before = young.youngGenerationFill();
let minors = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) minors++;
}).observe({ entryTypes: ['gc'] });
await new Promise((resolve) => setTimeout(resolve, 100));
console.log(JSON.stringify({ before, minors }));
`;

  it('scavenges once the event loop rests with the young generation a quarter full', () => {
    const { before, minors } = runInNode(rest('young.startIdleScavenges(); young.markEventLoopBusy();')) as { before: number; minors: number };
    expect(before).toBeGreaterThanOrEqual(0.4);
    expect(minors).toBe(1);
  });

  it('(the same rest without idle scavenges has no scavenge)', () => {
    const { before, minors } = runInNode(rest('')) as { before: number; minors: number };
    expect(before).toBeGreaterThanOrEqual(0.4);
    expect(minors).toBe(0);
  });
});

describe('IdleScavenger', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function scavenger(fill: number) {
    vi.useFakeTimers();
    const scavenge = vi.fn();
    const idle = new IdleScavenger({ idleMs: 2, fillAtLeast: 0.25, fill: () => fill, scavenge });
    return { idle, scavenge };
  }

  it('scavenges once per rest, after the idle time', () => {
    const { idle, scavenge } = scavenger(0.3);
    idle.markBusy();
    vi.advanceTimersByTime(1);
    expect(scavenge).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(scavenge).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100);
    expect(scavenge).toHaveBeenCalledTimes(1);
    idle.markBusy();
    vi.advanceTimersByTime(2);
    expect(scavenge).toHaveBeenCalledTimes(2);
    idle.stop();
  });

  it('waits while the loop keeps being marked busy', () => {
    const { idle, scavenge } = scavenger(0.9);
    for (let i = 0; i < 50; i++) {
      idle.markBusy();
      vi.advanceTimersByTime(1);
    }
    expect(scavenge).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(scavenge).toHaveBeenCalledTimes(1);
    idle.stop();
  });

  it('leaves a young generation under the fill threshold alone', () => {
    const { idle, scavenge } = scavenger(0.2);
    idle.markBusy();
    vi.advanceTimersByTime(10);
    expect(scavenge).not.toHaveBeenCalled();
    idle.stop();
  });
});
