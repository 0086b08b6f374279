/**
 * Which hosts had data in a window: per host, the stretches with no completeness record (no data, as opposed
 * to no traffic) and the records that were incomplete (a source failed, events lost, rows rejected). Pure.
 */
import { coverageGaps, type CoverageFacts } from './coverage.js';
import type { TimeRange } from './resolution.js';

export interface HostCoverageFacts extends Omit<CoverageFacts, 'intervalMs'> {
  readonly hostId: string;
  /** Time of the host's first record ever: the host is expected from the start of the interval it covers. */
  readonly firstSeenMs: number;
  readonly recorded: number;
  /** Null when the host never told its interval (no record in or before the window). */
  readonly intervalMs: number | null;
  readonly degraded: number;
  readonly firstDegraded: TimeRange | null;
}

export interface HostGapReport {
  readonly hostId: string;
  readonly gaps: readonly TimeRange[];
  /** Whole collection intervals missing in the gaps; null when the host's interval is unknown. */
  readonly missingIntervals: number | null;
  readonly incompleteSnapshots: number;
  readonly firstIncomplete: TimeRange | null;
}

export interface FleetCoverage {
  readonly window: TimeRange;
  /** Hosts with at least one record overlapping the window. */
  readonly hostsReporting: readonly string[];
  /** Hosts with a gap or an incomplete record in the window, by host id. */
  readonly hostsWithGaps: readonly HostGapReport[];
  /** True when every known host covered the whole window with complete records (and at least one host did). */
  readonly complete: boolean;
  /**
   * Start of the oldest completeness record still stored, null when none is. Records expire with retention:
   * before this time every host shows a gap because nothing can vouch for it any more, not because it was silent.
   */
  readonly recordsKeptFromMs: number | null;
}

/**
 * The part of the window a host is expected to cover: from the start of its first record ever on. Before that it
 * did not report because conntrail did not know it, which is not a gap of that host.
 */
function expectedWindow(window: TimeRange, h: HostCoverageFacts): TimeRange {
  return { fromMs: Math.max(window.fromMs, h.firstSeenMs - (h.intervalMs ?? 0)), toMs: window.toMs };
}

export function fleetCoverage(window: TimeRange, hosts: readonly HostCoverageFacts[], recordsKeptFromMs: number | null): FleetCoverage {
  const reports: HostGapReport[] = [];
  const reporting: string[] = [];
  for (const h of hosts) {
    if (h.recorded > 0) reporting.push(h.hostId);
    const expected = expectedWindow(window, h);
    // Without an interval no stretch can be judged against jitter: any uncovered time is a gap.
    const gaps = expected.toMs > expected.fromMs
      ? coverageGaps(expected, { firstMs: h.firstMs, lastEndMs: h.lastEndMs, intervalMs: h.intervalMs ?? 0, inner: h.inner })
      : [];
    if (gaps.length === 0 && h.degraded === 0) continue;
    const interval = h.intervalMs;
    const missingIntervals = interval === null || interval <= 0
      ? null
      : gaps.reduce((sum, g) => sum + Math.max(1, Math.round((g.toMs - g.fromMs) / interval)), 0);
    reports.push({ hostId: h.hostId, gaps, missingIntervals, incompleteSnapshots: h.degraded, firstIncomplete: h.firstDegraded });
  }
  reporting.sort();
  reports.sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
  return { window, hostsReporting: reporting, hostsWithGaps: reports, complete: reporting.length > 0 && reports.length === 0, recordsKeptFromMs };
}
