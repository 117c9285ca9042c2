// Owns measuring a data dir on disk: the space its files take (allocated blocks, as `du` counts
// them), so a preallocated or sparse database file counts as what it really costs.
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Allocated bytes of every file under dir, recursively (st_blocks are 512-byte units). */
export function dirAllocatedBytes(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += dirAllocatedBytes(path);
    else total += lstatSync(path).blocks * 512;
  }
  return total;
}
