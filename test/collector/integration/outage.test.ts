import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCollector } from '../../../src/cli/compose.js';
import { StoreSink } from '../../../src/cli/store-sink.js';
import { PgDatabase } from '../../../src/store/database.js';
import { openStore } from '../../../src/store/index.js';
import { tempDir, testLog } from '../../helpers/env.js';
import { eventually } from '../../helpers/netns.js';

/**
 * The store goes away for several intervals and comes back: the collector spools what it could not
 * write and replays it in order, so every interval is present afterwards exactly once.
 */
const INTERVAL_MS = 500;

test('a store outage of several intervals loses nothing and duplicates nothing', async () => {
  const data = tempDir('outage-data');
  const spool = tempDir('outage-spool');
  let store = await openStore({ dataDir: data.path, sqlPort: 0, maintenance: false }, testLog);
  const port = store.embedded!.port;
  const writerDb = new PgDatabase({ connectionString: store.embedded!.url('conntrail_writer'), connectTimeoutMs: 1000 });
  const collector = await startCollector({
    hostId: 'outage-host', intervalMs: INTERVAL_MS, netns: 'self', source: 'procfs', spoolDir: spool.path, metricsPort: null, metricsListen: '127.0.0.1',
  }, new StoreSink(writerDb, testLog), testLog);
  try {
    const count = async (): Promise<number> => Number((await store.admin.query<{ n: number }>(`SELECT count(*) AS n FROM conntrail.snapshots WHERE host_id = 'outage-host'`)).rows[0]?.n);
    await eventually('three snapshots before the outage', 15_000, async () => ((await count()) >= 3 ? true : undefined));
    await store.close();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 6 * INTERVAL_MS));
    store = await openStore({ dataDir: data.path, sqlPort: port, maintenance: false }, testLog);
    const upAt = Date.now();
    // Wait until the collector has written intervals after the outage, and the spooled ones with them.
    await eventually('writes after the outage', 20_000, async () => {
      const last = (await store.admin.query<{ t: Date }>(`SELECT max(time) AS t FROM conntrail.snapshots WHERE host_id = 'outage-host'`)).rows[0]?.t;
      return last && last.getTime() > upAt + INTERVAL_MS ? true : undefined;
    });
    await collector.stop();
    const rows = (await store.admin.query<{ t: Date; n: number; errors: string[] }>(
      `SELECT time AS t, count(*) OVER (PARTITION BY time) AS n, errors FROM conntrail.snapshots WHERE host_id = 'outage-host' ORDER BY time`)).rows;
    assert.ok(rows.every((r) => Number(r.n) === 1), 'an interval was stored twice');
    // An interval may be missing only when the collector said so (a tick it had to skip while overloaded),
    // in a later snapshot's completeness record.
    const said = new Set(rows.flatMap((r) => r.errors).map((e) => /skipped the interval of (\S+):/.exec(e)?.[1]).filter(Boolean));
    const times = rows.map((r) => r.t.getTime());
    for (let t = times[0] ?? 0; t <= (times[times.length - 1] ?? 0); t += INTERVAL_MS) {
      if (!times.includes(t)) assert.ok(said.has(new Date(t).toISOString()), `interval ${new Date(t).toISOString()} is missing and no snapshot says why`);
    }
    const during = times.filter((t) => t >= downAt && t < upAt - INTERVAL_MS);
    assert.ok(during.length >= 3, `expected the outage's intervals to be replayed from the spool, got ${during.length}`);
  } finally {
    await collector.stop().catch(() => undefined);
    await writerDb.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    data.remove();
    spool.remove();
  }
});
