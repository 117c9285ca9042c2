// Which :authority values pass untouched, and what an invalid one becomes.
import { describe, expect, it } from 'vitest';
import { isValidAuthority, repairAuthority } from '../../../src/api/listener/authority.js';

describe('authority', () => {
  it('leaves valid authorities alone', () => {
    for (const value of ['127.0.0.1:2379', 'localhost', '[::1]:2379', 'user:pw@etcd-0.etcd.svc:2379', 'a%20b', '']) {
      expect(isValidAuthority(value), value).toBe(true);
      expect(repairAuthority(value)).toBe(value);
    }
  });

  it('drops the scheme and everything from the first path, query or fragment delimiter', () => {
    const cases: Array<[string, string]> = [
      ['http://127.0.0.1:2379', '127.0.0.1:2379'],
      ['https://[::1]:2379/', '[::1]:2379'],
      ['HTTP://etcd:2379/v3/kv?x=1', 'etcd:2379'],
      ['etcd:2379/path', 'etcd:2379'],
      ['http://etcd:2379?x', 'etcd:2379'],
      ['http://etcd:2379#frag', 'etcd:2379'],
    ];
    for (const [value, repaired] of cases) {
      expect(isValidAuthority(value), value).toBe(false);
      expect(repairAuthority(value), value).toBe(repaired);
    }
  });

  it('returns a still-invalid value for the server to refuse rather than inventing one', () => {
    expect(repairAuthority('http://bad host:1')).toBe('bad host:1');
    expect(isValidAuthority(repairAuthority('http://bad host:1'))).toBe(false);
  });
});
