import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TCP_STATES } from '../../../src/domain/connection.js';
import { createAddressCache, isConnectedEntry, isListeningEntry, parseNetTable } from '../../../src/collector/sources/procfs/net-table.js';
import { parseSockstat, tableMayHaveEntries } from '../../../src/collector/sources/procfs/sockstat.js';
import { fixtureBytes, fixtureText } from './fixtures.js';

test('tcp: every kernel TCP state code maps to its SocketState', () => {
  const parsed = parseNetTable(fixtureBytes('procfs', 'tcp-all-states.txt'), { protocol: 'tcp', family: 4 });
  assert.equal(parsed.skipped, 0);
  assert.deepEqual(parsed.entries.map((e) => e.state), [...TCP_STATES]);
  const established = parsed.entries[0];
  assert.deepEqual(established, {
    protocol: 'tcp', family: 4,
    local: { address: '10.1.2.3', port: 40000 }, remote: { address: '192.168.7.9', port: 443 },
    state: 'ESTABLISHED', inode: 5000, uid: 1000, txQueue: 0, rxQueue: 0,
  });
  const finWait2 = parsed.entries[4];
  assert.equal(finWait2?.txQueue, 0x40);
  assert.equal(finWait2?.rxQueue, 4);
  // TIME_WAIT and request sockets have no inode.
  assert.equal(parsed.entries[5]?.inode, null);
  assert.equal(parsed.entries[11]?.inode, null);
  const listening = parsed.entries.filter(isListeningEntry);
  assert.deepEqual(listening.map((e) => [e.local.address, e.local.port, e.uid]), [['0.0.0.0', 8080, 0]]);
  assert.equal(parsed.entries.filter(isConnectedEntry).length, 11);
});

test('text input parses like bytes', () => {
  const fromText = parseNetTable(fixtureText('procfs', 'tcp-all-states.txt'), { protocol: 'tcp', family: 4 });
  const fromBytes = parseNetTable(fixtureBytes('procfs', 'tcp-all-states.txt'), { protocol: 'tcp', family: 4 });
  assert.deepEqual(fromText, fromBytes);
});

test('with the previous parse: unchanged lines give the same entries, changed and moved lines are read anew', () => {
  const text = fixtureText('procfs', 'tcp-all-states.txt');
  const lines = text.split('\n');
  const addresses = createAddressCache();
  const first = parseNetTable(text, { protocol: 'tcp', family: 4, addresses });
  const again = parseNetTable(text, { protocol: 'tcp', family: 4, addresses, previous: first.entries });
  assert.deepEqual(again.entries, first.entries);
  assert.equal(again.skipped, first.skipped);
  assert.deepEqual(again.inodes, { added: [], removed: [] }, 'the same sockets: nothing came or went');
  // Every entry with an inode is the very same object; TIME_WAIT and request sockets (no inode) are new.
  assert.deepEqual(again.entries.map((e, i) => e === first.entries[i]), first.entries.map((e) => e.inode !== null));
  // Line 1 (inode 5000) goes, line 2 (inode 5001) changes its queues, the last two swap places.
  const changed = [lines[0], lines[2]?.replace('00000010:00000001', '00000011:00000001'), ...lines.slice(3, -3), lines[lines.length - 2], lines[lines.length - 3], ''];
  const next = parseNetTable(changed.join('\n'), { protocol: 'tcp', family: 4, addresses, previous: again.entries });
  const scratch = parseNetTable(changed.join('\n'), { protocol: 'tcp', family: 4 });
  assert.deepEqual(next.entries, scratch.entries, 'the same values as a parse from scratch');
  assert.deepEqual(next.inodes, { added: [], removed: [5000] }, 'a changed or moved line is the same socket; only 5000 went');
  const reused = (e: (typeof next.entries)[number]): boolean => again.entries.includes(e);
  assert.equal(next.entries[0]?.inode, 5001);
  assert.equal(reused(next.entries[0]!), false, 'changed queues: a new entry');
  assert.equal(next.entries[0]?.txQueue, 0x11);
  assert.ok(next.entries.slice(1).every((e) => reused(e) === (e.inode !== null)), 'the rest, moved or not, reused');
});

