// Owns --enable-log-rotation's file output: a pino destination that appends to the log file and
// rotates it as etcd's logger (lumberjack) does. Before a write that would take the file past
// maxsize MB, the file is renamed to `<name>-<timestamp><ext>` (UTC unless localtime, e.g.
// etcd-2026-11-28T03-52-07.344.log) and a new one started; then, in the background, backups are
// gzipped (compress) and those past maxbackups or older than maxage days (by the time in their
// names) are removed. The settings come from --log-rotation-config-json.
import { closeSync, createReadStream, createWriteStream, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { LogRotationSettings } from './config/log-rotation-config.js';

const megabyte = 1024 * 1024;
const dayMs = 24 * 60 * 60 * 1000;
const gzipSuffix = '.gz';

/** lumberjack's backup time layout, 2006-01-02T15-04-05.000, in UTC or local time. */
export function backupTimestamp(date: Date, localTime: boolean): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const [y, mo, d, h, mi, s, ms] = localTime
    ? [date.getFullYear(), date.getMonth() + 1, date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds(), date.getMilliseconds()]
    : [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds(), date.getUTCMilliseconds()];
  return `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}-${pad(mi)}-${pad(s)}.${pad(ms, 3)}`;
}

const timestampPattern = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})-(\d{2})-(\d{2})\.(\d{3})$/;

/** A file that writes log lines synchronously (as the other outputs do) and rotates itself. */
export class RotatingLogFile {
  private fd: number | undefined;
  private size = 0;
  private readonly maxBytes: number;
  private readonly dir: string;
  private readonly prefix: string;
  private readonly ext: string;
  /** The background work after each rotation (compress, remove), one run at a time. */
  private mill: Promise<void> = Promise.resolve();

  constructor(private readonly path: string, private readonly settings: LogRotationSettings,
    private readonly now: () => Date = () => new Date()) {
    this.maxBytes = settings.maxSizeMb * megabyte;
    this.dir = dirname(path);
    this.ext = extname(path);
    this.prefix = `${basename(path, this.ext)}-`;
  }

  /** pino's destination interface. */
  write(chunk: string): boolean {
    const bytes = Buffer.byteLength(chunk);
    if (this.fd === undefined) this.open(bytes);
    else if (this.size > 0 && this.size + bytes > this.maxBytes) this.rotate();
    writeSync(this.fd!, chunk);
    this.size += bytes;
    return true;
  }

  /** Resolves when the background work of the rotations so far is done. */
  idle(): Promise<void> {
    return this.mill;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /** The existing file is appended to while the write fits; otherwise it is rotated first. */
  private open(firstWriteBytes: number): void {
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
    if (this.size > 0 && this.size + firstWriteBytes > this.maxBytes) this.rotate();
  }

  private rotate(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    renameSync(this.path, join(this.dir, `${this.prefix}${backupTimestamp(this.now(), this.settings.localTime)}${this.ext}`));
    this.fd = openSync(this.path, 'w', 0o600);
    this.size = 0;
    this.mill = this.mill.then(() => this.millBackups()).catch((error: unknown) => {
      process.stderr.write(`log rotation: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  }

  /** Backups newest first, with the time in their names. */
  private backups(): Array<{ name: string; time: number; compressed: boolean }> {
    const found: Array<{ name: string; time: number; compressed: boolean }> = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.startsWith(this.prefix)) continue;
      const compressed = name.endsWith(`${this.ext}${gzipSuffix}`);
      if (!compressed && !name.endsWith(this.ext)) continue;
      const stamp = name.slice(this.prefix.length, name.length - this.ext.length - (compressed ? gzipSuffix.length : 0));
      const time = parseBackupTime(stamp, this.settings.localTime);
      if (time !== undefined) found.push({ name, time, compressed });
    }
    return found.sort((a, b) => b.time - a.time);
  }

  private async millBackups(): Promise<void> {
    let backups = this.backups();
    const { maxBackups, maxAgeDays, compress } = this.settings;
    const remove: string[] = [];
    if (maxBackups > 0) remove.push(...backups.slice(maxBackups).map((b) => b.name));
    if (maxAgeDays > 0) {
      const cutoff = this.now().getTime() - maxAgeDays * dayMs;
      remove.push(...backups.filter((b) => b.time < cutoff).map((b) => b.name));
    }
    for (const name of new Set(remove)) rmSync(join(this.dir, name), { force: true });
    if (!compress) return;
    backups = backups.filter((b) => !remove.includes(b.name));
    for (const backup of backups.filter((b) => !b.compressed)) {
      const source = join(this.dir, backup.name);
      await pipeline(createReadStream(source), createGzip(), createWriteStream(`${source}${gzipSuffix}`, { mode: 0o600 }));
      rmSync(source, { force: true });
    }
  }
}

function parseBackupTime(stamp: string, localTime: boolean): number | undefined {
  const match = timestampPattern.exec(stamp);
  if (!match) return undefined;
  const [y, mo, d, h, mi, s, ms] = match.slice(1).map(Number) as [number, number, number, number, number, number, number];
  return localTime ? new Date(y, mo - 1, d, h, mi, s, ms).getTime() : Date.UTC(y, mo - 1, d, h, mi, s, ms);
}
