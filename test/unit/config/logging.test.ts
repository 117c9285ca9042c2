// Tests the logger's line format (etcd zap field names), level filtering and bound fields.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging.js';
import { repoRoot } from '../../helpers/index.js';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('writes JSON lines with level, ts, msg and bound fields, no pid/hostname', () => {
    const out = capture();
    const logger = createLogger({ logLevel: 'info', logOutputs: ['stderr'] }, out.stream);
    logger.child({ 'member-id': '8e9e05c52164694d' }).info({ 'raft-term': 2 }, 'became leader');
    const [line] = out.lines();
    expect(line).toMatchObject({ level: 'info', msg: 'became leader', 'member-id': '8e9e05c52164694d', 'raft-term': 2 });
    expect(Number.isNaN(Date.parse(String(line!['ts'])))).toBe(false);
    expect(line).not.toHaveProperty('pid');
    expect(line).not.toHaveProperty('hostname');
  });

  it('filters below --log-level', () => {
    const out = capture();
    const logger = createLogger({ logLevel: 'warn', logOutputs: ['stderr'] }, out.stream);
    logger.info('hidden');
    logger.debug('hidden too');
    logger.warn('shown');
    expect(out.lines().map((line) => line['msg'])).toEqual(['shown']);
  });

  it('debug level lets debug lines through', () => {
    const out = capture();
    createLogger({ logLevel: 'debug', logOutputs: ['stderr'] }, out.stream).debug('detail');
    expect(out.lines()[0]).toMatchObject({ level: 'debug', msg: 'detail' });
  });

  it('appends to a file named in --log-outputs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-ts-log-'));
    try {
      const path = join(dir, 'sub', 'etcd.log');
      createLogger({ logLevel: 'info', logOutputs: [path] }).error({ 'member-id': 'abc' }, 'disk full');
      const line = JSON.parse(readFileSync(path, 'utf8').trim()) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'error', msg: 'disk full', 'member-id': 'abc' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('--log-outputs systemd/journal', () => {
  it('goes to stderr (systemd journals a unit\'s stderr), not to a file of that name in the working directory', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'etcd-ts-journal-'));
    try {
      const script = `import { createLogger } from ${JSON.stringify(join(repoRoot, 'dist', 'logging.js'))};
        createLogger({ logLevel: 'info', logOutputs: ['systemd/journal'] }).info('to the journal');`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8', timeout: 10_000 });
      expect(child.status).toBe(0);
      expect(JSON.parse(child.stderr.trim())).toMatchObject({ level: 'info', msg: 'to the journal' });
      expect(existsSync(join(cwd, 'systemd'))).toBe(false);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