test('with the previous parse: sockets that came and went, in a long table reshuffled or not', () => {
  const line = (sl: number, port: number, inode: number): string =>
    `${String(sl).padStart(4)}: 0100007F:${port.toString(16).toUpperCase().padStart(4, '0')} 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1`;
  const header = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
  const table = (inodes: readonly number[]): string => [header, ...inodes.map((inode, i) => line(i, 40000 + (inode % 20000), inode)), ''].join('\n');
  const base = Array.from({ length: 1000 }, (_, i) => 100_000 + i);
  const first = parseNetTable(table(base), { protocol: 'tcp', family: 4 });
  // A few go (some in a run longer than the look-ahead), a few come in between, two swap places.
  const gone = new Set([100_010, ...Array.from({ length: 40 }, (_, i) => 100_500 + i), 100_999]);
  const kept = base.filter((inode) => !gone.has(inode));
  const next = [...kept.slice(0, 100), 900_001, ...kept.slice(100, 300), 900_002, 900_003, ...kept.slice(300)];
  [next[5], next[6]] = [next[6] as number, next[5] as number];
  const parsed = parseNetTable(table(next), { protocol: 'tcp', family: 4, previous: first.entries });
  assert.deepEqual([...(parsed.inodes?.added ?? [])].sort(), [900_001, 900_002, 900_003]);
  assert.deepEqual([...(parsed.inodes?.removed ?? [])].sort(), [...gone].sort());
  const before = new Set(first.entries);
  assert.equal(parsed.entries.filter((e) => before.has(e)).length, kept.length, 'every socket that stayed is the same entry');
  // A table in another order altogether: still exact (an index of the previous parse takes over).
  const shuffled = [...next].reverse();
  const again = parseNetTable(table(shuffled), { protocol: 'tcp', family: 4, previous: parsed.entries });
  assert.deepEqual(again.inodes, { added: [], removed: [] });
});

test('tcp6: canonical IPv6 text, IPv4-mapped addresses unwrapped', () => {
  const parsed = parseNetTable(fixtureBytes('procfs', 'tcp6.txt'), { protocol: 'tcp', family: 6 });
  assert.equal(parsed.skipped, 0);
  assert.deepEqual(parsed.entries.map((e) => [e.local.address, e.local.port, e.remote.address, e.remote.port, e.state]), [
    ['::', 22, '::', 0, 'LISTEN'],
    ['127.0.0.1', 8080, '127.0.0.1', 51000, 'ESTABLISHED'],
    ['2001:db8::1', 443, '2001:db8::1:0:0:1', 52000, 'ESTABLISHED'],
    ['::1', 9000, '::1', 53000, 'ESTABLISHED'],
    ['fe80::1ff:fe23:4567:890a', 1234, '2001:db8:85a3::8a2e:370:7334', 5678, 'CLOSE_WAIT'],
  ]);
  assert.ok(parsed.entries.every((e) => e.family === 6 && e.protocol === 'tcp'));
  assert.equal(isListeningEntry(parsed.entries[0]!), true);
});

test('udp: 07 is an unconnected (listening if bound) socket, 01 a connected one', () => {
  const parsed = parseNetTable(fixtureBytes('procfs', 'udp.txt'), { protocol: 'udp', family: 4 });
  assert.equal(parsed.skipped, 0);
  assert.deepEqual(parsed.entries.map((e) => [e.local.port, e.state, isListeningEntry(e), isConnectedEntry(e)]), [
    [53, 'CLOSE', true, false],
    [41000, 'ESTABLISHED', false, true],
    [0, 'CLOSE', false, false], // unbound: neither
    [68, 'CLOSE', true, false],
  ]);
  assert.equal(parsed.entries[3]?.rxQueue, 0x300);
  const v6 = parseNetTable(fixtureBytes('procfs', 'udp6.txt'), { protocol: 'udp', family: 6 });
  assert.deepEqual(v6.entries.map((e) => [e.local.address, e.local.port, e.remote.address, isListeningEntry(e)]), [
    ['::', 5353, '::', true],
    ['2001:db8::5', 40001, '2001:db8::53', false],
  ]);
});

test('malformed and truncated lines are counted and skipped, good lines around them kept', () => {
  const parsed = parseNetTable(fixtureBytes('procfs', 'tcp-malformed.txt'), { protocol: 'tcp', family: 4 });
  assert.deepEqual(parsed.entries.map((e) => e.inode), [9000, 9001, 9002]);
  assert.equal(parsed.skipped, 6);
  // The wrong family for the file is malformed too, and nothing throws on arbitrary bytes.
  assert.equal(parseNetTable(fixtureBytes('procfs', 'tcp-all-states.txt'), { protocol: 'tcp', family: 6 }).entries.length, 0);
  const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256));
  const fromNoise = parseNetTable(noise, { protocol: 'udp', family: 4 });
  assert.equal(fromNoise.entries.length, 0);
  assert.equal(parseNetTable('', { protocol: 'tcp', family: 4 }).skipped, 0);
});

test('sockstat counts tell which tables can be skipped; TIME_WAIT keeps both TCP tables', () => {
  const counts = parseSockstat('sockets: used 9\nTCP: inuse 0 orphan 0 tw 2 alloc 1 mem 0\nUDP: inuse 4 mem 1\nTCP6: inuse 0\nUDP6: inuse 0\n');
  assert.equal(counts.get('TCP')?.get('tw'), 2);
  assert.deepEqual((['tcp', 'tcp6', 'udp', 'udp6'] as const).map((t) => tableMayHaveEntries(counts, t)), [true, true, true, false]);
  const quiet = parseSockstat('TCP: inuse 0 orphan 0 tw 0 alloc 0 mem 0\nTCP6: inuse 1\n');
  assert.deepEqual((['tcp', 'tcp6', 'udp', 'udp6'] as const).map((t) => tableMayHaveEntries(quiet, t)), [false, true, true, true]);
  assert.equal(tableMayHaveEntries(parseSockstat('garbage'), 'tcp'), true);
});
