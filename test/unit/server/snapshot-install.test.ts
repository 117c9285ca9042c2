import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend } from '../../../src/storage/backend.js';
import { streamBackendSnapshot } from '../../../src/server/backend-snapshot.js';
import { MEMBER_ID_KEY, RESTORE_MARKER_KEY, installBackendSnapshot } from '../../../src/server/snapshot-install.js';

const dirs: string[] = [];
const backends: Backend[] = [];
afterEach(async () => {
  for (const backend of backends.splice(0)) await backend.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openBackend(): Promise<{ backend: Backend; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'snapshot-install-'));
  dirs.push(dir);
  const backend = await Backend.open(join(dir, 'db'));
  backends.push(backend);
  return { backend, dir };
}

async function* chunks(stream: AsyncIterable<{ blob: Buffer }>): AsyncGenerator<Buffer> {
  for await (const { blob } of stream) yield blob;
}

async function dump(backend: Backend): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const [key, value] of backend.iterate({})) out.set(key.toString('latin1'), value.toString('hex'));
  return out;
}

describe('state snapshot install', () => {
  it('replaces the state keys with the leader\'s and keeps the member id and raft log', async () => {
    const leader = await openBackend();
    const follower = await openBackend();
    const big = Buffer.alloc(300 * 1024, 7); // several chunks
    await leader.backend.write([
      { type: 'put', key: Buffer.from('m/k/aaa'), value: big },
      { type: 'put', key: Buffer.from('l/1'), value: Buffer.from('lease') },
      { type: 'put', key: Buffer.from('s/applied-index'), value: Buffer.from('0000000000000063', 'hex') },
      { type: 'put', key: MEMBER_ID_KEY, value: Buffer.from('leader-id') },
      { type: 'put', key: Buffer.from('r/l/x'), value: Buffer.from('leader log') },
    ], true);
    await follower.backend.write([
      { type: 'put', key: Buffer.from('m/k/stale'), value: Buffer.from('old') },
      { type: 'put', key: MEMBER_ID_KEY, value: Buffer.from('follower-id') },
      { type: 'put', key: Buffer.from('r/l/y'), value: Buffer.from('follower log') },
    ], true);

    await installBackendSnapshot(follower.backend, chunks(streamBackendSnapshot(leader.backend, leader.dir)), follower.dir);

    const after = await dump(follower.backend);
    expect(after.get('m/k/aaa')).toBe(big.toString('hex'));
    expect(after.get('l/1')).toBe(Buffer.from('lease').toString('hex'));
    expect(after.has('m/k/stale')).toBe(false);
    expect(after.get('s/member-id')).toBe(Buffer.from('follower-id').toString('hex'));
    expect(after.get('r/l/y')).toBe(Buffer.from('follower log').toString('hex'));
    expect(after.has('r/l/x')).toBe(false);
    expect(after.has(RESTORE_MARKER_KEY.toString('latin1'))).toBe(false);
  });

  it('refuses a stream whose sha256 trailer does not match, before touching the state', async () => {
    const leader = await openBackend();
    const follower = await openBackend();
    await leader.backend.write([{ type: 'put', key: Buffer.from('m/k/a'), value: Buffer.from('v') }], true);
    await follower.backend.write([{ type: 'put', key: Buffer.from('m/k/keep'), value: Buffer.from('v') }], true);
    const blobs: Buffer[] = [];
    for await (const blob of chunks(streamBackendSnapshot(leader.backend, leader.dir))) blobs.push(blob);
    const corrupted = Buffer.concat(blobs);
    corrupted[20] ^= 0xff;
    async function* once(): AsyncGenerator<Buffer> { yield corrupted; }
    await expect(installBackendSnapshot(follower.backend, once(), follower.dir)).rejects.toThrow(/sha256/);
    expect((await dump(follower.backend)).has('m/k/keep')).toBe(true);
  });
});
