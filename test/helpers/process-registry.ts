// Owns the list of child processes and temp dirs that tests create, so that whatever a test leaves
// behind is killed (by pid, never by name: other engineers run the same binaries) and removed.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A test file never needs more; more means a leak in a loop. */
const liveChildrenMax = 64;
const tempDirsMax = 256;

const liveChildren = new Map<number, ChildProcess>();
const tempDirs = new Set<string>();

export function registerChild(child: ChildProcess): void {
  if (child.pid === undefined) return;
  if (liveChildren.size >= liveChildrenMax) {
    throw new Error(`process-registry: more than ${liveChildrenMax} live child processes`);
  }
  const pid = child.pid;
  liveChildren.set(pid, child);
  child.once('exit', () => liveChildren.delete(pid));
}

/** A fresh directory under the OS temp dir, removed by cleanupAll(). */
export function makeTempDir(prefix: string): string {
  if (tempDirs.size >= tempDirsMax) throw new Error(`process-registry: more than ${tempDirsMax} temp dirs`);
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function liveChildPids(): number[] {
  return [...liveChildren.keys()];
}

/** Kills every registered child still alive (SIGKILL, by pid), waits for their exits, removes temp dirs. */
export async function cleanupAll(): Promise<void> {
  const waits: Promise<void>[] = [];
  for (const [pid, child] of liveChildren) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    waits.push(new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      child.once('exit', () => { clearTimeout(timer); resolve(); });
    }));
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await Promise.all(waits);
  liveChildren.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

// If the worker dies without running afterAll, do not leave servers holding ports.
process.once('exit', () => {
  for (const pid of liveChildren.keys()) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});
