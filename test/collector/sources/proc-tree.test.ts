import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listNetNamespaces, readNetnsInode } from '../../../src/collector/sources/procfs/netns.js';
import { readNetTables } from '../../../src/collector/sources/procfs/net-tables-reader.js';
import { isListeningEntry } from '../../../src/collector/sources/procfs/net-table.js';
import { walkSocketOwners } from '../../../src/collector/sources/procfs/fd-walk.js';
import { ProcfsScanMemory, takeProcfsSnapshot } from '../../../src/collector/sources/procfs/snapshot.js';
import { createProcContext, readProcessInfo } from '../../../src/collector/sources/process/reader.js';
import { ProcessCache } from '../../../src/collector/sources/process/cache.js';
import { fixturePath } from './fixtures.js';

/**
 * The fixture tree test/fixtures/proc-tree is a small /proc: pids 100 and 101 (nginx) in the root netns
 * 4026531840, pids 200 (whose net/ is gone, as if it exited) and 201 (redis) in a container netns
 * 4026532999, pid 300 with no readable links; self -> 100; btime 1700000000.
 */
const ROOT = fixturePath('proc-tree');
const HOST_NS = 4026531840;
const CONTAINER_NS = 4026532999;
const BOOT_MS = 1700000000 * 1000;
const CONTAINER_ID = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

test('namespaces: one entry per netns inode with its pids; unreadable links counted', () => {
  const listing = listNetNamespaces(ROOT);
  assert.deepEqual([...listing.namespaces.entries()], [[HOST_NS, [100, 101]], [CONTAINER_NS, [200, 201]]]);
  assert.equal(listing.unreadable, 1);
  assert.equal(readNetnsInode(ROOT, 'self'), HOST_NS);
  assert.throws(() => readNetnsInode(ROOT, 300), { code: 'PROC_UNREADABLE' });
});

test('self mode reads only our own namespace', () => {
  const read = readNetTables({ root: ROOT, netns: 'self' });
  assert.deepEqual(read.errors, []);
  assert.equal(read.namespaces.length, 1);
  assert.equal(read.namespaces[0]?.netns, HOST_NS);
  assert.equal(read.namespaces[0]?.pid, null);
  assert.deepEqual(read.namespaces[0]?.entries.map((e) => e.inode), [1001, 1002, null, 1101]);
  assert.equal(read.skipped, 1); // the garbage line in 100/net/tcp
});

test('all mode reads each namespace once, through another pid when the first one vanished', () => {
  const read = readNetTables({ root: ROOT, netns: 'all' });
  assert.deepEqual(read.errors, []);
  assert.deepEqual(read.namespaces.map((n) => [n.netns, n.pid, n.entries.length]), [[HOST_NS, 100, 4], [CONTAINER_NS, 201, 3]]);
  // 201's sockstat counts show no UDP and no IPv6 sockets: only its tcp table is read. 100 has no counts.
  assert.deepEqual(read.namespaces.map((n) => n.tablesSkipped), [0, 3]);
  const pidMode = readNetTables({ root: ROOT, netns: { pid: 201 } });
  assert.deepEqual(pidMode.namespaces.map((n) => [n.netns, n.pid]), [[CONTAINER_NS, 201]]);
  const gone = readNetTables({ root: ROOT, netns: { pid: 999 } });
  assert.equal(gone.namespaces.length, 0);
  assert.equal(gone.errors.length, 1);
});

test('fd walk maps socket inodes to (pid, start time); shared sockets keep the lowest pid', () => {
  const ctx = createProcContext(ROOT);
  assert.equal(ctx.bootTimeMs, BOOT_MS);
  const walked = walkSocketOwners(ctx);
  assert.deepEqual(Object.fromEntries([...walked.owners].map(([inode, key]) => [inode, key])), {
    1001: { pid: 100, startedAtMs: BOOT_MS + 123450 },
    1002: { pid: 100, startedAtMs: BOOT_MS + 123450 },
    1101: { pid: 101, startedAtMs: BOOT_MS + 124000 },
    2001: { pid: 200, startedAtMs: BOOT_MS + 500000 },
    2002: { pid: 201, startedAtMs: BOOT_MS + 500100 },
  });
  assert.equal(walked.stats.pids, 5);
  assert.equal(walked.stats.fdsRead, 9);
  assert.equal(walked.stats.sockets, 5);
  assert.equal(walked.stats.vanished, 1); // pid 300 has no fd directory
  assert.equal(walked.stats.errors, 0);
});

test('fd walk for known inodes stops once they all have an owner', () => {
  const walked = walkSocketOwners(createProcContext(ROOT), new Set([1001]));
  // pid 100 owns 1001: its other fds are still read, no further process is.
  assert.deepEqual([...walked.owners.keys()], [1001, 1002]);
  assert.equal(walked.stats.fdsRead, 5);
});

test('process identity: name, exe, cmdline, uid, cgroup and container id', () => {
  const ctx = createProcContext(ROOT);
  assert.deepEqual(readProcessInfo(ctx, 100), {
    pid: 100, startedAtMs: BOOT_MS + 123450, name: 'nginx', exe: '/usr/sbin/nginx',
    cmdline: 'nginx: master process -g daemon off;', uid: 33, cgroup: '/system.slice/nginx.service', containerId: null,
  });
  assert.deepEqual(readProcessInfo(ctx, 200), {
    pid: 200, startedAtMs: BOOT_MS + 500000, name: 'weird) name (x', exe: null, cmdline: '', uid: 0,
    cgroup: `/system.slice/docker-${CONTAINER_ID}.scope`, containerId: CONTAINER_ID,
  });
  assert.equal(readProcessInfo(ctx, 12345), null);
});

