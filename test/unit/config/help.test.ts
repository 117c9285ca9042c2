// Tests --help and --version text: generated from the flag table, version lines etcd scripts grep.
import { describe, expect, it } from 'vitest';
import { flagTable, helpText, versionText } from '../../../src/config/index.js';

describe('help and version', () => {
  it('help lists every non-legacy flag with its default and marks unimplemented ones', () => {
    const text = helpText();
    for (const spec of flagTable) {
      if (spec.support === 'removed') expect(text).not.toContain(`--${spec.name} `);
      else expect(text, spec.name).toContain(`--${spec.name} `);
    }
    expect(text).toContain("--data-dir '${name}.etcd'");
    expect(text).toContain('--snapshot-count 100000');
    expect(text).toMatch(/--socket-reuse-port 'false'\n.*not yet implemented/);
    expect(text).not.toMatch(/--grpc-keepalive-timeout '20s'\n.*not yet implemented/);
    expect(text).not.toMatch(/--cert-file ''\n.*not yet implemented/);
  });

  it('version prints our version and the etcd version in etcd\'s line format', () => {
    const text = versionText({ etcdVersion: '3.5.17' });
    expect(text).toMatch(/^etcd-ts Version: \d+\.\d+\.\d+\n/);
    expect(text).toContain('\netcd Version: 3.5.17\n');
  });
});
