import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { IdleScavenger } from '../../src/idle-scavenge.js';

const moduleUrl = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'idle-scavenge.js')).href;

/**
 * Runs `body` in a fresh node with the built module imported as `idle` (a real V8 heap, not the
 * test worker's); returns what the body printed as JSON.
 */
function runInNode(body: string): unknown {
  const script = `import * as idle from ${JSON.stringify(moduleUrl)};\n${body}`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' },
  });
  return JSON.parse(out);
}

describe('idle scavenges', () => {
  // Whether it waits while the loop is busy is timing, tested with fake timers below.
  const rest = (start: string): string => `
import { PerformanceObserver, constants } from 'node:perf_hooks';
${start}
// Garbage, as most of a request's allocations are once it is answered.
let last;
while (idle.youngGenerationFill() < 0.4) last = { n: Math.random() };
const before = idle.youngGenerationFill();
// Long enough after the start's own scavenges for a light load's young generation.
await new Promise((resolve) => setTimeout(resolve, 300));
idle.markEventLoopBusy();
let minors = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MINOR) minors++;
}).observe({ entryTypes: ['gc'] });
await new Promise((resolve) => setTimeout(resolve, 100));
console.log(JSON.stringify({ before, minors }));
`;

  it('scavenges once the event loop rests with the young generation a quarter full', () => {
    const { before, minors } = runInNode(rest('idle.startIdleScavenges(() => true);')) as { before: number; minors: number };
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

  let lastScavengeMs = 0;
  function scavenger(fill: number, quiet: () => boolean = () => true) {
    lastScavengeMs = -1000;
    vi.useFakeTimers();
    const scavenge = vi.fn();
    const idle = new IdleScavenger({
      idleMs: 2, fillAtLeast: 0.25, quiet, fill: () => fill, scavenge,
      sinceLastScavengeAtLeastMs: 250, lastScavengeMs: () => lastScavengeMs, nowMs: () => Date.now(),
    });
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

  it('leaves the young generation alone while something is in flight, until the work ends and the loop rests again', () => {
    let inFlight = true;
    const { idle, scavenge } = scavenger(0.9, () => !inFlight);
    idle.markBusy();
    vi.advanceTimersByTime(10);
    expect(scavenge).not.toHaveBeenCalled();
    inFlight = false;
    idle.markBusy();
    vi.advanceTimersByTime(2);
    expect(scavenge).toHaveBeenCalledTimes(1);
    idle.stop();
  });

  it('leaves a young generation that filled fast (a scavenge less than 250 ms ago) alone', () => {
    const { idle, scavenge } = scavenger(0.9);
    lastScavengeMs = Date.now() - 100;
    idle.markBusy();
    vi.advanceTimersByTime(2);
    expect(scavenge).not.toHaveBeenCalled();
    vi.advanceTimersByTime(200);
    idle.markBusy();
    vi.advanceTimersByTime(2);
    expect(scavenge).toHaveBeenCalledTimes(1);
    idle.stop();
  });
});
