/**
 * Fleet coverage of a window: for every host known by the window's end, the completeness records that overlap the
 * window (count, first/last, inner gaps, degraded ones). One statement over the snapshots hypertable, so an answer
 * can say which hosts had no data (or incomplete data) without shipping every record to the API.
 */
import type { Window } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, isoOf, num, type TimeWindow } from './sql.js';

export interface HostCoverageRecord {
  readonly hostId: string;
  /** Records overlapping the window. */
  readonly recorded: number;
  readonly firstMs: number | null;
  readonly lastEndMs: number | null;
  /** The host's collection interval: from its records in the window, else its last record before, else null. */
  readonly intervalMs: number | null;
  readonly inner: readonly Window[];
  /** Records in the window where a source failed or lost events, rows were rejected or errors were logged. */
  readonly degraded: number;
  readonly firstDegradedMs: number | null;
}

interface Row {
  host_id: string; recorded: number | string; first_ms: number | null; last_end_ms: number | null; interval_ms: number | null;
  inner: unknown; degraded: number | string; first_degraded_ms: number | null;
}

/**
 * Records are looked for up to this long after the window so one stamped later but still covering the window's
 * end counts; longer collection intervals than this are not supported by the collector anyway.
 */
const LOOKBACK = `interval '1 hour'`;

export async function fetchFleetCoverage(db: Queryable, window: TimeWindow): Promise<HostCoverageRecord[]> {
  const p = new Params();
  const from = p.add(isoOf(window.fromMs));
  const to = p.add(isoOf(window.toMs));
  // A record is degraded exactly when the API's Snapshot.degraded says so; jsonb is read defensively.
  // Row time: a record stamped `time` covers (time - interval, time], as rows do (see README, "Row time").
  const sql = `WITH s AS (
      SELECT host_id, time, interval_seconds, time - interval_seconds * interval '1 second' AS starts,
        lag(time) OVER (PARTITION BY host_id ORDER BY time) AS prev_end,
        (events_lost > 0 OR rows_rejected > 0
          OR (jsonb_typeof(errors) = 'array' AND jsonb_array_length(errors) > 0)
          OR jsonb_typeof(sources) IS DISTINCT FROM 'array'
          OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(sources) = 'array' THEN sources ELSE '[]'::jsonb END) e
                     WHERE (e->'ok') IS DISTINCT FROM 'true'::jsonb
                        OR (jsonb_typeof(e->'lost') = 'number' AND (e->>'lost')::float8 > 0))) AS degraded
      FROM bi.snapshots
      WHERE time > ${from}::timestamptz AND time < ${to}::timestamptz + ${LOOKBACK}
        AND time - interval_seconds * interval '1 second' < ${to}::timestamptz)
    SELECT h.host_id, count(s.time) AS recorded,
      (extract(epoch from min(s.starts)) * 1000)::float8 AS first_ms,
      (extract(epoch from max(s.time)) * 1000)::float8 AS last_end_ms,
      coalesce(max(s.interval_seconds) * 1000, (SELECT l.interval_seconds * 1000 FROM bi.snapshots l
        WHERE l.host_id = h.host_id AND l.time <= ${from}::timestamptz ORDER BY l.time DESC LIMIT 1))::float8 AS interval_ms,
      coalesce(jsonb_agg(jsonb_build_array((extract(epoch from s.prev_end) * 1000)::float8, (extract(epoch from s.starts) * 1000)::float8) ORDER BY s.time)
        FILTER (WHERE s.starts - s.prev_end > s.interval_seconds * interval '0.5 second'), '[]'::jsonb) AS inner,
      count(*) FILTER (WHERE s.degraded) AS degraded,
      (extract(epoch from min(s.time) FILTER (WHERE s.degraded)) * 1000)::float8 AS first_degraded_ms
    FROM bi.hosts h LEFT JOIN s ON s.host_id = h.host_id
    WHERE h.first_seen < ${to}::timestamptz OR s.host_id IS NOT NULL
    GROUP BY h.host_id
    ORDER BY h.host_id`;
  const { rows } = await db.query<Row>(sql, p.values);
  return rows.map((r) => ({
    hostId: r.host_id, recorded: num(r.recorded), firstMs: r.first_ms, lastEndMs: r.last_end_ms, intervalMs: r.interval_ms,
    inner: Array.isArray(r.inner) ? (r.inner as [number, number][]).map(([fromMs, toMs]) => ({ fromMs, toMs })) : [],
    degraded: num(r.degraded), firstDegradedMs: r.first_degraded_ms,
  }));
}
