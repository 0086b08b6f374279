/**
 * Refreshing the talkers aggregates of migration 005 over a window (tests, backfills, the benchmark). The
 * maintenance runner refreshes them on their policies' schedules like every other TimescaleDB job; they are
 * real-time aggregates, so reads are complete either way. Needs the admin Database; call it after
 * refreshAggregates (traffic_1d rolls up traffic_1h).
 */
import type { Queryable } from '../database.js';
import { DAY_MS, HOUR_MS } from '../../domain/resolution.js';
import { isoOf } from './sql.js';

export async function refreshTalkerAggregates(admin: Queryable, fromMs: number, toMs: number): Promise<void> {
  const hours = [isoOf(Math.floor(fromMs / HOUR_MS) * HOUR_MS), isoOf(Math.ceil(toMs / HOUR_MS) * HOUR_MS)];
  const days = [isoOf(Math.floor(fromMs / DAY_MS) * DAY_MS), isoOf(Math.ceil(toMs / DAY_MS) * DAY_MS)];
  await admin.query(`CALL refresh_continuous_aggregate('conntrail.nat_1h', $1::timestamptz, $2::timestamptz)`, hours);
  await admin.query(`CALL refresh_continuous_aggregate('conntrail.traffic_1d', $1::timestamptz, $2::timestamptz)`, days);
  await admin.query(`CALL refresh_continuous_aggregate('conntrail.nat_1d', $1::timestamptz, $2::timestamptz)`, days);
}
