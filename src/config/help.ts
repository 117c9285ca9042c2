// Owns the text of `--help` and `--version`, both generated from the flag table so they always
// list exactly the flags the parser accepts.
import { readFileSync } from 'node:fs';
import { flagTable, type FlagSection, type FlagSpec } from './flag-table.js';
import type { EtcdConfig } from './types.js';

const usage = `Usage:

  etcd-ts [flags]
    Start an etcd-compatible server. Every flag may also be given as ETCD_<FLAG_NAME>
    (for example --initial-cluster-state => ETCD_INITIAL_CLUSTER_STATE).

  etcd-ts --version
    Show the version of etcd-ts and the etcd version it reports.

  etcd-ts -h | --help
    Show this help.

  etcd-ts --config-file <path>
    Read etcd's YAML configuration file; other flags and environment variables are then ignored.
`;

const supportNote: Record<FlagSpec['support'], string> = {
  core: '',
  later: ' [accepted, not yet implemented in etcd-ts]',
  'no-effect': ' [accepted, no effect in etcd-ts]',
  removed: '',
};

function defaultShown(spec: FlagSpec): string {
  if (spec.name === 'data-dir') return "'${name}.etcd'";
  if (spec.kind === 'bool' || spec.kind === 'string' || spec.kind === 'choice' || spec.kind === 'urls' || spec.kind === 'strings' || spec.kind === 'origins' || spec.kind === 'duration') {
    return `'${spec.defaultText}'`;
  }
  return spec.defaultText;
}

export function helpText(): string {
  const sections = new Map<FlagSection, FlagSpec[]>();
  for (const spec of flagTable) {
    if (spec.support === 'removed') continue;
    const list = sections.get(spec.section) ?? [];
    list.push(spec);
    sections.set(spec.section, list);
  }
  const parts = [usage];
  for (const [section, specs] of sections) {
    parts.push(`\n${section}:`);
    for (const spec of specs) {
      parts.push(`  --${spec.name} ${defaultShown(spec)}`);
      parts.push(`    ${spec.help}${supportNote[spec.support]}`);
    }
  }
  return `${parts.join('\n')}\n`;
}

function packageVersion(): string {
  // Two levels up from src/config or dist/config is the repository root.
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  return manifest.version ?? 'unknown';
}

/** Like `etcd --version`, with our own version first: scripts that grep "etcd Version:" still work. */
export function versionText(config: Pick<EtcdConfig, 'etcdVersion'>): string {
  return [
    `etcd-ts Version: ${packageVersion()}`,
    `etcd Version: ${config.etcdVersion}`,
    'Git SHA: Not provided (etcd-ts)',
    `Node Version: ${process.version}`,
    `Node OS/Arch: ${process.platform}/${process.arch}`,
    '',
  ].join('\n');
}

const supportLabel: Record<FlagSpec['support'], string> = {
  core: 'in scope',
  later: 'accepted, not implemented yet (warns)',
  'no-effect': 'accepted, no effect (etcd internals)',
  removed: 'ignored with a warning, as in etcd',
};

/** The README's flag table; a unit test keeps README.md equal to this output. */
export function flagsMarkdownTable(): string {
  const rows = ['| Flag | Default | Since | etcd-ts |', '|---|---|---|---|'];
  for (const spec of flagTable) {
    if (spec.support === 'removed') continue;
    const shown = spec.name === 'data-dir' ? '`${name}.etcd`' : spec.defaultText === '' ? '""' : `\`${spec.defaultText}\``;
    const since = spec.since === 'etcd-ts' ? 'ours' : spec.since;
    rows.push(`| \`--${spec.name}\` | ${shown.replaceAll('|', '\\|')} | ${since} | ${supportLabel[spec.support]} |`);
  }
  const legacy = flagTable.filter((spec) => spec.support === 'removed').map((spec) => `\`-${spec.name}\``);
  rows.push('', `Pre-3.0 flags etcd still accepts and ignores with a warning: ${legacy.join(', ')}.`);
  return rows.join('\n');
}
