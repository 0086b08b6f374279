import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MergeMemo, mergeObservations } from '../../src/collector/merge.js';
import { nat, obs } from './observations.js';

/**
 * Merging with a memo (what the tracker does every interval) must give exactly what a merge from scratch
 * gives, while handing back the very same record for a socket whose observations are the same objects
 * as last time: that is how a steady host costs next to nothing.
 */
describe('merge with a memo', () => {
  const procfs = obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 7, process: { pid: 10, startedAtMs: 1 } });
  const conntrack = obs('conntrack', '10.0.0.1:40000', '10.0.0.2:443', { bytesSent: 100, bytesReceived: 900 });

  it('the same observations of two sources give the same record; a changed one is merged anew', () => {
    const memo = new MergeMemo();
    const first = mergeObservations([procfs, conntrack], [], () => false, memo);
    const again = mergeObservations([procfs, conntrack], [], () => false, memo);
    assert.equal(again.length, 1);
    assert.equal(again[0], first[0], 'the very same record');
    assert.deepEqual(again, mergeObservations([procfs, conntrack], []), 'what a merge from scratch gives');

    const moved = { ...conntrack, bytesSent: 250 };
    const next = mergeObservations([procfs, moved], [], () => false, memo);
    assert.notEqual(next[0], first[0]);
    assert.deepEqual(next, mergeObservations([procfs, moved], []));
    assert.equal(next[0]?.counters.get('conntrack')?.bytesSent, 250);
  });

  it('a conntrack flow seen from the server end is placed on the server socket every time', () => {
    const memo = new MergeMemo();
    const server = obs('procfs', '10.0.0.2:443', '10.0.0.1:40000', { inode: 8 });
    for (let i = 0; i < 3; i++) {
      const merged = mergeObservations([server, conntrack], [], () => false, memo);
      assert.deepEqual(merged, mergeObservations([server, conntrack], []));
      assert.equal(merged.length, 1, 'one socket: the flow went onto it');
      assert.equal(merged[0]?.counters.get('conntrack')?.bytesSent, 900, 'oriented as the server: it sent the reply bytes');
    }
    // The client socket shows up as well (both ends on this host): the flow belongs to its own tuple first.
    const client = obs('procfs', '10.0.0.1:40000', '10.0.0.2:443', { inode: 9 });
    const both = mergeObservations([server, client, conntrack], [], () => false, memo);
    assert.deepEqual(both, mergeObservations([server, client, conntrack], []));
    assert.equal(both.find((m) => m.local.port === 40000)?.counters.get('conntrack')?.bytesSent, 100);
    assert.equal(both.find((m) => m.local.port === 443)?.counters.has('conntrack'), false);
  });

  it('sockets gone from a merge are gone from the next, and come back as records equal to fresh ones', () => {
    const memo = new MergeMemo();
    const other = obs('procfs', '10.0.0.1:40001', '10.0.0.2:443', { inode: 11 });
    assert.equal(mergeObservations([procfs, other], [], () => false, memo).length, 2);
    assert.deepEqual(mergeObservations([other], [], () => false, memo).map((m) => m.inode), [11]);
    // Records come in no particular order (the tracker orders what it keeps).
    const byKey = (list: ReturnType<typeof mergeObservations>): typeof list => [...list].sort((a, b) => (a.key < b.key ? -1 : 1));
    assert.deepEqual(byKey(mergeObservations([procfs, other], [nat(['10.0.0.1', 1, '10.0.0.9', 2], ['10.0.0.9', 2, '10.0.0.1', 1])], () => false, memo)),
      byKey(mergeObservations([procfs, other], [])));
  });
});
