// Owns --feature-gates (etcd 3.6): `Name=true|false,…`, each gate the new name of an experimental
// flag. A gate sets what its flag sets; the flag given as well, with another value, is an error.
// Gates etcd-ts does not build say so when turned on; an unknown gate stops the server, as in etcd.
import { ConfigError } from './config-error.js';
import type { EtcdConfig } from './types.js';

type ExperimentalField = 'stopGrpcServiceOnDefrag' | 'initialCorruptCheck' | 'compactHashCheck' | 'leaseCheckpoint' | 'leaseCheckpointPersist';

/** etcd 3.6's gates: the experimental flag each replaces, or why it does nothing here. */
const gates: Record<string, { flag: string; field: ExperimentalField } | { unsupported: string }> = {
  StopGRPCServiceOnDefrag: { flag: 'experimental-stop-grpc-service-on-defrag', field: 'stopGrpcServiceOnDefrag' },
  InitialCorruptCheck: { flag: 'experimental-initial-corrupt-check', field: 'initialCorruptCheck' },
  CompactHashCheck: { flag: 'experimental-compact-hash-check-enabled', field: 'compactHashCheck' },
  LeaseCheckpoint: { flag: 'experimental-enable-lease-checkpoint', field: 'leaseCheckpoint' },
  LeaseCheckpointPersist: { flag: 'experimental-enable-lease-checkpoint-persist', field: 'leaseCheckpointPersist' },
  TxnModeWriteWithSharedBuffer: { unsupported: "bbolt's write buffer (etcd-ts stores in LevelDB)" },
  DistributedTracing: { unsupported: 'distributed tracing is not implemented yet' },
  SetMemberLocalAddr: { unsupported: 'peer connections do not bind to the advertised address yet' },
};

/** Parses `Name=true|false,…` into gate values, refusing bad syntax and unknown gates. */
export function parseFeatureGates(text: string): Record<string, boolean> {
  const values: Record<string, boolean> = {};
  for (const entry of text.split(',')) {
    if (entry.trim() === '') continue;
    const match = /^\s*([A-Za-z][A-Za-z0-9]*)=(true|false)\s*$/.exec(entry);
    if (match === null) throw new ConfigError(`invalid value "${text}" for flag -feature-gates: expected Name=true|false`);
    if (!(match[1]! in gates)) throw new ConfigError(`invalid value "${text}" for flag -feature-gates: unrecognized feature gate: ${match[1]}`);
    values[match[1]!] = match[2] === 'true';
  }
  return values;
}

/**
 * Applies the gates to the config's experimental settings; returns the warnings for gates turned
 * on that etcd-ts does not act on.
 */
export function applyFeatureGates(experimental: EtcdConfig['experimental'], isSet: (flag: string) => boolean): string[] {
  const warnings: string[] = [];
  for (const [name, on] of Object.entries(experimental.featureGates)) {
    const gate = gates[name]!;
    if ('unsupported' in gate) {
      if (on) warnings.push(`feature gate ${name} has no effect in etcd-ts: ${gate.unsupported}`);
      continue;
    }
    if (isSet(gate.flag) && experimental[gate.field] !== on) {
      throw new ConfigError(`cannot specify --${gate.flag}=${experimental[gate.field]} and --feature-gates=${name}=${on} at the same time`);
    }
    experimental[gate.field] = on;
  }
  return warnings;
}
