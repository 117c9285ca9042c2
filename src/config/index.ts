// The config layer: etcd's flags, ETCD_* variables and config file in, a typed EtcdConfig out.
// It imports nothing from the rest of etcd-ts; the server and main import it.
export { ConfigError } from './config-error.js';
export { parseConfig, type ParseConfigOptions, type ParseConfigResult } from './parse-config.js';
export { helpText, versionText, flagsMarkdownTable } from './help.js';
export { flagTable, findFlag, flagToEnvName, type FlagSpec, type FlagKind, type FlagSupport } from './flag-table.js';
export { parseGoDurationMs, formatGoDuration } from './duration.js';
export { formatEtcdUrl, type ClusterMember } from './urls.js';
export type { EtcdConfig, LogLevel, AutoCompactionRetention, TlsConfig, TlsEndpointConfig, DiscoveryConfig } from './types.js';
