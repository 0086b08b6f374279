/**
 * Coverage of a window by completeness records: the stretches with no record are "no data", as opposed to a
 * record with zero rows, which is "no traffic". Pure.
 */
import type { TimeRange } from './resolution.js';

export interface CoverageFacts {
  /** Start of the first record in the window, null when there is none. */
  readonly firstMs: number | null;
  /** End (start + interval) of the last record in the window. */
  readonly lastEndMs: number | null;
  /** The collection interval, to judge what counts as missing. */
  readonly intervalMs: number;
  /** Uncovered stretches between consecutive records, as the store found them. */
  readonly inner: readonly TimeRange[];
}

/**
 * The gaps of a window: uncovered stretches longer than half an interval (a record starting more than 1.5
 * intervals after the previous one). Jitter below that is not a gap. Leading and trailing stretches count too.
 */
export function coverageGaps(window: TimeRange, facts: CoverageFacts): TimeRange[] {
  if (facts.firstMs === null || facts.lastEndMs === null) return [window];
  const minimum = facts.intervalMs / 2;
  const candidates: TimeRange[] = [
    { fromMs: window.fromMs, toMs: Math.min(facts.firstMs, window.toMs) },
    ...facts.inner,
    { fromMs: Math.max(facts.lastEndMs, window.fromMs), toMs: window.toMs },
  ];
  return candidates
    .map((g) => ({ fromMs: Math.max(g.fromMs, window.fromMs), toMs: Math.min(g.toMs, window.toMs) }))
    .filter((g) => g.toMs - g.fromMs > minimum)
    .sort((a, b) => a.fromMs - b.fromMs);
}
