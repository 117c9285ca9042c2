// --enable-log-rotation and --log-rotation-config-json: the settings read as Go's encoding/json
// fills lumberjack's, etcd's rule on the outputs, and the file output rotating as lumberjack does
// (backup names, sizes, nothing lost, backups kept, compressed and removed by age).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/index.js';
import { parseLogRotationConfig, type LogRotationSettings } from '../../../src/config/log-rotation-config.js';
import { createLogger } from '../../../src/logging.js';
import { backupTimestamp, RotatingLogFile } from '../../../src/log-rotation.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'log-rotation-'));
  dirs.push(dir);
  return dir;
}

const settings = (extra: Partial<LogRotationSettings> = {}): LogRotationSettings => ({
  maxSizeMb: 1, maxAgeDays: 0, maxBackups: 0, localTime: false, compress: false, ...extra,
});

/** A clock the test moves: one millisecond a call, so every backup gets its own name. */
function steppingClock(start = Date.UTC(2026, 10, 28, 3, 52, 7, 344)): () => Date {
  let now = start;
  return () => new Date(now++);
}

/** Numbered lines of ~1 KiB: 1 MiB holds about a thousand. */
function line(i: number): string {
  return `${JSON.stringify({ level: 'info', n: i, pad: 'x'.repeat(1000) })}\n`;
}

describe('--log-rotation-config-json', () => {
  it("is read as Go's encoding/json fills lumberjack's settings", () => {
    expect(parseLogRotationConfig('{"maxsize": 100, "maxage": 0, "maxbackups": 0, "localtime": false, "compress": false}'))
      .toEqual({ maxSizeMb: 100, maxAgeDays: 0, maxBackups: 0, localTime: false, compress: false });
    // Field names match whatever their case; unknown fields and filename are ignored; 0 size is 100.
    expect(parseLogRotationConfig('{"MaxSize": 0, "MaxBackups": 5, "Compress": true, "extra": [1], "filename": "x"}'))
      .toEqual({ maxSizeMb: 100, maxAgeDays: 0, maxBackups: 5, localTime: false, compress: true });
    expect(parseLogRotationConfig('{}')).toMatchObject({ maxSizeMb: 100 });
    expect(() => parseLogRotationConfig('{"maxsize": 1,')).toThrow(/^improperly formatted log rotation config: /);
    expect(() => parseLogRotationConfig('{"maxsize": "10"}')).toThrow(/^invalid log rotation config: "maxsize" must be an integer/);
    expect(() => parseLogRotationConfig('{"maxsize": 1.5}')).toThrow(/^invalid log rotation config: /);
    expect(() => parseLogRotationConfig('{"compress": "yes"}')).toThrow(/^invalid log rotation config: "compress" must be a bool/);
    expect(() => parseLogRotationConfig('[1]')).toThrow(/^invalid log rotation config: /);
  });

  it("takes effect only with --enable-log-rotation, which needs exactly one file among --log-outputs (etcd's rule)", () => {
    const parse = (args: string[]) => parseConfig(['--name', 'n', ...args], {});
    const json = ['--log-rotation-config-json', '{"maxsize": 5, "maxbackups": 2}'];
    expect(parse(['--log-outputs', 'stderr,/var/log/etcd.log', ...json]).config.logRotation).toBeUndefined();
    const on = parse(['--log-outputs', 'stderr,/var/log/etcd.log', '--enable-log-rotation', ...json]).config;
    expect(on.logRotation).toEqual({ maxSizeMb: 5, maxAgeDays: 0, maxBackups: 2, localTime: false, compress: false });
    expect(on.unimplementedFlagsSet).toEqual([]);
    const refused = '--log-outputs requires a single file path when --log-rotate-config-json is defined';
    expect(() => parse(['--enable-log-rotation'])).toThrow(refused);
    expect(() => parse(['--log-outputs', 'stderr', '--enable-log-rotation'])).toThrow(refused);
    expect(() => parse(['--log-outputs', '/a.log,/b.log', '--enable-log-rotation'])).toThrow(refused);
    expect(() => parse(['--log-outputs', '/a.log', '--enable-log-rotation', '--log-rotation-config-json', 'nope']))
      .toThrow(/^improperly formatted log rotation config/);
  });
});

