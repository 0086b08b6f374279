import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MaintenanceRunner, SnapshotWriter, refreshAggregates, type Queryable } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';
import { connection, nat, snapshot } from '../helpers/snapshots.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

interface Sums { bytes: number; received: number; connections: number }

async function rawSums(db: Queryable, fromMs: number, toMs: number): Promise<Sums> {
  const row = (await db.query<{ bytes: string | null; received: string | null; connections: string | null }>(
    `SELECT sum(bytes_sent) AS bytes, sum(bytes_received) AS received, sum(new_count) AS connections FROM conntrail.connections
     WHERE time >= to_timestamp($1 / 1000.0) AND time < to_timestamp($2 / 1000.0)`, [fromMs, toMs])).rows[0];
  return { bytes: Number(row?.bytes ?? 0), received: Number(row?.received ?? 0), connections: Number(row?.connections ?? 0) };
}

async function aggregateSums(db: Queryable, view: string, fromMs: number, toMs: number): Promise<Sums> {
  const row = (await db.query<{ bytes: string | null; received: string | null; connections: string | null }>(
    `SELECT sum(bytes_sent) AS bytes, sum(bytes_received) AS received, sum(connections) AS connections FROM ${view}
     WHERE bucket >= to_timestamp($1 / 1000.0) AND bucket < to_timestamp($2 / 1000.0)`, [fromMs, toMs])).rows[0];
  return { bytes: Number(row?.bytes ?? 0), received: Number(row?.received ?? 0), connections: Number(row?.connections ?? 0) };
}

async function natCounts(db: Queryable, view: string | null, fromMs: number, toMs: number): Promise<number> {
  const sql = view === null
    ? `SELECT count(*) AS n FROM conntrail.nat_translations WHERE time >= to_timestamp($1 / 1000.0) AND time < to_timestamp($2 / 1000.0)`
    : `SELECT sum(sightings) AS n FROM ${view} WHERE bucket >= to_timestamp($1 / 1000.0) AND bucket < to_timestamp($2 / 1000.0)`;
  return Number((await db.query<{ n: string | null }>(sql, [fromMs, toMs])).rows[0]?.n ?? 0);
}

test('snapshots replayed after an outage longer than the aggregate refresh window reach every aggregate', async () => {
  const { store, dispose } = await freshStore();
  try {
    const writer = new SnapshotWriter(store.writer);
    const now = Date.now();
    const hostSnapshot = (timeMs: number, bytes: number, port: number, hostId = 'late-a') => snapshot({
      hostId, timeMs,
      connections: [connection({ localPort: port, bytesSent: bytes, bytesReceived: bytes * 3, newCount: 1 })],
      nat: [nat({ conntrackId: port, original: { src: '10.1.0.2', dst: '10.9.9.9', srcPort: port, dstPort: 80 }, firstSeenMs: timeMs, lastSeenMs: timeMs })],
    });

    // Before the outage (13 to 12 hours ago) the collector wrote in time and the policies materialised it then.
    const before = Math.floor((now - 13 * HOUR) / MINUTE) * MINUTE;
    for (let i = 0; i < 4; i++) await writer.write(hostSnapshot(before + i * 15_000, 1000 + i, 41000 + i));
    await refreshAggregates(store.admin, before - HOUR, before + HOUR);
    // Another host kept writing meanwhile, and the policies materialised its data: every aggregate's watermark
    // is now recent, so what is written below it is read from the materialised buckets only.
    await writer.write(hostSnapshot(Math.floor((now - 10 * MINUTE) / MINUTE) * MINUTE, 7, 43000, 'late-b'));
    const runner = new MaintenanceRunner(store.admin, testLog, 60_000);
    await runner.runDue();

    // The outage: the collector spooled 11 to 7 hours ago, out of the 6-hour reach of the 1-minute policy.
    // Its spool is replayed now.
    const spooled: number[] = [];
    for (let t = Math.floor((now - 11 * HOUR) / MINUTE) * MINUTE; t < now - 7 * HOUR; t += 20 * MINUTE) spooled.push(t);
    for (const [i, t] of spooled.entries()) {
      const result = await writer.write(hostSnapshot(t, 500 + i, 42000 + i));
      assert.equal(result.written, true);
    }

    // The maintenance runner runs the due jobs, as it does every tick.
    await new MaintenanceRunner(store.admin, testLog, 60_000).runDue();

    // Every aggregate now equals the raw rows over the same whole buckets.
    const fromMs = Math.floor((now - 2 * DAY) / DAY) * DAY;
    const toMs = Math.ceil(now / DAY) * DAY + DAY;
    const raw = await rawSums(store.admin, fromMs, toMs);
    assert.equal(raw.connections, 4 + spooled.length + 1);
    for (const view of ['conntrail.traffic_1m', 'conntrail.traffic_1h', 'conntrail.traffic_1d']) {
      assert.deepEqual(await aggregateSums(store.admin, view, fromMs, toMs), raw, view);
    }
    // Also per hour of the outage, so a sum that only matches overall cannot pass.
    for (let h = Math.floor((now - 11 * HOUR) / HOUR) * HOUR; h < now - 7 * HOUR; h += HOUR) {
      const rawHour = await rawSums(store.admin, h, h + HOUR);
      assert.deepEqual(await aggregateSums(store.admin, 'conntrail.traffic_1m', h, h + HOUR), rawHour, `traffic_1m hour ${new Date(h).toISOString()}`);
      assert.deepEqual(await aggregateSums(store.admin, 'conntrail.traffic_1h', h, h + HOUR), rawHour, `traffic_1h hour ${new Date(h).toISOString()}`);
    }
    const rawNat = await natCounts(store.admin, null, fromMs, toMs);
    for (const view of ['conntrail.nat_1h', 'conntrail.nat_1d']) assert.equal(await natCounts(store.admin, view, fromMs, toMs), rawNat, view);

    // The notes were handled and cleared; a fresh write is not noted (the policies reach it).
    assert.equal(Number((await store.admin.query<{ n: string }>('SELECT count(*) AS n FROM conntrail.late_writes')).rows[0]?.n), 0);
    await writer.write(hostSnapshot(Math.floor((now - 5 * MINUTE) / MINUTE) * MINUTE, 9, 43001));
    assert.equal(Number((await store.admin.query<{ n: string }>('SELECT count(*) AS n FROM conntrail.late_writes')).rows[0]?.n), 0);
  } finally {
    await dispose();
  }
});
