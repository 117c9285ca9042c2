// Owns Go's `flag` package syntax as etcd's command line uses it: `-flag`, `--flag`, `--flag=value`,
// `--flag value`, booleans as `--flag` or `--flag=false`, `--` ends the flags, `-h`/`--help` asks
// for help. It turns argv into raw text per flag; typing the values is values.ts's job.
import { ConfigError } from './config-error.js';
import { findFlag } from './flag-table.js';

export interface ParsedArgv {
  /** Raw text of every flag given, by flag name; a repeated flag keeps its last value, as in Go. */
  readonly rawByFlag: Map<string, string>;
  readonly helpRequested: boolean;
}

export function parseGoFlags(argv: readonly string[]): ParsedArgv {
  const rawByFlag = new Map<string, string>();
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index]!;
    // Go stops at the first non-flag argument; etcd then rejects it (checked after the loop).
    if (arg.length < 2 || !arg.startsWith('-')) break;
    index += 1;
    if (arg === '--') break;
    const body = arg.startsWith('--') ? arg.slice(2) : arg.slice(1);
    if (body === '' || body.startsWith('-') || body.startsWith('=')) {
      throw new ConfigError(`bad flag syntax: ${arg}`);
    }
    const equalsAt = body.indexOf('=');
    const name = equalsAt === -1 ? body : body.slice(0, equalsAt);
    const inlineValue = equalsAt === -1 ? undefined : body.slice(equalsAt + 1);
    const spec = findFlag(name);
    if (spec === undefined) {
      if (name === 'h' || name === 'help') return { rawByFlag, helpRequested: true };
      throw new ConfigError(`flag provided but not defined: -${name}`);
    }
    if (spec.kind === 'bool' || spec.kind === 'ignored') {
      rawByFlag.set(name, inlineValue ?? 'true');
      continue;
    }
    if (inlineValue !== undefined) {
      rawByFlag.set(name, inlineValue);
      continue;
    }
    // Like Go, the next argument is the value even when it starts with '-'.
    if (index >= argv.length) throw new ConfigError(`flag needs an argument: -${name}`);
    rawByFlag.set(name, argv[index]!);
    index += 1;
  }
  if (index < argv.length) {
    const positional = argv[index]!;
    if (positional === 'gateway' || positional === 'grpc-proxy') {
      throw new ConfigError(`'${positional}' is an etcd subcommand that etcd-ts does not implement`);
    }
    throw new ConfigError(`'${positional}' is not a valid flag`);
  }
  return { rawByFlag, helpRequested: false };
}
