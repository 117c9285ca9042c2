// Checks that a data dir's size counts allocated blocks of every file, nested ones included, and
// not the apparent size of a sparse file. Run: node --test bench/test/
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dirAllocatedBytes } from '../lib/disk.mjs';

test('sums allocated bytes recursively and a sparse file costs only what it holds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-disk-'));
  try {
    assert.equal(dirAllocatedBytes(dir), 0);
    mkdirSync(join(dir, 'member', 'wal'), { recursive: true });
    writeFileSync(join(dir, 'member', 'wal', 'segment'), Buffer.alloc(256 * 1024, 1));
    const withSegment = dirAllocatedBytes(dir);
    assert.ok(withSegment >= 256 * 1024 && withSegment < 512 * 1024, `got ${withSegment}`);
    writeFileSync(join(dir, 'sparse'), '');
    truncateSync(join(dir, 'sparse'), 64 * 2 ** 20);
    assert.ok(dirAllocatedBytes(dir) - withSegment < 2 ** 20, 'a 64 MiB hole must not count as 64 MiB');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
