import { describe, expect, it } from 'vitest';
import { Membership, computeClusterId, computeMemberId } from '../../../src/server/membership.js';

describe('member and cluster ids', () => {
  it('derive the ids a default etcd prints (member 8e9e05c52164694d in cluster cdf818194e3a8c32)', () => {
    const memberId = computeMemberId(['http://localhost:2380'], 'etcd-cluster');
    expect(memberId.toString(16)).toBe('8e9e05c52164694d');
    expect(computeClusterId([memberId]).toString(16)).toBe('cdf818194e3a8c32');
  });

  it('do not depend on the order of peer URLs or members', () => {
    const a = computeMemberId(['http://10.0.0.1:2380', 'http://10.0.0.2:2380'], 't');
    const b = computeMemberId(['http://10.0.0.2:2380', 'http://10.0.0.1:2380'], 't');
    expect(a).toBe(b);
    expect(computeClusterId([1n, 2n, 3n])).toBe(computeClusterId([3n, 1n, 2n]));
  });

  it('bootstraps every member of --initial-cluster with its name, sorted peer URLs and no client URLs', () => {
    const membership = Membership.bootstrap([
      { name: 'n1', peerUrls: ['http://127.0.0.1:2380'] },
      { name: 'n2', peerUrls: ['http://127.0.0.1:2480'] },
    ], 'tok');
    const members = membership.list();
    expect(members.map((m) => m.name).sort()).toEqual(['n1', 'n2']);
    expect(members.every((m) => m.clientUrls.length === 0 && !m.isLearner)).toBe(true);
    expect(membership.clusterId).toBe(computeClusterId(members.map((m) => m.id)));
    expect(membership.voterIds()).toHaveLength(2);
  });
});