test('process cache: hits by (pid, start time), refuses a key whose start time does not match, keeps unused live ones', () => {
  const ctx = createProcContext(ROOT);
  const cache = new ProcessCache(ctx);
  const key = { pid: 201, startedAtMs: BOOT_MS + 500100 };
  assert.equal(cache.lookupKey(key)?.name, 'redis-server');
  assert.equal(cache.lookupKey(key)?.cmdline, 'redis-server *:6379');
  assert.equal(cache.lookupPid(201)?.uid, 999);
  assert.deepEqual(cache.stats(), { size: 1, hits: 2, misses: 1, vanished: 0 });
  // The same pid with another start time is another (here: no longer existing) process.
  assert.equal(cache.lookupKey({ pid: 201, startedAtMs: BOOT_MS }), null);
  assert.equal(cache.stats().vanished, 1);
  assert.equal(cache.sweep(), 0); // used since the last sweep
  assert.equal(cache.sweep(), 0); // not used since, but still running in the tree
  assert.equal(cache.stats().size, 1);
});

test('snapshot of the fixture tree: observations, listening sockets and processes, tagged by netns', () => {
  const ctx = createProcContext(ROOT);
  const snap = takeProcfsSnapshot({ ctx, netns: 'all' });
  assert.deepEqual(snap.errors, []);
  assert.equal(snap.skipped, 1);
  assert.deepEqual(
    snap.observations.map((o) => [o.netns, o.protocol, o.local.address, o.local.port, o.remote.address, o.remote.port, o.state, o.process?.pid ?? null]),
    [
      [HOST_NS, 'tcp', '10.0.0.1', 80, '10.0.0.9', 51000, 'ESTABLISHED', 100],
      [HOST_NS, 'tcp', '10.0.0.1', 80, '10.0.0.8', 51001, 'TIME_WAIT', null],
      [CONTAINER_NS, 'tcp', '172.17.0.2', 6379, '172.17.0.1', 40000, 'ESTABLISHED', 200],
      [CONTAINER_NS, 'tcp', '172.17.0.2', 6379, '172.17.0.1', 40001, 'ESTABLISHED', null],
    ],
  );
  assert.ok(snap.observations.every((o) => o.source === 'procfs' && o.direction === 'unknown' && o.bytesSent === null));
  assert.deepEqual(snap.listening, [
    { netns: HOST_NS, protocol: 'tcp', family: 4, address: '0.0.0.0', port: 80, process: { pid: 100, startedAtMs: BOOT_MS + 123450 } },
    { netns: HOST_NS, protocol: 'udp', family: 4, address: '0.0.0.0', port: 5353, process: { pid: 101, startedAtMs: BOOT_MS + 124000 } },
    { netns: CONTAINER_NS, protocol: 'tcp', family: 4, address: '0.0.0.0', port: 6379, process: { pid: 201, startedAtMs: BOOT_MS + 500100 } },
  ]);
  assert.deepEqual(snap.processes.map((p) => [p.pid, p.name, p.containerId]).sort((a, b) => Number(a[0]) - Number(b[0])), [
    [100, 'nginx', null], [101, 'nginx', null], [200, 'weird) name (x', CONTAINER_ID], [201, 'redis-server', CONTAINER_ID],
  ]);
  assert.equal(snap.stats.unowned, 1); // inode 2003 belongs to no walked process
  assert.equal(snap.stats.namespaces, 2);
});

test('snapshots with memory: unchanged sockets are the same objects, a changed owner makes a new one', () => {
  const ctx = createProcContext(ROOT);
  const owners = walkSocketOwners(ctx);
  const memory = new ProcfsScanMemory();
  const first = takeProcfsSnapshot({ ctx, netns: 'all', owners, memory });
  const second = takeProcfsSnapshot({ ctx, netns: 'all', owners, memory });
  assert.deepEqual(second.observations, first.observations);
  // Sockets with an inode come back as the very same objects; TIME_WAIT (no inode) is rebuilt.
  assert.deepEqual(second.observations.map((o, i) => o === first.observations[i]), [true, false, true, true]);
  // The same socket under another owner is a new observation.
  const moved = new Map(owners.owners);
  moved.set(1002, { pid: 101, startedAtMs: BOOT_MS + 124000 });
  const third = takeProcfsSnapshot({ ctx, netns: 'all', owners: { owners: moved, stats: owners.stats }, memory });
  assert.notEqual(third.observations[0], second.observations[0]);
  assert.equal(third.observations[0]?.process?.pid, 101);
  assert.equal(third.observations[2], second.observations[2]);
  // Without memory, nothing is shared.
  assert.ok(takeProcfsSnapshot({ ctx, netns: 'all', owners }).observations.every((o, i) => o !== first.observations[i]));
});

test('listeners only: a TCP table is read up to its first connected socket, UDP tables whole', () => {
  const full = readNetTables({ root: ROOT, netns: 'all' });
  const head = readNetTables({ root: ROOT, netns: 'all', listenersOnly: true });
  assert.deepEqual(head.errors, []);
  // 100's tcp table: the listener on 80, then an established socket where reading stops (and the garbage line after it is never seen).
  assert.deepEqual(head.namespaces.map((n) => n.entries.map((e) => [e.protocol, e.state, e.local.port])), [
    [['tcp', 'LISTEN', 80], ['udp', 'CLOSE', 5353]],
    [['tcp', 'LISTEN', 6379]],
  ]);
  assert.equal(head.skipped, 0);
  const listeners = (r: typeof full): unknown[] => r.namespaces.flatMap((n) => n.entries.filter(isListeningEntry).map((e) => [n.netns, e.protocol, e.local.port]));
  assert.deepEqual(listeners(head), listeners(full));
});
