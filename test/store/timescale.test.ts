import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotWriter, refreshAggregates, MaintenanceRunner } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';
import { connection, snapshot } from '../helpers/snapshots.js';

const DAY = 86_400_000;

test('hypertables, continuous aggregates, compression and retention exist and work', async () => {
  const { store, dispose } = await freshStore();
  try {
    const { admin } = store;
    const hypertables = (await admin.query<{ hypertable_name: string; compression_enabled: boolean }>(
      `SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables WHERE hypertable_schema = 'conntrail' ORDER BY 1`)).rows;
    assert.deepEqual(hypertables.map((h) => h.hypertable_name), ['connections', 'dns_names', 'listening_sockets', 'nat_translations', 'snapshots']);
    assert.ok(hypertables.filter((h) => h.hypertable_name !== 'snapshots').every((h) => h.compression_enabled));
    const caggs = (await admin.query<{ view_name: string }>(`SELECT view_name FROM timescaledb_information.continuous_aggregates ORDER BY 1`)).rows;
    for (const name of ['traffic_1h', 'traffic_1m']) assert.ok(caggs.some((c) => c.view_name === name), `${name} missing`);
    const jobs = (await admin.query<{ proc_name: string; target: string; config: Record<string, unknown> }>(
      `SELECT proc_name, hypertable_name AS target, config FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY proc_name, hypertable_name`)).rows;
    const retention = Object.fromEntries(jobs.filter((j) => j.proc_name === 'policy_retention').map((j) => [j.target, j.config.drop_after]));
    assert.deepEqual(
      retention,
      { connections: '14 days', dns_names: '14 days', listening_sockets: '14 days', nat_translations: '14 days', snapshots: '90 days', traffic_1h: '365 days', traffic_1m: '90 days',
        nat_1h: '90 days', traffic_1d: '400 days', nat_1d: '400 days' });
    assert.equal(jobs.filter((j) => j.proc_name === 'policy_compression').length, 4);
    const refreshed = jobs.filter((j) => j.proc_name === 'policy_refresh_continuous_aggregate').map((j) => j.target);
    assert.ok(refreshed.includes('traffic_1m') && refreshed.includes('traffic_1h'));

    // Twenty days of one connection a day, 1000 bytes each, written the way collectors write.
    const writer = new SnapshotWriter(store.writer);
    const today = Math.floor(Date.now() / DAY) * DAY;
    for (let d = 0; d < 20; d++) {
      const timeMs = today - d * DAY + 60_000;
      await writer.write(snapshot({ hostId: 'h1', timeMs, connections: [connection({ bytesSent: 1000, bytesReceived: 10 })] }));
    }
    assert.equal(Number((await admin.query<{ n: number }>('SELECT count(*) AS n FROM conntrail.connections')).rows[0]?.n), 20);

    // Aggregates: refresh and read both levels.
    await refreshAggregates(admin, today - 3 * DAY, today + DAY);
    const minute = (await admin.query<{ b: number; n: number }>(
      `SELECT sum(bytes_sent) AS b, sum(connections) AS n FROM conntrail.traffic_1m WHERE bucket >= to_timestamp($1 / 1000.0)`, [today - 2 * DAY])).rows[0];
    assert.deepEqual(minute, { b: 3000, n: 3 });
    const hour = (await admin.query<{ b: number }>(`SELECT sum(bytes_sent) AS b FROM conntrail.traffic_1h WHERE bucket >= to_timestamp($1 / 1000.0)`, [today - 2 * DAY])).rows[0];
    assert.equal(hour?.b, 3000);

    // Compression: compress one old chunk explicitly, then its rows still read back.
    const chunk = (await admin.query<{ c: string }>(
      `SELECT format('%I.%I', chunk_schema, chunk_name) AS c FROM timescaledb_information.chunks
       WHERE hypertable_name = 'connections' AND range_end < to_timestamp($1 / 1000.0) ORDER BY range_start DESC LIMIT 1`, [today - 3 * DAY])).rows[0]?.c;
    assert.ok(chunk);
    await admin.query('SELECT compress_chunk($1::regclass)', [chunk]);
    const compressed = (await admin.query<{ is_compressed: boolean }>(
      `SELECT is_compressed FROM timescaledb_information.chunks WHERE format('%I.%I', chunk_schema, chunk_name) = $1`, [chunk])).rows[0];
    assert.equal(compressed?.is_compressed, true);
    assert.equal(Number((await admin.query<{ n: number }>('SELECT count(*) AS n FROM conntrail.connections')).rows[0]?.n), 20);

    // The maintenance runner runs the due policies: compression of old chunks, retention of raw rows past 14 days.
    const runner = new MaintenanceRunner(admin, testLog, 60_000);
    await runner.runDue();
    assert.equal(runner.snapshot.failures, 0, String(runner.snapshot.lastError));
    assert.ok(runner.snapshot.jobsRun >= 11);
    const oldest = (await admin.query<{ t: Date }>('SELECT min(time) AS t FROM conntrail.connections')).rows[0]?.t;
    assert.ok(oldest && oldest.getTime() >= today - 15 * DAY, `rows older than the retention remain: ${String(oldest)}`);
    const remaining = Number((await admin.query<{ n: number }>('SELECT count(*) AS n FROM conntrail.connections')).rows[0]?.n);
    assert.ok(remaining >= 14 && remaining <= 15, `expected 14-15 days kept, got ${remaining}`);
    const uncompressedOld = Number((await admin.query<{ n: number }>(
      `SELECT count(*) AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'connections' AND NOT is_compressed AND range_end < now() - interval '2 days'`)).rows[0]?.n);
    assert.equal(uncompressedOld, 0);

    // Retention is configurable in one call, and nonsense is refused.
    await admin.query(`SELECT conntrail.configure_retention(interval '7 days', interval '30 days', interval '180 days', interval '200 days')`);
    const kept = Object.fromEntries((await admin.query<{ t: string; d: string }>(
      `SELECT hypertable_name AS t, config->>'drop_after' AS d FROM timescaledb_information.jobs WHERE proc_name = 'policy_retention'`)).rows.map((r) => [r.t, r.d]));
    assert.deepEqual(kept, {
      connections: '7 days', dns_names: '7 days', nat_translations: '7 days', listening_sockets: '7 days', snapshots: '30 days', traffic_1m: '30 days', nat_1h: '30 days',
      traffic_1h: '180 days', traffic_1d: '200 days', nat_1d: '200 days',
    });
    await assert.rejects(admin.query(`SELECT conntrail.configure_retention(interval '30 days', interval '1 day', interval '180 days')`), /retention must be positive and grow/);
  } finally {
    await dispose();
  }
});
