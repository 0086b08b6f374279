/**
 * Completeness records: pages of them per host, and the coverage facts (count, first/last, inner gaps) of a
 * window, computed in SQL so a long window never ships every record to the API.
 */
import type { CoverageFacts } from '../../domain/coverage.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, fromEpochUs, isStringOrNumberArray, isoOf, num, toMs, toPage, type Page, type PageRequest, type TimeRange } from './sql.js';

export type SnapshotKey = [number];

export interface SourceRunRecord {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly skipped: number;
  readonly lost: number;
  readonly error: string | null;
}

export interface SnapshotRecord {
  readonly key: SnapshotKey;
  readonly hostId: string;
  readonly timeMs: number;
  readonly intervalSeconds: number;
  readonly sources: readonly SourceRunRecord[];
  readonly connectionRows: number;
  readonly natRows: number;
  readonly listeningRows: number;
  readonly rowsRejected: number;
  readonly eventsLost: number;
  readonly errors: readonly string[];
  readonly writtenAtMs: number;
}

export interface Coverage extends CoverageFacts {
  readonly recorded: number;
}

interface Row {
  time_us: number | string; time: Date; host_id: string; interval_seconds: number; sources: unknown; connection_rows: number;
  nat_rows: number; listening_rows: number; rows_rejected: number; events_lost: number | string; errors: unknown; written_at: Date;
}

interface CoverageRow { host_id: string; recorded: number | string; first_ms: number | null; last_end_ms: number | null; interval_ms: number | null; inner: unknown }

export function isSnapshotKey(value: unknown): value is SnapshotKey {
  return isStringOrNumberArray(value, 1) && typeof value[0] === 'number';
}

/** jsonb written by the collector: read defensively, a malformed entry becomes a failed run rather than a crash. */
function toSources(value: unknown): SourceRunRecord[] {
  if (!Array.isArray(value)) return [];
  return value.map((v: Record<string, unknown>) => ({
    name: typeof v?.name === 'string' ? v.name : 'unknown',
    ok: v?.ok === true,
    durationMs: typeof v?.durationMs === 'number' ? v.durationMs : 0,
    skipped: typeof v?.skipped === 'number' ? v.skipped : 0,
    lost: typeof v?.lost === 'number' ? v.lost : 0,
    error: typeof v?.error === 'string' ? v.error : null,
  }));
}

function toRecord(r: Row): SnapshotRecord {
  const timeUs = num(r.time_us);
  return {
    key: [timeUs], hostId: r.host_id, timeMs: toMs(r.time), intervalSeconds: r.interval_seconds, sources: toSources(r.sources),
    connectionRows: r.connection_rows, natRows: r.nat_rows, listeningRows: r.listening_rows, rowsRejected: r.rows_rejected,
    eventsLost: num(r.events_lost), errors: Array.isArray(r.errors) ? r.errors.map(String) : [], writtenAtMs: toMs(r.written_at),
  };
}

/** One page of records per host, ordered by time. */
export async function fetchSnapshotPages(db: Queryable, hostIds: readonly string[], window: TimeRange, page: PageRequest<SnapshotKey>): Promise<Map<string, Page<SnapshotRecord>>> {
  const p = new Params();
  const where = [`host_id = ANY(${p.add(hostIds)}::text[])`, `time >= ${p.add(isoOf(window.fromMs))}`, `time < ${p.add(isoOf(window.toMs))}`];
  if (page.after) where.push(`time > ${fromEpochUs(p.add(page.after[0]))}`);
  const sql = `SELECT * FROM (SELECT ${epochUs('time')} AS time_us, time, host_id, interval_seconds, sources, connection_rows, nat_rows,
      listening_rows, rows_rejected, events_lost, errors, written_at, row_number() OVER (PARTITION BY host_id ORDER BY time) AS rn
    FROM bi.snapshots WHERE ${where.join(' AND ')}) ranked WHERE rn <= ${p.add(page.first + 1)} ORDER BY rn, host_id`;
  const { rows } = await db.query<Row>(sql, p.values);
  const grouped = new Map<string, SnapshotRecord[]>();
  for (const row of rows) {
    const record = toRecord(row);
    const list = grouped.get(record.hostId);
    if (list) list.push(record);
    else grouped.set(record.hostId, [record]);
  }
  const pages = new Map<string, Page<SnapshotRecord>>();
  for (const [key, list] of grouped) pages.set(key, toPage(list, page.first));
  return pages;
}

/** Coverage facts of the window per host; inner gaps are stretches of more than half an interval between records. */
export async function fetchCoverage(db: Queryable, hostIds: readonly string[], window: TimeRange): Promise<Map<string, Coverage>> {
  const p = new Params();
  const sql = `SELECT host_id, count(*) AS recorded,
      (extract(epoch from min(time)) * 1000)::float8 AS first_ms,
      (extract(epoch from max(ends)) * 1000)::float8 AS last_end_ms,
      max(interval_seconds) * 1000 AS interval_ms,
      coalesce(jsonb_agg(jsonb_build_array((extract(epoch from prev_end) * 1000)::float8, (extract(epoch from time) * 1000)::float8) ORDER BY time)
        FILTER (WHERE time - prev_end > interval_seconds * interval '0.5 second'), '[]'::jsonb) AS inner
    FROM (SELECT host_id, time, interval_seconds, time + interval_seconds * interval '1 second' AS ends,
            lag(time + interval_seconds * interval '1 second') OVER (PARTITION BY host_id ORDER BY time) AS prev_end
          FROM bi.snapshots
          WHERE host_id = ANY(${p.add(hostIds)}::text[]) AND time >= ${p.add(isoOf(window.fromMs))} AND time < ${p.add(isoOf(window.toMs))}) s
    GROUP BY host_id`;
  const { rows } = await db.query<CoverageRow>(sql, p.values);
  const out = new Map<string, Coverage>();
  for (const r of rows) {
    const inner: TimeRange[] = Array.isArray(r.inner) ? (r.inner as [number, number][]).map(([fromMs, toMs]) => ({ fromMs, toMs })) : [];
    out.set(r.host_id, { recorded: num(r.recorded), firstMs: r.first_ms, lastEndMs: r.last_end_ms, intervalMs: r.interval_ms ?? 0, inner });
  }
  return out;
}
