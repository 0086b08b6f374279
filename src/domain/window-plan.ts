/**
 * How a window is answered exactly from several sources: the coarsest aggregate for the whole buckets inside it,
 * finer aggregates for the whole finer buckets around those, raw rows for the two edges. Pure.
 *
 * Row time: a row's `time` is the end of the collection interval it covers (the moment of the snapshot); the
 * row stands for the connection's life within (time - interval, time], narrowed by its opened/closed times.
 * A row belongs to a window when that life overlaps the window. The aggregates bucket rows by `time`, so a
 * bucket [b, b + size) may be read whole only when every row stamped in it overlaps the window: that holds
 * when b >= from + the longest collection interval (each such row's life reaches back no further than its
 * interval) and b + size <= to. Rows stamped up to one interval after `to` may still overlap the window: the
 * raw edge reads them too. Each row is then read exactly once, by one piece.
 */
import { bucketMs, type Resolution, type TimeRange } from './resolution.js';

/** A source and the range of row times (bucket starts, for aggregates) it is read for. */
export interface WindowPiece {
  readonly source: Exclude<Resolution, 'RAW'>;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface WindowPlan {
  /** The window asked, answered exactly. */
  readonly window: TimeRange;
  /** Aggregate pieces: disjoint bucket-aligned ranges of row time. */
  readonly aggregates: readonly WindowPiece[];
  /** Row-time ranges read from raw rows (each row also filtered by its life overlapping the window). */
  readonly raw: readonly TimeRange[];
  /**
   * The longest collection interval of the rows involved: a row stamped at or after window.fromMs + leadMs (and
   * before window.toMs) lies wholly inside the window.
   */
  readonly leadMs: number;
}

function floorTo(ms: number, size: number): number {
  return Math.floor(ms / size) * size;
}

function ceilTo(ms: number, size: number): number {
  return Math.ceil(ms / size) * size;
}

/**
 * Plans a window for a resolution. `levels` are the aggregates that exist for the data (e.g. MINUTE, HOUR, DAY
 * for traffic; HOUR, DAY for NAT); those coarser than `resolution` are not used. `maxIntervalMs` is the longest
 * collection interval of the rows involved.
 */
export function planWindow(window: TimeRange, resolution: Resolution, levels: readonly Exclude<Resolution, 'RAW'>[], maxIntervalMs: number): WindowPlan {
  const lead = Math.max(0, maxIntervalMs);
  const allRaw: WindowPlan = { window, aggregates: [], raw: [{ fromMs: window.fromMs, toMs: window.toMs + lead }], leadMs: lead };
  const usable = levels.filter((l) => bucketMs(l) <= bucketMs(resolution)).sort((a, b) => bucketMs(a) - bucketMs(b));
  if (usable.length === 0) return allRaw;

  // starts[i]/ends[i]: the range level i covers (finer levels fill the rest up to the edges).
  const starts: number[] = [];
  const ends: number[] = [];
  let lo = window.fromMs + lead;
  let hi = window.toMs;
  for (const level of usable) {
    const size = bucketMs(level);
    const a = ceilTo(lo, size);
    const b = floorTo(hi, size);
    if (a >= b) break;
    starts.push(a);
    ends.push(b);
    lo = a;
    hi = b;
  }
  if (starts.length === 0) return allRaw;

  const aggregates: WindowPiece[] = [];
  const top = starts.length - 1;
  for (let i = 0; i <= top; i++) {
    const source = usable[i]!;
    if (i === top) {
      aggregates.push({ source, fromMs: starts[i]!, toMs: ends[i]! });
    } else {
      if (starts[i]! < starts[i + 1]!) aggregates.push({ source, fromMs: starts[i]!, toMs: starts[i + 1]! });
      if (ends[i + 1]! < ends[i]!) aggregates.push({ source, fromMs: ends[i + 1]!, toMs: ends[i]! });
    }
  }
  const raw: TimeRange[] = [];
  if (window.fromMs < starts[0]!) raw.push({ fromMs: window.fromMs, toMs: starts[0]! });
  raw.push({ fromMs: ends[0]!, toMs: window.toMs + lead });
  return { window, aggregates, raw, leadMs: lead };
}
