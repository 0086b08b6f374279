import type { Snapshot } from '../domain/snapshot.js';
import type { SnapshotSink } from './sink.js';

/**
 * The collector's /healthz: how old the newest snapshot the store accepted is, how many wait in the spool, and
 * which source produced them. A sink wrapper notes each accepted snapshot (replays of the spool included), so the
 * loop itself needs no health state.
 */

export type HealthStatus = 'ok' | 'starting' | 'stale';

export interface HealthReport {
  readonly status: HealthStatus;
  /** The newest snapshot the store accepted (its interval's end), null before the first. */
  readonly lastSnapshotTime: string | null;
  readonly lastSnapshotAgeSeconds: number | null;
  readonly intervalSeconds: number;
  /** Snapshots kept on disk while the store could not take them. */
  readonly spoolDepth: number;
  /** The connection source in use (auto falls back from ebpf to procfs), and why it fell back. */
  readonly source: string;
  readonly fallbackReason: string | null;
}

export interface HealthInput {
  readonly nowMs: number;
  readonly startedMs: number;
  readonly intervalMs: number;
  readonly lastWrittenMs: number | null;
  readonly spoolDepth: number;
  readonly source: string;
  readonly fallbackReason: string | null;
}

/** Intervals without an accepted snapshot before the collector counts as stale (one late tick is no alarm). */
export const STALE_AFTER_INTERVALS = 3;

export function assessHealth(input: HealthInput): HealthReport {
  const limitMs = STALE_AFTER_INTERVALS * input.intervalMs;
  const ageMs = input.lastWrittenMs === null ? null : Math.max(0, input.nowMs - input.lastWrittenMs);
  let status: HealthStatus;
  if (ageMs !== null) status = ageMs <= limitMs ? 'ok' : 'stale';
  else status = input.nowMs - input.startedMs <= limitMs ? 'starting' : 'stale';
  return {
    status,
    lastSnapshotTime: input.lastWrittenMs === null ? null : new Date(input.lastWrittenMs).toISOString(),
    lastSnapshotAgeSeconds: ageMs === null ? null : ageMs / 1000,
    intervalSeconds: input.intervalMs / 1000,
    spoolDepth: input.spoolDepth,
    source: input.source,
    fallbackReason: input.fallbackReason,
  };
}

/** Passes snapshots on to `inner` and remembers the newest one it accepted. */
export class HealthSink implements SnapshotSink {
  private newestMs: number | null = null;

  constructor(private readonly inner: SnapshotSink) {}

  get lastWrittenMs(): number | null {
    return this.newestMs;
  }

  async write(snapshot: Snapshot, signal: AbortSignal): Promise<void> {
    await this.inner.write(snapshot, signal);
    if (this.newestMs === null || snapshot.timeMs > this.newestMs) this.newestMs = snapshot.timeMs;
  }
}
