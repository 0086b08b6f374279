import { test } from 'node:test';
import assert from 'node:assert/strict';
import { STALE_AFTER_INTERVALS, assessHealth } from '../../src/collector/health.js';

const BASE = { startedMs: 1_000_000, intervalMs: 15_000, spoolDepth: 0, source: 'ebpf', fallbackReason: null };

test('health: starting before the first snapshot, ok while snapshots keep coming, stale after three intervals without', () => {
  const limit = STALE_AFTER_INTERVALS * BASE.intervalMs;
  assert.equal(assessHealth({ ...BASE, nowMs: BASE.startedMs + 1000, lastWrittenMs: null }).status, 'starting');
  assert.equal(assessHealth({ ...BASE, nowMs: BASE.startedMs + limit + 1, lastWrittenMs: null }).status, 'stale');
  const ok = assessHealth({ ...BASE, nowMs: 2_000_000, lastWrittenMs: 2_000_000 - 15_000, spoolDepth: 2 });
  assert.deepEqual(ok, {
    status: 'ok', lastSnapshotTime: new Date(1_985_000).toISOString(), lastSnapshotAgeSeconds: 15, intervalSeconds: 15, spoolDepth: 2, source: 'ebpf', fallbackReason: null,
  });
  assert.equal(assessHealth({ ...BASE, nowMs: 2_000_000, lastWrittenMs: 2_000_000 - limit - 1 }).status, 'stale');
});
