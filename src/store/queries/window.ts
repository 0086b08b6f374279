/**
 * The SQL side of an exact window (see src/domain/window-plan.ts): how long the collection intervals of a window
 * are, and the condition that selects the raw rows of a plan's edges. Fragments here are constants; every value
 * travels as a bound parameter.
 */
import { planWindow, type WindowPlan } from '../../domain/window-plan.js';
import type { Resolution } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, isoOf, num, type TimeRange } from './sql.js';

/** The longest collection interval the collector accepts: rows stamped this long after a window may overlap it. */
const MAX_INTERVAL_MS = 3_600_000;

/** Aggregates of per-interval connection rows, and of NAT translations (there is no minute NAT aggregate). */
export const TRAFFIC_LEVELS = ['MINUTE', 'HOUR', 'DAY'] as const;
export const NAT_LEVELS = ['HOUR', 'DAY'] as const;

/** The longest collection interval among the snapshots whose rows may overlap the window (0 without any). */
export async function fetchLongestIntervalMs(db: Queryable, window: TimeRange): Promise<number> {
  const { rows } = await db.query<{ s: number | string | null }>(
    'SELECT max(interval_seconds) AS s FROM bi.snapshots WHERE time >= $1 AND time < $2',
    [isoOf(window.fromMs), isoOf(window.toMs + MAX_INTERVAL_MS)],
  );
  return Math.ceil(num(rows[0]?.s ?? 0) * 1000);
}

/**
 * Plans the window for a resolution over the given aggregate levels, reading the interval length first unless
 * the caller read it already (several reads of one window need it once).
 */
export async function planFor(db: Queryable, window: TimeRange, resolution: Resolution, levels: readonly ('MINUTE' | 'HOUR' | 'DAY')[], longestIntervalMs?: number): Promise<WindowPlan> {
  return planWindow(window, resolution, levels, longestIntervalMs ?? await fetchLongestIntervalMs(db, window));
}

/**
 * Raw connection rows (bi.connections) of the plan's edges: stamped in one of its raw ranges, and whose life
 * within their interval overlaps the window.
 */
export function rawConnectionRows(p: Params, plan: WindowPlan): string {
  const from = p.add(isoOf(plan.window.fromMs));
  const to = p.add(isoOf(plan.window.toMs));
  const ranges = plan.raw.map((r) => `(time >= ${p.add(isoOf(r.fromMs))} AND time < ${p.add(isoOf(r.toMs))})`);
  return `(${ranges.join(' OR ')}) AND active_from < ${to}::timestamptz AND (active_to > ${from}::timestamptz OR active_from = ${from}::timestamptz)`;
}

/**
 * The raw connection rows of the plan's edges, as a subquery of the given plain bi.connections columns: the same
 * rows rawConnectionRows() selects, read in two parts. A row stamped in [from + the longest interval, to) lies
 * wholly inside the window (its interval reaches back no further than `from`), so it passes the life test
 * without computing it; only the rows around the two edges do. The first part then reads conntrail.connections
 * alone (the view's joins go unused and the planner drops them), and the life columns, which need the
 * snapshots joined to every row, are computed for the edge rows only.
 */
export function rawConnections(p: Params, plan: WindowPlan, columns: string): string {
  const innerFrom = plan.window.fromMs + plan.leadMs;
  const innerTo = plan.window.toMs;
  const inner: string[] = [];
  const edges: TimeRange[] = [];
  for (const r of plan.raw) {
    const a = Math.max(r.fromMs, innerFrom);
    const b = Math.min(r.toMs, innerTo);
    if (a < b) {
      inner.push(`(time >= ${p.add(isoOf(a))} AND time < ${p.add(isoOf(b))})`);
      if (r.fromMs < a) edges.push({ fromMs: r.fromMs, toMs: a });
      if (b < r.toMs) edges.push({ fromMs: b, toMs: r.toMs });
    } else {
      edges.push(r);
    }
  }
  const parts: string[] = [];
  if (inner.length > 0) parts.push(`SELECT ${columns} FROM bi.connections WHERE ${inner.join(' OR ')}`);
  if (edges.length > 0) parts.push(`SELECT ${columns} FROM bi.connections WHERE ${rawConnectionRows(p, { ...plan, raw: edges })}`);
  // A plan always has a raw edge; an empty one still yields a well-formed, empty subquery.
  if (parts.length === 0) parts.push(`SELECT ${columns} FROM bi.connections WHERE false`);
  return parts.join('\n  UNION ALL\n  ');
}

/**
 * How long after its end a translation that lived inside a window may first be written: an entry that began and
 * ended between two readings is reported once, by the snapshot after (whose time may fall past the window's end).
 */
export const NAT_REPORT_LAG_MS = 60_000;

/**
 * Raw NAT rows (bi.nat_translations) of the plan's edges: seen in one of its raw ranges by a snapshot at or after
 * the window's start, or reported up to NAT_REPORT_LAG_MS after its end, and existing before its end. (A conntrack
 * entry is alive from first_seen to every snapshot that saw it.)
 */
export function rawNatRows(p: Params, plan: WindowPlan): string {
  const to = p.add(isoOf(plan.window.toMs));
  const ranges = plan.raw.map((r) => `(time >= ${p.add(isoOf(r.fromMs))} AND time < ${p.add(isoOf(r.toMs))})`);
  ranges.push(`(time >= ${to}::timestamptz AND time < ${p.add(isoOf(plan.window.toMs + NAT_REPORT_LAG_MS))})`);
  return `(${ranges.join(' OR ')}) AND first_seen < ${to}::timestamptz`;
}

/** Aggregate rows of one plan piece. */
export function bucketRows(p: Params, fromMs: number, toMs: number): string {
  return `bucket >= ${p.add(isoOf(fromMs))} AND bucket < ${p.add(isoOf(toMs))}`;
}