describe('the rotating log file', () => {
  it('rotates before a write would pass maxsize, into backups named by the time in UTC, losing no line', async () => {
    const dir = tempDir();
    const path = join(dir, 'etcd.log');
    const file = new RotatingLogFile(path, settings(), steppingClock());
    const total = 2600;
    for (let i = 0; i < total; i++) file.write(line(i));
    file.close();
    await file.idle();
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['etcd-2026-11-28T03-52-07.344.log', 'etcd-2026-11-28T03-52-07.345.log', 'etcd.log']);
    for (const name of names) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(1024 * 1024);
    // Oldest backup first, then the newer, then the current file: every line once, in order.
    const lines = names.flatMap((name) => readFileSync(join(dir, name), 'utf8').split('\n').filter((l) => l !== ''));
    expect(lines.map((l) => (JSON.parse(l) as { n: number }).n)).toEqual(Array.from({ length: total }, (_, i) => i));
  });

  it('appends to an existing file while it fits, and rotates it first when it does not', () => {
    const dir = tempDir();
    const path = join(dir, 'etcd.log');
    writeFileSync(path, 'old\n');
    const small = new RotatingLogFile(path, settings(), steppingClock());
    small.write('new\n');
    small.close();
    expect(readFileSync(path, 'utf8')).toBe('old\nnew\n');
    writeFileSync(path, 'x'.repeat(1024 * 1024 - 2));
    const full = new RotatingLogFile(path, settings(), steppingClock());
    full.write('next\n');
    full.close();
    expect(readFileSync(path, 'utf8')).toBe('next\n');
    expect(readdirSync(dir).filter((name) => name !== 'etcd.log')).toHaveLength(1);
  });

  it('keeps maxbackups backups, newest first, and gzips them with compress', async () => {
    const dir = tempDir();
    const path = join(dir, 'member.log');
    const file = new RotatingLogFile(path, settings({ maxBackups: 2, compress: true }), steppingClock());
    for (let i = 0; i < 5200; i++) file.write(line(i));
    file.close();
    await file.idle();
    const names = readdirSync(dir).sort();
    expect(names).toEqual(['member-2026-11-28T03-52-07.347.log.gz', 'member-2026-11-28T03-52-07.348.log.gz', 'member.log']);
    const newest = gunzipSync(readFileSync(join(dir, names[1]!))).toString('utf8').split('\n').filter((l) => l !== '');
    const current = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
    expect((JSON.parse(newest.at(-1)!) as { n: number }).n + 1).toBe((JSON.parse(current[0]!) as { n: number }).n);
  });

  it('removes backups older than maxage days, by the time in their names', async () => {
    const dir = tempDir();
    const path = join(dir, 'etcd.log');
    const now = Date.UTC(2026, 10, 28, 12, 0, 0, 0);
    const old = `etcd-${backupTimestamp(new Date(now - 3 * 24 * 3600 * 1000), false)}.log`;
    const recent = `etcd-${backupTimestamp(new Date(now - 12 * 3600 * 1000), false)}.log.gz`;
    const unrelated = 'etcd-notatime.log';
    for (const name of [old, recent, unrelated]) writeFileSync(join(dir, name), 'x\n');
    const file = new RotatingLogFile(path, settings({ maxAgeDays: 2 }), steppingClock(now));
    for (let i = 0; i < 1100; i++) file.write(line(i));
    file.close();
    await file.idle();
    expect(existsSync(join(dir, old))).toBe(false);
    expect(existsSync(join(dir, recent))).toBe(true);
    expect(existsSync(join(dir, unrelated))).toBe(true);
    expect(readdirSync(dir).filter((name) => name.startsWith('etcd-2026-11-28T12-00-00'))).toHaveLength(1);
  });

  it('is the file output of the logger when rotation is on', () => {
    const dir = tempDir();
    const path = join(dir, 'etcd.log');
    const logger = createLogger({ logLevel: 'info', logOutputs: [path], logRotation: settings({ maxSizeMb: 1 }) });
    const pad = 'y'.repeat(2000);
    for (let i = 0; i < 700; i++) logger.info({ i, pad }, 'line');
    logger.flush();
    expect(readdirSync(dir).filter((name) => /^etcd-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}\.log$/.test(name))).toHaveLength(1);
    expect(readFileSync(path, 'utf8').length).toBeGreaterThan(0);
  });
});
