import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BenchOptionError, benchTargets, optionValue } from '../../bench/targets.js';

test('benches run embedded, on a server given its three logins, or both; a partial server is refused', () => {
  assert.deepEqual(benchTargets([], {}).map((t) => t.name), ['embedded']);
  const urls = ['--database-url', 'postgres://o@db/x', '--writer-url=postgres://w@db/x', '--reader-url', 'postgres://r@db/x'];
  assert.deepEqual(benchTargets(urls, {}).map((t) => t.name), ['embedded', 'server']);
  assert.deepEqual(benchTargets([...urls, '--server-only'], {}).map((t) => t.name), ['server']);
  const env = { CONNTRAIL_BENCH_DATABASE_URL: 'postgres://o@db/x', CONNTRAIL_BENCH_WRITER_URL: 'postgres://w@db/x', CONNTRAIL_BENCH_READER_URL: 'postgres://r@db/x' };
  assert.deepEqual(benchTargets([], env).map((t) => t.name), ['embedded', 'server']);
  assert.throws(() => benchTargets(['--database-url', 'postgres://o@db/x'], {}), BenchOptionError);
  assert.throws(() => benchTargets(['--server-only'], {}), /needs --database-url/);
  assert.throws(() => optionValue(['--database-url', '--server-only'], 'database-url'), /needs a value/);
  assert.equal(optionValue(['--rows=1000'], 'rows'), '1000');
});
