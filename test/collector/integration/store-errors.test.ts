import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { StoreSink } from '../../../src/cli/store-sink.js';
import { CollectorLoop } from '../../../src/collector/loop.js';
import { CollectorMetrics } from '../../../src/collector/metrics.js';
import { ProcfsSource } from '../../../src/collector/sources/procfs-source.js';
import { Spool } from '../../../src/collector/spool.js';
import { Tracker } from '../../../src/collector/tracker.js';
import type { Store } from '../../../src/store/index.js';
import { freshStore, tempDir, testLog } from '../../helpers/env.js';

/**
 * The collector against a real embedded store that answers with errors: the store itself raises them
 * (a trigger on conntrail.hosts, which the writer inserts into first, raises the SQLSTATE chosen for a
 * host), so each error reaches the collector through the real writer, pg pool and wire protocol. Every
 * error but a row-level data error (classes 22/23) must leave the snapshot spooled and replayed once the
 * store answers again; refused snapshots are dropped, and each one is counted.
 */
const INTERVAL_MS = 1000;

const FAILURES = `
  CREATE TABLE public.store_errors_test (host_id text PRIMARY KEY, sqlstate text NOT NULL);
  CREATE FUNCTION public.store_errors_test_raise() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE state text;
  BEGIN
    SELECT sqlstate INTO state FROM public.store_errors_test WHERE host_id = NEW.host_id;
    IF FOUND THEN
      RAISE EXCEPTION 'the store answers % (test)', state USING ERRCODE = state;
    END IF;
    RETURN NEW;
  END $$;
  CREATE TRIGGER store_errors_test BEFORE INSERT ON conntrail.hosts FOR EACH ROW EXECUTE FUNCTION public.store_errors_test_raise();`;

interface Rig {
  readonly loop: CollectorLoop;
  readonly spool: Spool;
  readonly registry: Registry;
  dispose(): Promise<void>;
}

async function rig(store: Store, hostId: string): Promise<Rig> {
  const dir = tempDir('store-errors-spool');
  const spool = await Spool.open({ dir: dir.path, logger: testLog });
  const registry = new Registry();
  const source = new ProcfsSource({ netns: 'self', logger: testLog });
  const loop = new CollectorLoop({
    sources: [source], tracker: new Tracker({ hostId, intervalMs: INTERVAL_MS }), sink: new StoreSink(store.writer, testLog),
    spool, logger: testLog, metrics: new CollectorMetrics(registry), intervalMs: INTERVAL_MS,
    // Driven by runOnce: generous bounds, the machine is shared.
    sourceTimeoutMs: 20_000, tickTimeoutMs: 60_000,
  });
  return {
    loop, spool, registry,
    async dispose() {
      await loop.stop();
      await source.close();
      dir.remove();
    },
  };
}

async function snapshotsTotal(registry: Registry, outcome: string): Promise<number> {
  const metric = registry.getSingleMetric('conntrail_collector_snapshots_total');
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
}

