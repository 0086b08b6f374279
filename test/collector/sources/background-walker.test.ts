import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../../src/domain/logger.js';
import { BackgroundFdWalker, scheduleNextWalk } from '../../../src/collector/sources/procfs/background-fd-walker.js';
import { readNetTables } from '../../../src/collector/sources/procfs/net-tables-reader.js';
import { createProcContext } from '../../../src/collector/sources/process/reader.js';
import { waitFor } from './helpers.js';

test('the tick period is rescaled toward the target walk time, within bounds', () => {
  // Took 5 s of a 10 s target: half the speed is enough, so the tick doubles.
  assert.deepEqual(scheduleNextWalk(50, 5_000, 10_000, 50, 500), { tickMs: 100, restMs: 5_000 });
  // Took twice the target: tick halves, but not below the minimum; no rest.
  assert.deepEqual(scheduleNextWalk(80, 20_000, 10_000, 50, 500), { tickMs: 50, restMs: 0 });
  // A very fast walk slows down to the maximum tick.
  assert.deepEqual(scheduleNextWalk(50, 10, 10_000, 50, 500), { tickMs: 500, restMs: 9_990 });
});

test('background walker on the live /proc: finds a new socket, adapts its tick, reports stats', async () => {
  const ctx = createProcContext();
  const walker = new BackgroundFdWalker({ ctx, logger: silentLogger, blockSize: 20, targetWalkMs: 400, minTickMs: 1, maxTickMs: 40, initialTickMs: 1 });
  const server = createServer();
  try {
    assert.equal(walker.latest(), null);
    walker.start();
    walker.start(); // idempotent
    const first = await walker.nextWalk(20_000);
    assert.ok(first.stats.fdsRead > 0);
    assert.equal(walker.latest(), first);
    // A socket opened now is found by a later walk, owned by this process.
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    const entry = readNetTables({ netns: 'self', tables: ['tcp'] }).namespaces[0]?.entries.find((e) => e.local.port === address.port);
    assert.ok(entry?.inode);
    const later = await waitFor('a walk that saw the new socket', async () => {
      const walk = await walker.nextWalk(20_000);
      return walk.owners.get(entry.inode!) ? walk : undefined;
    }, 30_000, 0);
    assert.equal(later.owners.get(entry.inode)?.pid, process.pid);
    const stats = walker.stats();
    assert.ok(stats.walks >= 2);
    assert.equal(stats.running, true);
    assert.equal(stats.failedWalks, 0);
    assert.ok(stats.lastWalk !== null && stats.lastWalk.durationMs > 0);
    // A walk well within the 400 ms target slows the next one down: the tick at least doubles from
    // wherever it was (>= 1 ms). Whether the walk was that fast depends on how many fds this host has open.
    if (stats.lastWalk.durationMs < 200) assert.ok(stats.tickMs >= 2, `tick ${stats.tickMs} after ${stats.lastWalk.durationMs} ms`);
    assert.ok(stats.tickMs >= 1 && stats.tickMs <= 40);
  } finally {
    walker.stop();
    server.close();
  }
  assert.equal(walker.stats().running, false);
  await assert.rejects(walker.nextWalk(50));
});

test('background walker keeps going after failed walks and recovers when /proc is readable again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-walker-'));
  const root = join(dir, 'proc');
  const walker = new BackgroundFdWalker({ ctx: { root, bootTimeMs: 1_700_000_000_000, clkTck: 100 }, logger: silentLogger, targetWalkMs: 20, minTickMs: 1, maxTickMs: 5 });
  try {
    walker.start();
    await waitFor('two failed walks', () => walker.stats().failedWalks >= 2, 5_000);
    assert.equal(walker.latest(), null);
    // Now the "procfs" appears: one process holding one socket.
    mkdirSync(join(root, '42', 'fd'), { recursive: true });
    writeFileSync(join(root, '42', 'stat'), `42 (svc) S 1 ${'0 '.repeat(17)}250 0 0\n`);
    symlinkSync('socket:[777]', join(root, '42', 'fd', '3'));
    const walk = await walker.nextWalk(5_000);
    assert.deepEqual(walk.owners.get(777), { pid: 42, startedAtMs: 1_700_000_002_500 });
    // A process vanishing mid-walk is normal: drop its stat, the walk skips it without counting an error.
    rmSync(join(root, '42', 'stat'));
    const after = await walker.nextWalk(5_000);
    assert.equal(after.owners.size, 0);
    assert.equal(after.stats.errors, 0);
    assert.equal(after.stats.vanished, 1);
  } finally {
    walker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
