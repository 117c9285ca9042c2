// ServerElections against an in-process EtcdServer: campaign order, proclaim only by the current
// incarnation of the leader key, leader lookup, resign, observe, and withdrawal on cancellation.
import { describe, expect, it } from 'vitest';
import { ServerElections, type LeaderObservation } from '../../../src/concurrency/election.js';
import { grantLease, keysUnder, settledWithin, startServer } from './fixture.js';

const name = Buffer.from('svc');
const live = (): AbortSignal => new AbortController().signal;

describe('ServerElections', () => {
  it('elects the first campaigner at once and reports it as leader with its value', async () => {
    const server = await startServer();
    const lease = await grantLease(server);
    const elections = new ServerElections(server);
    const won = await elections.campaign(name, lease, Buffer.from('one'), live());
    expect(won.leader.key.toString()).toBe(`svc/${lease.toString(16)}`);
    expect(won.leader).toMatchObject({ name, rev: won.header.revision, lease });
    const leader = await elections.leader(name);
    expect(leader.kv.value.toString()).toBe('one');
    expect(leader.kv.createRevision).toBe(won.leader.rev);
    expect(leader.kv.lease).toBe(lease);
  });

  it('answers "election: no leader" for a name nobody campaigns on', async () => {
    const server = await startServer();
    await expect(new ServerElections(server).leader(name)).rejects.toThrow(/^election: no leader$/);
  });

  it('makes the second campaigner wait until the leader resigns', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const elections = new ServerElections(server);
    const first = await elections.campaign(name, a, Buffer.from('a'), live());
    const second = elections.campaign(name, b, Buffer.from('b'), live());
    expect(await settledWithin(second, 100)).toBe('pending');
    expect((await elections.leader(name)).kv.value.toString()).toBe('a');
    const resigned = await elections.resign(first.leader);
    expect(resigned.header.revision).toBeGreaterThan(first.header.revision);
    const won = await second;
    expect(won.leader.key.toString()).toBe(`svc/${b.toString(16)}`);
    expect((await elections.leader(name)).kv.value.toString()).toBe('b');
  });

  it('proclaims only while the leader key is the incarnation named by rev', async () => {
    const server = await startServer();
    const lease = await grantLease(server);
    const elections = new ServerElections(server);
    const won = await elections.campaign(name, lease, Buffer.from('v1'), live());
    const proclaimed = await elections.proclaim(won.leader, Buffer.from('v2'));
    expect((await elections.leader(name)).kv.value.toString()).toBe('v2');
    expect((await elections.leader(name)).kv.modRevision).toBe(proclaimed.header.revision);

    await expect(elections.proclaim({ ...won.leader, rev: won.leader.rev + 100 }, Buffer.from('x'))).rejects.toThrow(/^election: not leader$/);
    await elections.resign(won.leader);
    // Campaigning again recreates the key at a new revision: the old LeaderKey no longer leads.
    const again = await elections.campaign(name, lease, Buffer.from('v3'), live());
    expect(again.leader.rev).toBeGreaterThan(won.leader.rev);
    await expect(elections.proclaim(won.leader, Buffer.from('stale'))).rejects.toThrow('election: not leader');
    expect((await elections.leader(name)).kv.value.toString()).toBe('v3');
    // A stale resign changes nothing and still succeeds, as etcd.
    await elections.resign(won.leader);
    expect((await elections.leader(name)).kv.value.toString()).toBe('v3');
  });

  it('requires the leader field on Proclaim and Resign', async () => {
    const server = await startServer();
    const elections = new ServerElections(server);
    await expect(elections.proclaim(undefined, Buffer.from('x'))).rejects.toThrow(/^"leader" field must be provided$/);
    await expect(elections.resign(undefined)).rejects.toThrow('"leader" field must be provided');
  });

  it('re-campaigning with the same lease and a new value keeps the place and proclaims the value', async () => {
    const server = await startServer();
    const lease = await grantLease(server);
    const elections = new ServerElections(server);
    const first = await elections.campaign(name, lease, Buffer.from('old'), live());
    const second = await elections.campaign(name, lease, Buffer.from('new'), live());
    expect(second.leader.rev).toBe(first.leader.rev);
    const kvs = await keysUnder(server, 'svc/');
    expect(kvs.length).toBe(1);
    expect(kvs[0]!.value.toString()).toBe('new');
  });

  it('withdraws a waiting candidate whose caller goes away', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const elections = new ServerElections(server);
    await elections.campaign(name, a, Buffer.from('a'), live());
    const abort = new AbortController();
    const waiting = elections.campaign(name, b, Buffer.from('b'), abort.signal);
    expect(await settledWithin(waiting, 50)).toBe('pending');
    expect((await keysUnder(server, 'svc/')).length).toBe(2);
    abort.abort();
    await expect(waiting).rejects.toThrow('context canceled');
    expect((await keysUnder(server, 'svc/')).map((kv) => kv.value.toString())).toEqual(['a']);
  });

  it('observes the first leader, its proclamations, and the next leader after a resign', async () => {
    const server = await startServer();
    const [a, b] = await Promise.all([grantLease(server), grantLease(server)]);
    const elections = new ServerElections(server);
    const abort = new AbortController();
    const seen: LeaderObservation[] = [];
    const reading = (async () => {
      for await (const observation of elections.observe(name, abort.signal)) {
        seen.push(observation);
        if (seen.length === 3) break;
      }
    })();
    // Nobody leads yet: the observer waits for the first campaigner.
    expect(await settledWithin(reading, 50)).toBe('pending');
    const first = await elections.campaign(name, a, Buffer.from('a1'), live());
    const second = elections.campaign(name, b, Buffer.from('b1'), live());
    const proclaimed = await elections.proclaim(first.leader, Buffer.from('a2'));
    await elections.resign(first.leader);
    const won = await second;
    await reading;
    expect(seen.map((o) => o.kv.value.toString())).toEqual(['a1', 'a2', 'b1']);
    expect(seen[0]!.header.revision).toBe(first.header.revision);
    expect(seen[1]!.header.revision).toBe(proclaimed.header.revision);
    expect(seen[2]!.kv.createRevision).toBe(won.leader.rev);
  });

  it('stops observing when the caller goes away', async () => {
    const server = await startServer();
    const elections = new ServerElections(server);
    const abort = new AbortController();
    const reading = (async () => {
      for await (const observation of elections.observe(name, abort.signal)) void observation;
    })();
    expect(await settledWithin(reading, 50)).toBe('pending');
    abort.abort();
    await expect(reading).rejects.toThrow('context canceled');
  });
});
