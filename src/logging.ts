// Owns the process logger: pino writing JSON lines in the spirit of etcd's zap logger (`level`,
// `ts`, `msg`, plus bound fields such as `member-id`), at --log-level, to --log-outputs.
import pino from 'pino';
import type { EtcdConfig, LogLevel } from './config/types.js';
import { RotatingLogFile } from './log-rotation.js';

export type LoggingConfig = Pick<EtcdConfig, 'logLevel' | 'logOutputs'> & Partial<Pick<EtcdConfig, 'logRotation'>>;

/** zap has dpanic and panic; pino's nearest level that always logs is fatal. */
const pinoLevelByEtcdLevel: Record<LogLevel, pino.Level> = {
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  dpanic: 'fatal',
  panic: 'fatal',
  fatal: 'fatal',
};

/** etcd's journald output. Node cannot write journald's datagram socket; systemd journals a unit's stderr. */
const journalOutput = 'systemd/journal';

function destinationFor(output: string, config: LoggingConfig): pino.DestinationStream {
  // etcd's "default" means journald under systemd and stderr otherwise; etcd-ts always uses stderr,
  // and for "systemd/journal" too (not a file of that name in the working directory).
  // Synchronous writes: a fatal start-up error must reach the terminal before the process exits.
  if (output === 'default' || output === 'stderr' || output === journalOutput) return pino.destination({ dest: 2, sync: true });
  if (output === 'stdout') return pino.destination({ dest: 1, sync: true });
  // --enable-log-rotation: the one file output rotates (parse-config allows no more than one).
  if (config.logRotation !== undefined) return new RotatingLogFile(output, config.logRotation);
  return pino.destination({ dest: output, sync: true, append: true, mkdir: true });
}

/**
 * Builds the root logger. `destination` replaces --log-outputs (tests pass a stream to read back).
 * Components take `logger.child({ component: 'raft', 'member-id': id })`.
 */
export function createLogger(config: LoggingConfig, destination?: pino.DestinationStream): pino.Logger {
  const level = pinoLevelByEtcdLevel[config.logLevel];
  const options: pino.LoggerOptions = {
    level,
    messageKey: 'msg',
    // etcd's zap encoder has no pid/hostname fields; keep lines comparable to etcd's.
    base: null,
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (destination !== undefined) return pino(options, destination);
  const outputs = [...new Set(config.logOutputs)];
  if (outputs.length === 1) return pino(options, destinationFor(outputs[0]!, config));
  return pino(options, pino.multistream(outputs.map((output) => ({ level, stream: destinationFor(output, config) }))));
}
