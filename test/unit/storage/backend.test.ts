// Backend: unsynced batches are held and handed to LevelDB later, but every read and every synced
// write sees them, in order; a held batch LevelDB refuses fails every later write and read; the
// commit callback times each batch LevelDB itself writes, not the hand-over.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Backend, HANDOVER_INTERVAL_MIN_MS, HANDOVER_OPS, type BackendOptions } from '../../../src/storage/backend.js';

const dirs: string[] = [];
const open: Backend[] = [];
afterEach(async () => {
  for (const backend of open.splice(0)) await backend.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function openBackend(dir = mkdtempSync(join(tmpdir(), 'backend-')), options: BackendOptions = {}): Promise<{ backend: Backend; dir: string }> {
  if (!dirs.includes(dir)) dirs.push(dir);
  const backend = await Backend.open(dir, options);
  open.push(backend);
  return { backend, dir };
}

const key = (name: string) => Buffer.from(name);
const text = (value: Buffer | undefined) => value?.toString('utf8');


/** What LevelDB's write of one batch does: `native` is the real write. */
type WriteHook = (native: () => Promise<void>) => Promise<void>;

/** Puts `write` in place of LevelDB's write of every batch the Backend hands over from now on. */
function interceptWrites(backend: Backend, write: WriteHook): void {
  type NativeBatch = { _write(options: unknown): Promise<void> };
  const db = (backend as unknown as { db: { _chainedBatch(): NativeBatch } }).db;
  const make = db._chainedBatch.bind(db);
  db._chainedBatch = () => {
    const batch = make();
    const native = batch._write.bind(batch);
    batch._write = (options) => write(() => native(options));
    return batch;
  };
}
describe('backend', () => {
  it('reads see unsynced writes at once, in the order they were made', async () => {
    const { backend } = await openBackend();
    await backend.write([{ type: 'put', key: key('a'), value: Buffer.from('1') }], false);
    await backend.write([{ type: 'put', key: key('a'), value: Buffer.from('2') }, { type: 'put', key: key('b'), value: Buffer.from('x') }], false);
    await backend.write([{ type: 'del', key: key('b') }], false);
    expect(text(await backend.get(key('a')))).toBe('2');
    expect(await backend.get(key('b'))).toBeUndefined();
    const all = await backend.readAll(key('a'), key('z'));
    expect(all.map(([k, v]) => `${k.toString()}=${v.toString()}`)).toEqual(['a=2']);
  });

  it('a synced write carries the held writes before it, and a reopen finds them all', async () => {
    const { backend, dir } = await openBackend();
    await backend.write([{ type: 'put', key: key('k'), value: Buffer.from('held') }], false);
    await backend.write([{ type: 'put', key: key('k'), value: Buffer.from('synced') }, { type: 'put', key: key('j'), value: Buffer.from('j') }], true);
    await backend.write([{ type: 'put', key: key('later'), value: Buffer.from('l') }], false);
    await backend.close();
    open.splice(open.indexOf(backend), 1);
    const { backend: again } = await openBackend(dir);
    expect(text(await again.get(key('k')))).toBe('synced');
    expect(text(await again.get(key('j')))).toBe('j');
    expect(text(await again.get(key('later')))).toBe('l');
  });

  it('hands held writes to LevelDB within the interval even when nothing reads', async () => {
    const { backend } = await openBackend();
    await backend.write([{ type: 'put', key: key('timer'), value: Buffer.from('t') }], false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Straight to LevelDB, past the Backend's held batches.
    const db = (backend as unknown as { db: { get(k: Buffer): Promise<Buffer | undefined> } }).db;
    expect(text(await db.get(key('timer')))).toBe('t');
  });

  it('a held batch LevelDB refuses fails every later write and read', async () => {
    const { backend } = await openBackend();
    interceptWrites(backend, () => Promise.reject(new Error('disk gone')));
    await backend.write([{ type: 'put', key: key('x'), value: Buffer.from('1') }], false);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await expect(backend.write([{ type: 'put', key: key('y'), value: Buffer.from('2') }], false)).rejects.toThrow('disk gone');
    await expect(backend.get(key('x'))).rejects.toThrow('disk gone');
  });

  it('leaves no batch attached to the database after LevelDB wrote or refused it', async () => {
    const { backend } = await openBackend();
    const db = (backend as unknown as { db: { attachResource(r: unknown): void; detachResource(r: unknown): void } }).db;
    const attached = new Set<unknown>();
    const attach = db.attachResource.bind(db);
    const detach = db.detachResource.bind(db);
    db.attachResource = (resource) => { attached.add(resource); attach(resource); };
    db.detachResource = (resource) => { attached.delete(resource); detach(resource); };
    for (let i = 0; i < 20; i++) await backend.write([{ type: 'put', key: key(`r${i}`), value: Buffer.from('v') }], i % 4 === 0);
    expect(text(await backend.get(key('r19')))).toBe('v');
    interceptWrites(backend, () => Promise.reject(new Error('disk gone')));
    await expect(backend.write([{ type: 'del', key: key('r1') }], true)).rejects.toThrow('disk gone');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(attached.size).toBe(0);
  });

  describe('onCommit', () => {
    /** Counts the calls LevelDB gets, under the Backend, and records the callback's durations. */
    async function observed(): Promise<{ backend: Backend; commits: number[]; nativeWrites: () => number; setWrite: (write: WriteHook) => void }> {
      const commits: number[] = [];
      const { backend } = await openBackend(undefined, { onCommit: (seconds) => commits.push(seconds) });
      let calls = 0;
      let hook: WriteHook = (native) => native();
      interceptWrites(backend, (native) => {
        calls += 1;
        return hook(native);
      });
      return { backend, commits, nativeWrites: () => calls, setWrite: (write) => { hook = write; } };
    }

    it('is not called for held batches until LevelDB writes them, then once for all of them together', async () => {
      const { backend, commits, nativeWrites } = await observed();
      for (let i = 0; i < 5; i++) await backend.write([{ type: 'put', key: key(`held${i}`), value: Buffer.from('v') }], false);
      // Handed over: not yet written by LevelDB, so not a commit.
      expect(commits).toEqual([]);
      expect(nativeWrites()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(nativeWrites()).toBe(1);
      expect(commits).toHaveLength(1);
      expect(commits[0]).toBeGreaterThanOrEqual(0);
    });

    it('hands held ops over right after the turn once HANDOVER_OPS are held; fewer wait for the interval', async () => {
      const { backend, nativeWrites } = await observed();
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      const put = (name: string) => ({ type: 'put' as const, key: key(name), value: Buffer.from('v') });
      await backend.write(Array.from({ length: HANDOVER_OPS - 2 }, (_, i) => put(`a${i}`)), false);
      await backend.write([put('b')], false);
      await turn();
      await turn();
      expect(nativeWrites()).toBe(0);
      await backend.write([put('c'), put('d')], false);
      expect(nativeWrites()).toBe(0);
      await turn();
      expect(nativeWrites()).toBe(1);
      // The ops past the threshold went with it; one more op waits for the interval again.
      await backend.write([put('e')], false);
      await turn();
      await turn();
      expect(nativeWrites()).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 250));
      expect(nativeWrites()).toBe(2);
      const db = (backend as unknown as { db: { get(k: Buffer): Promise<Buffer | undefined> } }).db;
      expect(text(await db.get(key('d')))).toBe('v');
      expect(text(await db.get(key('e')))).toBe('v');
    });

    it('hands over at the threshold no sooner than HANDOVER_INTERVAL_MIN_MS after the last hand-over', async () => {
      const { backend, nativeWrites } = await observed();
      let nowMs = 1_000_000;
      const clock = vi.spyOn(performance, 'now').mockImplementation(() => nowMs);
      try {
        const turn = () => new Promise((resolve) => setImmediate(resolve));
        const batch = (tag: string) => Array.from({ length: HANDOVER_OPS }, (_, i) => ({ type: 'put' as const, key: key(`${tag}${i}`), value: Buffer.from('v') }));
        await backend.write(batch('a'), false);
        await turn();
        expect(nativeWrites()).toBe(1);
        // Under load the next cycle's ops reach the threshold at once: they wait for the interval.
        nowMs += HANDOVER_INTERVAL_MIN_MS - 1;
        await backend.write(batch('b'), false);
        await turn();
        expect(nativeWrites()).toBe(1);
        nowMs += 1;
        await backend.write(batch('c'), false);
        await turn();
        expect(nativeWrites()).toBe(2);
      } finally {
        clock.mockRestore();
      }
      // The held ops went with the second hand-over: a read (which waits for started writes and
      // hands over anything still held) finds them and makes no third write.
      expect(text(await backend.get(key('b0')))).toBe('v');
      expect(nativeWrites()).toBe(2);
    });

    it('fires once per synced write, which carries the held batches in the same LevelDB write', async () => {
      const { backend, commits, nativeWrites } = await observed();
      await backend.write([{ type: 'put', key: key('a'), value: Buffer.from('1') }], false);
      await backend.write([{ type: 'put', key: key('b'), value: Buffer.from('2') }], false);
      await backend.write([{ type: 'put', key: key('c'), value: Buffer.from('3') }], true);
      expect(nativeWrites()).toBe(1);
      expect(commits).toHaveLength(1);
      // An empty synced write still costs LevelDB a write (its sync mark): one more commit.
      await backend.write([], true);
      expect(nativeWrites()).toBe(2);
      expect(commits).toHaveLength(2);
      // A read hands the held batches over: one LevelDB write, one commit, once it is done.
      await backend.write([{ type: 'put', key: key('d'), value: Buffer.from('4') }], false);
      expect(text(await backend.get(key('d')))).toBe('4');
      expect(nativeWrites()).toBe(3);
      expect(commits).toHaveLength(3);
      for (const seconds of commits) {
        expect(seconds).toBeGreaterThanOrEqual(0);
        expect(seconds).toBeLessThan(10);
      }
    });

    it('times the LevelDB write itself, and reports no commit for a write LevelDB refused', async () => {
      const { backend, commits, setWrite } = await observed();
      setWrite(async (native) => {
        await new Promise((resolve) => setTimeout(resolve, 60));
        return native();
      });
      await backend.write([{ type: 'put', key: key('slow'), value: Buffer.from('s') }], true);
      expect(commits).toHaveLength(1);
      expect(commits[0]).toBeGreaterThanOrEqual(0.05);
      setWrite(() => Promise.reject(new Error('disk gone')));
      await expect(backend.write([{ type: 'put', key: key('lost'), value: Buffer.from('l') }], true)).rejects.toThrow('disk gone');
      expect(commits).toHaveLength(1);
    });
  });
});
