// `etcd-ts snapshot status`'s sizes and refusals, and `etcd-ts snapshot restore`'s refusals: usage errors, a name missing from --initial-cluster, a
// snapshot whose sha256 trailer does not match (nothing is left behind), an existing data dir.
// The restore itself is exercised end to end in test/integration/snapshot-restore.test.ts.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { snapshotCommand } from '../../../src/snapshot-command.js';
import { humanBytes } from '../../../src/server/snapshot-status.js';
import { makeTempDir } from '../../helpers/index.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({ write(chunk, _encoding, done) { text += String(chunk); done(); } });
  return { stream, text: () => text };
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = sink();
  const err = sink();
  const code = await snapshotCommand(args, out.stream, err.stream);
  return { code, out: out.text(), err: err.text() };
}

describe('etcd-ts snapshot restore', () => {
  it('refuses unknown subcommands and flags, and wants exactly one file', async () => {
    expect((await run(['stat', 'x'])).err).toContain('unknown command "stat"');
    expect(await run(['restore', 'x', '--bogus=1'])).toMatchObject({ code: 2, err: 'Error: unknown flag: --bogus\n' });
    expect(await run(['restore'])).toMatchObject({ code: 2, err: 'Error: snapshot restore requires exactly one argument\n' });
    expect((await run(['restore', '--help'])).out).toContain('etcd-ts snapshot restore <filename>');
  });

  it('refuses a name that --initial-cluster does not list, before touching anything', async () => {
    const dir = makeTempDir('restore-unit');
    const file = join(dir, 'snap.db');
    writeFileSync(file, 'x');
    const result = await run(['restore', file, '--name=other', `--data-dir=${join(dir, 'd')}`]);
    expect(result).toMatchObject({ code: 1, err: 'Error: couldn\'t find local name "other" in the initial cluster configuration\n' });
    expect(existsSync(join(dir, 'd'))).toBe(false);
  });

  it('leaves no data dir behind when the file is not a valid snapshot', async () => {
    const dir = makeTempDir('restore-unit');
    const file = join(dir, 'snap.db');
    writeFileSync(file, Buffer.alloc(4096, 7));
    const result = await run(['restore', file, `--data-dir=${join(dir, 'd')}`]);
    expect(result).toMatchObject({ code: 1, err: 'Error: snapshot: sha256 trailer does not match the data\n' });
    expect(readdirSync(dir)).toEqual(['snap.db']);
  });

  it('refuses an existing data dir', async () => {
    const dir = makeTempDir('restore-unit');
    const file = join(dir, 'snap.db');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'd'));
    expect(await run(['restore', file, `--data-dir=${join(dir, 'd')}`])).toMatchObject({ code: 1, err: `Error: data-dir "${join(dir, 'd')}" exists\n` });
  });
});

describe('etcd-ts snapshot status', () => {
  it("writes sizes as etcdctl's go-humanize does", () => {
    expect([5, 999, 1056, 24_576, 2_100_000, 1_000_000_000].map(humanBytes)).toEqual(['5 B', '999 B', '1.1 kB', '25 kB', '2.1 MB', '1.0 GB']);
  });

  it('refuses a file whose trailer does not match, and an unknown output format', async () => {
    const dir = makeTempDir('status-unit');
    const file = join(dir, 'snap.db');
    writeFileSync(file, Buffer.alloc(4096, 7));
    expect(await run(['status', file])).toMatchObject({ code: 1, err: 'Error: snapshot: sha256 trailer does not match the data\n' });
    expect((await run(['status', file, '-w', 'yaml'])).code).toBe(2);
  });
});
