// Owns --log-rotation-config-json: etcd hands it to its logger's rotation (lumberjack), whose
// settings it fills as Go's encoding/json does. Used only with --enable-log-rotation.
import { ConfigError } from './config-error.js';

export interface LogRotationSettings {
  /** Megabytes (2^20 bytes) a file may reach before it is rotated; lumberjack's default 100 for 0. */
  maxSizeMb: number;
  /** Days a backup is kept, by the time in its name; 0 keeps them. */
  maxAgeDays: number;
  /** Backups kept, newest first; 0 keeps them all. */
  maxBackups: number;
  /** Backup names in local time instead of UTC. */
  localTime: boolean;
  /** gzip each backup (`.gz` appended). */
  compress: boolean;
}

const maxSizeMbDefault = 100;

/** --log-outputs values that name a stream, not a file: the rest are file paths. */
export const streamLogOutputs = ['default', 'stderr', 'stdout', 'systemd/journal'] as const;

export function isStreamLogOutput(output: string): boolean {
  return (streamLogOutputs as readonly string[]).includes(output);
}

/** The JSON fields and their kinds, as lumberjack's struct declares them. */
const fields = { maxsize: 'int', maxage: 'int', maxbackups: 'int', localtime: 'bool', compress: 'bool', filename: 'string' } as const;

/**
 * Reads --log-rotation-config-json as Go's encoding/json fills lumberjack's settings: field names
 * match case-insensitively, unknown fields are ignored, a wrong type is an error. `filename` is
 * accepted and ignored (etcd writes to the --log-outputs file).
 */
export function parseLogRotationConfig(json: string): LogRotationSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    throw new ConfigError(`improperly formatted log rotation config: ${(error as Error).message}`);
  }
  if (parsed === null) parsed = {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`invalid log rotation config: want a JSON object, got ${JSON.stringify(parsed)}`);
  }
  const values: Record<string, number | boolean | string> = {};
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    const field = Object.keys(fields).find((known) => known === name.toLowerCase()) as keyof typeof fields | undefined;
    if (field === undefined || value === null) continue;
    const kind = fields[field];
    const fits = kind === 'int' ? Number.isSafeInteger(value) : kind === 'bool' ? typeof value === 'boolean' : typeof value === 'string';
    if (!fits) throw new ConfigError(`invalid log rotation config: "${name}" must be ${kind === 'int' ? 'an integer' : `a ${kind}`}, got ${JSON.stringify(value)}`);
    values[field] = value as number | boolean | string;
  }
  const maxSizeMb = (values.maxsize as number | undefined) ?? 0;
  return {
    maxSizeMb: maxSizeMb > 0 ? maxSizeMb : maxSizeMbDefault,
    maxAgeDays: Math.max(0, (values.maxage as number | undefined) ?? 0),
    maxBackups: Math.max(0, (values.maxbackups as number | undefined) ?? 0),
    localTime: (values.localtime as boolean | undefined) ?? false,
    compress: (values.compress as boolean | undefined) ?? false,
  };
}
