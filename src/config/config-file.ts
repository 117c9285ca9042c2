// Owns reading etcd's YAML config file (--config-file / ETCD_CONFIG_FILE) into the same raw
// flag-name → text form the command line produces, so one parser types and validates both. The
// TLS keys nested under client-transport-security / peer-transport-security map to their flags.
import { ConfigError } from './config-error.js';
import { findFlag } from './flag-table.js';
import { parseYamlSubset, type YamlValue } from './yaml-subset.js';

const clientSecurityKeyToFlag: Record<string, string> = {
  'cert-file': 'cert-file',
  'key-file': 'key-file',
  'client-cert-file': 'client-cert-file',
  'client-key-file': 'client-key-file',
  'client-cert-auth': 'client-cert-auth',
  'trusted-ca-file': 'trusted-ca-file',
  'auto-tls': 'auto-tls',
  'crl-file': 'client-crl-file',
  'allowed-hostname': 'client-cert-allowed-hostname',
};

const peerSecurityKeyToFlag: Record<string, string> = {
  'cert-file': 'peer-cert-file',
  'key-file': 'peer-key-file',
  'client-cert-file': 'peer-client-cert-file',
  'client-key-file': 'peer-client-key-file',
  'client-cert-auth': 'peer-client-cert-auth',
  'trusted-ca-file': 'peer-trusted-ca-file',
  'auto-tls': 'peer-auto-tls',
  'crl-file': 'peer-crl-file',
  'allowed-cn': 'peer-cert-allowed-cn',
  'allowed-hostname': 'peer-cert-allowed-hostname',
  'skip-client-san-verification': 'experimental-peer-skip-client-san-verification',
};

const yamlTrue = new Set(['true', 'True', 'TRUE', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const yamlFalse = new Set(['false', 'False', 'FALSE', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

function scalarText(key: string, value: YamlValue): string {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (typeof item !== 'string') throw new ConfigError(`config file: "${key}" must be a list of strings`);
        return item;
      })
      .join(',');
  }
  throw new ConfigError(`config file: "${key}" must be a value, not a mapping`);
}

function flagText(flagName: string, key: string, value: YamlValue): string {
  const spec = findFlag(flagName)!;
  const text = scalarText(key, value);
  if (spec.kind === 'bool' && yamlTrue.has(text)) return 'true';
  if (spec.kind === 'bool' && yamlFalse.has(text)) return 'false';
  // etcd reads YAML durations as Go's time.Duration JSON form: an integer count of nanoseconds.
  if (spec.kind === 'duration' && /^\d+$/.test(text)) return text === '0' ? '0' : `${text}ns`;
  return text;
}

export interface ConfigFileContents {
  rawByFlag: Map<string, string>;
  warnings: string[];
}

export function rawFlagsFromYaml(source: string, path: string): ConfigFileContents {
  let document: YamlValue;
  try {
    document = parseYamlSubset(source);
  } catch (error) {
    throw new ConfigError(`config file ${path}: ${(error as Error).message}`);
  }
  const rawByFlag = new Map<string, string>();
  const warnings: string[] = [];
  if (document === null) return { rawByFlag, warnings };
  if (typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(`config file ${path}: the top level must be a mapping of etcd keys`);
  }
  for (const [key, value] of Object.entries(document)) {
    if (key === 'client-transport-security' || key === 'peer-transport-security') {
      const keyToFlag = key === 'client-transport-security' ? clientSecurityKeyToFlag : peerSecurityKeyToFlag;
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value)) {
        throw new ConfigError(`config file ${path}: "${key}" must be a mapping`);
      }
      for (const [innerKey, innerValue] of Object.entries(value)) {
        const flagName = keyToFlag[innerKey];
        if (flagName === undefined) {
          warnings.push(`config file ${path}: unknown key "${key}.${innerKey}" ignored`);
          continue;
        }
        rawByFlag.set(flagName, flagText(flagName, `${key}.${innerKey}`, innerValue));
      }
      continue;
    }
    const spec = findFlag(key);
    if (spec === undefined || spec.kind === 'ignored' || key === 'config-file' || key === 'version') {
      warnings.push(`config file ${path}: unknown key "${key}" ignored`);
      continue;
    }
    rawByFlag.set(key, flagText(key, key, value));
  }
  return { rawByFlag, warnings };
}
