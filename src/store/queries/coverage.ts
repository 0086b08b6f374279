/**
 * Fleet coverage of windows: for every host known by a window's end, the completeness records that overlap the
 * window (count, first/last, inner gaps, incomplete ones). One statement over the snapshots hypertable for any
 * number of windows, so an answer can say which hosts had no data (or incomplete data) without shipping every
 * record to the API, and a request asking about several windows still reads the snapshots once.
 */
import type { Queryable } from '../database.js';
import { Params, isoOf, num, type TimeRange } from './sql.js';

export interface HostCoverageRecord {
  readonly hostId: string;
  /** Time of the host's first record ever (the end of the interval it covers). */
  readonly firstSeenMs: number;
  /** Records overlapping the window. */
  readonly recorded: number;
  readonly firstMs: number | null;
  readonly lastEndMs: number | null;
  /** The host's collection interval: from its records in the window, else its last record before, else null. */
  readonly intervalMs: number | null;
  readonly inner: readonly TimeRange[];
  /** Records in the window where a source failed or lost events, rows were rejected or errors were logged. */
  readonly degraded: number;
  /** The stretch covered by the first incomplete record. */
  readonly firstDegraded: TimeRange | null;
}

/** Per window, the hosts' coverage; and since when records are kept at all. */
export interface FleetCoverageRecords {
  /** Start of the oldest completeness record stored (older ones were dropped by retention); null when none is. */
  readonly keptFromMs: number | null;
  readonly hosts: HostCoverageRecord[][];
}

interface Row {
  kept_from_ms: number | null; wi: number | string | null; host_id: string; first_seen_ms: number; recorded: number | string; first_ms: number | null;
  last_end_ms: number | null; interval_ms: number | null; inner: unknown; degraded: number | string; first_degraded: unknown;
}

/**
 * Records are looked for up to this long after a window so one stamped later but still covering the window's
 * end counts; longer collection intervals than this are not supported by the collector anyway.
 */
const LOOKAHEAD = `interval '1 hour'`;

/**
 * Incomplete, in SQL, exactly as the API's Snapshot.degraded says: a source failed or
 * lost events, events were lost, rows were rejected, errors were logged. jsonb is read defensively.
 */
const DEGRADED = `(events_lost > 0 OR rows_rejected > 0
    OR (jsonb_typeof(errors) = 'array' AND jsonb_array_length(errors) > 0)
    OR EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(sources) = 'array' THEN sources ELSE '[]'::jsonb END) e
               WHERE (e->'ok') IS DISTINCT FROM 'true'::jsonb
                  OR (jsonb_typeof(e->'lost') = 'number' AND (e->>'lost')::float8 > 0)))`;

function windowOf(value: unknown): TimeRange | null {
  return Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'number' ? { fromMs: value[0], toMs: value[1] } : null;
}

/** Per window (in the order given), the coverage of every host known by its end or recorded in it. */
export async function fetchFleetCoverage(db: Queryable, windows: readonly TimeRange[]): Promise<FleetCoverageRecords> {
  if (windows.length === 0) return { keptFromMs: null, hosts: [] };
  const p = new Params();
  const froms = p.add(windows.map((w) => isoOf(w.fromMs)));
  const tos = p.add(windows.map((w) => isoOf(w.toMs)));
  // Constant bounds over all windows let the planner exclude chunks before joining with the windows.
  const lo = p.add(isoOf(Math.min(...windows.map((w) => w.fromMs))));
  const hi = p.add(isoOf(Math.max(...windows.map((w) => w.toMs))));
  // Row time: a record stamped `time` covers (time - interval, time], as rows do (see README, "Row time"), so it
  // overlaps [from, to) when time > from and time - interval < to.
  // kept_from_ms: the start of the oldest record still stored (retention drops records like rows); the outer
  // LEFT JOIN returns it even when no host is expected in any window.
  const sql = `WITH w AS (SELECT * FROM unnest(${froms}::timestamptz[], ${tos}::timestamptz[]) WITH ORDINALITY AS w(wfrom, wto, wi)),
    r AS (
      SELECT time, host_id, interval_seconds, time - interval_seconds * interval '1 second' AS starts, ${DEGRADED} AS degraded
      FROM bi.snapshots
      WHERE time > ${lo}::timestamptz AND time < ${hi}::timestamptz + ${LOOKAHEAD}),
    s AS (
      SELECT w.wi, r.*, lag(r.time) OVER (PARTITION BY w.wi, r.host_id ORDER BY r.time) AS prev_end
      FROM w JOIN r ON r.time > w.wfrom AND r.starts < w.wto),
    x AS (
    SELECT w.wi, h.host_id, (extract(epoch from h.first_seen) * 1000)::float8 AS first_seen_ms, count(s.time) AS recorded,
      (extract(epoch from min(s.starts)) * 1000)::float8 AS first_ms,
      (extract(epoch from max(s.time)) * 1000)::float8 AS last_end_ms,
      coalesce(max(s.interval_seconds) * 1000, (SELECT l.interval_seconds * 1000 FROM bi.snapshots l
        WHERE l.host_id = h.host_id AND l.time <= w.wfrom ORDER BY l.time DESC LIMIT 1))::float8 AS interval_ms,
      coalesce(jsonb_agg(jsonb_build_array((extract(epoch from s.prev_end) * 1000)::float8, (extract(epoch from s.starts) * 1000)::float8) ORDER BY s.time)
        FILTER (WHERE s.starts - s.prev_end > s.interval_seconds * interval '0.5 second'), '[]'::jsonb) AS inner,
      count(*) FILTER (WHERE s.degraded) AS degraded,
      (array_agg(jsonb_build_array((extract(epoch from s.starts) * 1000)::float8, (extract(epoch from s.time) * 1000)::float8) ORDER BY s.time)
        FILTER (WHERE s.degraded))[1] AS first_degraded
    FROM w CROSS JOIN bi.hosts h LEFT JOIN s ON s.wi = w.wi AND s.host_id = h.host_id
    WHERE h.first_seen < w.wto OR s.host_id IS NOT NULL
    GROUP BY w.wi, w.wfrom, h.host_id, h.first_seen)
    SELECT (extract(epoch from (SELECT time - interval_seconds * interval '1 second' FROM bi.snapshots ORDER BY time LIMIT 1)) * 1000)::float8 AS kept_from_ms, x.*
    FROM (SELECT 1) one LEFT JOIN x ON true
    ORDER BY x.wi, x.host_id`;
  const { rows } = await db.query<Row>(sql, p.values);
  const hosts: HostCoverageRecord[][] = windows.map(() => []);
  for (const r of rows) {
    if (r.wi === null) continue;
    hosts[num(r.wi) - 1]?.push({
      hostId: r.host_id, firstSeenMs: r.first_seen_ms, recorded: num(r.recorded), firstMs: r.first_ms, lastEndMs: r.last_end_ms,
      intervalMs: r.interval_ms,
      inner: Array.isArray(r.inner) ? (r.inner as [number, number][]).map(([fromMs, toMs]) => ({ fromMs, toMs })) : [],
      degraded: num(r.degraded), firstDegraded: windowOf(r.first_degraded),
    });
  }
  return { keptFromMs: rows[0]?.kept_from_ms ?? null, hosts };
}