describe('collector against a store that errs', () => {
  let store: Store;
  let dispose: () => Promise<void>;
  // Far enough in the past that runOnce's intervals never meet the wall clock's.
  const base = Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS - 10_000 * INTERVAL_MS;

  before(async () => {
    ({ store, dispose } = await freshStore());
    await store.admin.query(FAILURES);
  });
  after(async () => {
    await dispose();
  });

  const fail = (hostId: string, sqlState: string): Promise<unknown> =>
    store.admin.query('INSERT INTO public.store_errors_test (host_id, sqlstate) VALUES ($1, $2)', [hostId, sqlState]);
  const recover = (hostId: string): Promise<unknown> => store.admin.query('DELETE FROM public.store_errors_test WHERE host_id = $1', [hostId]);
  const stored = async (hostId: string): Promise<{ t: number; eventsLost: number; errors: string[] }[]> =>
    (await store.admin.query<{ t: Date; events_lost: number; errors: string[] }>(
      'SELECT time AS t, events_lost, errors FROM conntrail.snapshots WHERE host_id = $1 ORDER BY time', [hostId])).rows
      .map((r) => ({ t: r.t.getTime(), eventsLost: Number(r.events_lost), errors: r.errors }));

  // Read-only (the case), resources, serialization, cancelled by a statement timeout, shut down,
  // privileges, an internal error: none says anything about the snapshot's data.
  for (const sqlState of ['25006', '53100', '53300', '40001', '57014', '57P01', '42501', 'XX000']) {
    it(`spools every interval while the store answers ${sqlState}, and replays them when it recovers`, async () => {
      const hostId = `errs-${sqlState.toLowerCase()}`;
      const r = await rig(store, hostId);
      try {
        const t0 = base + 100 * INTERVAL_MS;
        await fail(hostId, sqlState);
        const during = [t0, t0 + INTERVAL_MS, t0 + 2 * INTERVAL_MS];
        for (const t of during) {
          const report = await r.loop.runOnce(t);
          assert.equal(report?.outcome, 'spooled', `interval ${t - t0} under ${sqlState}`);
        }
        assert.equal(r.spool.depth, during.length);
        await recover(hostId);
        const last = t0 + 3 * INTERVAL_MS;
        const report = await r.loop.runOnce(last);
        assert.equal(report?.outcome, 'written');
        assert.equal(report?.replayed, during.length);
        assert.equal(r.spool.depth, 0);
        assert.deepEqual((await stored(hostId)).map((s) => s.t), [...during, last], 'every interval stored exactly once');
        assert.equal(await snapshotsTotal(r.registry, 'rejected'), 0);
        assert.equal(await snapshotsTotal(r.registry, 'spooled'), during.length);
      } finally {
        await recover(hostId);
        await r.dispose();
      }
    });
  }

  for (const [sqlState, refusals] of [['23514', 4], ['22P02', 23]] as const) {
    it(`drops snapshots refused for their data (${sqlState}) and counts each of ${refusals} refused intervals`, async () => {
      const hostId = `refused-${sqlState.toLowerCase()}`;
      const r = await rig(store, hostId);
      try {
        const t0 = base + 1000 * INTERVAL_MS;
        await fail(hostId, sqlState);
        for (let i = 0; i < refusals; i++) {
          const report = await r.loop.runOnce(t0 + i * INTERVAL_MS);
          assert.equal(report?.outcome, 'rejected');
        }
        assert.equal(r.spool.depth, 0, 'a refused snapshot is not retried');
        assert.equal(await snapshotsTotal(r.registry, 'rejected'), refusals);
        await recover(hostId);
        const after = t0 + refusals * INTERVAL_MS;
        assert.equal((await r.loop.runOnce(after))?.outcome, 'written');
        const rows = await stored(hostId);
        assert.deepEqual(rows.map((s) => s.t), [after]);
        const record = rows[0]!;
        // Each refused interval is either listed or counted in the closing "N more" note.
        const listed = record.errors.filter((e) => /refused by the sink/.test(e)).length;
        const more = Number(/^(\d+) more notes? not listed/.exec(record.errors.find((e) => /not listed/.test(e)) ?? '')?.[1] ?? 0);
        assert.equal(listed + more, refusals, `completeness errors: ${JSON.stringify(record.errors)}`);
        for (let i = 0; i < Math.min(listed, refusals); i++) {
          assert.ok(record.errors.some((e) => e.includes(new Date(t0 + i * INTERVAL_MS).toISOString())), `interval ${i} named`);
        }
        assert.ok(record.eventsLost >= refusals, `events lost ${record.eventsLost} < ${refusals} refused intervals`);
      } finally {
        await recover(hostId);
        await r.dispose();
      }
    });
  }

  it('keeps losses pending while snapshots are refused, then reports them through a spooled one', async () => {
    const hostId = 'refused-then-down';
    const r = await rig(store, hostId);
    try {
      const t0 = base + 3000 * INTERVAL_MS;
      await fail(hostId, '23505');
      for (const i of [0, 1]) assert.equal((await r.loop.runOnce(t0 + i * INTERVAL_MS))?.outcome, 'rejected');
      await recover(hostId);
      await fail(hostId, '25006');
      for (const i of [2, 3]) assert.equal((await r.loop.runOnce(t0 + i * INTERVAL_MS))?.outcome, 'spooled');
      await recover(hostId);
      const report = await r.loop.runOnce(t0 + 4 * INTERVAL_MS);
      assert.equal(report?.outcome, 'written');
      assert.equal(report?.replayed, 2);
      const rows = await stored(hostId);
      assert.deepEqual(rows.map((s) => s.t), [2, 3, 4].map((i) => t0 + i * INTERVAL_MS));
      const refusedNotes = rows.flatMap((s) => s.errors).filter((e) => /refused by the sink/.test(e));
      assert.equal(refusedNotes.length, 2, JSON.stringify(rows.map((s) => s.errors)));
    } finally {
      await recover(hostId);
      await r.dispose();
    }
  });
});
