/**
 * Which data answers a time-windowed question: raw rows (exact, expensive) or the 1-minute / 1-hour continuous
 * aggregates (coarse, cheap), and how the window is widened to whole buckets. Pure.
 */
import type { TimeRange } from './time-range.js';

export type Resolution = 'RAW' | 'MINUTE' | 'HOUR' | 'DAY';
export type ResolutionChoice = Resolution | 'AUTO';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export interface ResolutionPolicy {
  /**
   * AUTO uses raw rows up to this range length. Raw matching ships one group per connection to the API, so its
   * cost grows with the traffic (about 2.5 s per hour of 10M rows a week, embedded): an hour keeps it bearable.
   */
  readonly rawUpToMs: number;
  /** AUTO uses the 1-minute aggregate up to this range length. */
  readonly minuteUpToMs: number;
  /** AUTO uses the 1-hour aggregate up to this range length, the 1-day aggregate beyond. */
  readonly hourUpToMs: number;
}

export const DEFAULT_RESOLUTION_POLICY: ResolutionPolicy = Object.freeze({ rawUpToMs: HOUR_MS, minuteUpToMs: 12 * HOUR_MS, hourUpToMs: 4 * DAY_MS });

export type { TimeRange } from './time-range.js';

export function chooseResolution(choice: ResolutionChoice, window: TimeRange, policy: ResolutionPolicy = DEFAULT_RESOLUTION_POLICY): Resolution {
  if (choice !== 'AUTO') return choice;
  const length = window.toMs - window.fromMs;
  if (length <= policy.rawUpToMs) return 'RAW';
  if (length <= policy.minuteUpToMs) return 'MINUTE';
  if (length <= policy.hourUpToMs) return 'HOUR';
  return 'DAY';
}

export function bucketMs(resolution: Resolution): number {
  return resolution === 'DAY' ? DAY_MS : resolution === 'HOUR' ? HOUR_MS : resolution === 'MINUTE' ? MINUTE_MS : 0;
}

/** Widens a window to whole buckets (aligned to the epoch, i.e. UTC midnight for days, as time_bucket aligns them). */
export function widenToBuckets(window: TimeRange, resolution: Resolution): TimeRange {
  const size = bucketMs(resolution);
  if (size === 0) return window;
  return { fromMs: Math.floor(window.fromMs / size) * size, toMs: Math.ceil(window.toMs / size) * size };
}

/** Which aggregate a time series with this step can be read from: the coarsest one the step is a multiple of. */
export function resolutionForStep(stepMs: number): Resolution {
  if (stepMs % DAY_MS === 0) return 'DAY';
  if (stepMs % HOUR_MS === 0) return 'HOUR';
  if (stepMs % MINUTE_MS === 0) return 'MINUTE';
  return 'RAW';
}
