import type { ConnectionRow } from '../domain/connection.js';
import type { NameObservation } from '../domain/dns.js';
import { performance } from 'node:perf_hooks';
import type { Snapshot, SourceRun } from '../domain/snapshot.js';
import { deadline, raceAbort } from './abort.js';
import { CollectorError, errorMessage } from './errors.js';
import type { Logger } from '../domain/logger.js';
import type { CollectorMetrics, SnapshotOutcome } from './metrics.js';
import { isSnapshotRefused, type SnapshotSink } from './sink.js';
import type { ConnectionSource, SourceReading } from './source.js';
import type { Spool } from './spool.js';
import { rowCount } from './spool-format.js';
import type { Tracker } from './tracker.js';

/** What the loop needs of the DNS names (src/collector/sources/dns/names.ts). */
export interface NameCollector {
  collect(timeMs: number, connections: readonly ConnectionRow[]): { names: NameObservation[]; notes: string[] };
}

/**
 * The periodic loop: at every interval boundary, read all sources in parallel (each under a timeout), build
 * the snapshot, and hand it to the sink or, when the sink cannot take it, to the spool (replaying the spool
 * first, so the sink sees snapshots in time order). Only a snapshot whose data the sink refuses is dropped;
 * every dropped interval is counted and reported in a later snapshot's completeness record. Modelled on
 * OpenTelemetry's periodic exporting reader: one tick never overlaps the next (an overdue tick makes the next
 * one be skipped and counted), every wait is bounded, and an error is logged and counted without stopping the loop.
 */

export interface LoopOptions {
  readonly sources: readonly ConnectionSource[];
  readonly tracker: Tracker;
  /** Names of the snapshot's addresses (DNS); its collect() only walks a table, it never waits. */
  readonly names?: NameCollector;
  readonly sink: SnapshotSink;
  readonly spool: Spool;
  readonly logger: Logger;
  readonly metrics?: CollectorMetrics;
  /** Default 15 s. */
  readonly intervalMs?: number;
  /** Longest wait for one source (default half the interval). */
  readonly sourceTimeoutMs?: number;
  /** Longest a tick may take before its sink work is abandoned and the snapshot spooled (default 0.9 interval). */
  readonly tickTimeoutMs?: number;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
}

export interface TickReport {
  readonly timeMs: number;
  readonly outcome: Exclude<SnapshotOutcome, 'replayed'>;
  readonly replayed: number;
  readonly rows: number;
  readonly failedSources: readonly string[];
  readonly durationMs: number;
}

export interface LoopStats {
  readonly ticks: number;
  readonly skipped: number;
  readonly errors: number;
}

interface SourceResult {
  readonly reading: SourceReading | null;
  readonly run: SourceRun;
}

/** Losses and notes to report in the next snapshot's completeness record. */
interface Pending {
  readonly lost: number;
  readonly errors: readonly string[];
  /** Notes past MAX_PENDING_ERRORS: not listed, but counted, so N lost intervals never read as fewer. */
  readonly omitted: number;
}

const NOTHING_PENDING: Pending = Object.freeze({ lost: 0, errors: Object.freeze([]) as readonly string[], omitted: 0 });
const MAX_PENDING_ERRORS = 20;

/** `later` added to `earlier`, keeping the notes in order and the cap on how many are listed. */
function mergePending(earlier: Pending, later: Pending): Pending {
  const all = [...earlier.errors, ...later.errors];
  const errors = all.slice(0, MAX_PENDING_ERRORS);
  return { lost: earlier.lost + later.lost, errors, omitted: earlier.omitted + later.omitted + all.length - errors.length };
}

function omittedNote(omitted: number): string {
  return `${omitted} more note${omitted === 1 ? '' : 's'} not listed (each a skipped, refused or lost interval; their rows are counted in events lost)`;
}

export class CollectorLoop {
  private readonly intervalMs: number;
  private readonly sourceTimeoutMs: number;
  private readonly tickTimeoutMs: number;
  private readonly now: () => number;
  private readonly inFlight = new Map<ConnectionSource, Promise<unknown>>();
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<TickReport | null> | null = null;
  private stopping = false;
  private lastTimeMs = Number.NEGATIVE_INFINITY;
  private pending: Pending = NOTHING_PENDING;
  private counts = { ticks: 0, skipped: 0, errors: 0 };

  constructor(private readonly options: LoopOptions) {
    this.intervalMs = options.intervalMs ?? 15_000;
    this.sourceTimeoutMs = options.sourceTimeoutMs ?? Math.floor(this.intervalMs / 2);
    this.tickTimeoutMs = options.tickTimeoutMs ?? Math.floor(this.intervalMs * 0.9);
    this.now = options.now ?? Date.now;
    for (const [name, v] of [['intervalMs', this.intervalMs], ['sourceTimeoutMs', this.sourceTimeoutMs], ['tickTimeoutMs', this.tickTimeoutMs]] as const) {
      if (!(v > 0)) throw new CollectorError('CONFIG_INVALID', `${name} must be > 0`, { [name]: v });
    }
  }

  stats(): LoopStats {
    return { ...this.counts };
  }

  /** Starts ticking at the next interval boundary. */
  start(): void {
    if (this.timer !== null || this.stopping) return;
    this.scheduleNext();
  }

  /** Stops scheduling; resolves once the tick in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.current;
  }

  /**
   * Runs one tick now for the interval containing `timeMs` (default: now). Returns null, counting a skipped
   * tick, when another tick is still running or the interval was already done.
   */
  runOnce(timeMs: number = this.now()): Promise<TickReport | null> {
    const aligned = Math.floor(timeMs / this.intervalMs) * this.intervalMs;
    if (this.current !== null) {
      this.skip(aligned, 'previous tick still running');
      return Promise.resolve(null);
    }
    if (aligned <= this.lastTimeMs) {
      this.skip(aligned, 'interval already done (clock went back?)');
      return Promise.resolve(null);
    }
    this.lastTimeMs = aligned;
    const run = this.tick(aligned).catch((err: unknown) => {
      this.counts.errors++;
      this.options.metrics?.tickErrors.inc();
      this.options.logger.error({ err: errorMessage(err), timeMs: aligned }, 'collector tick failed');
      return null;
    }).finally(() => {
      this.current = null;
    });
    this.current = run;
    return run;
  }

  private scheduleNext(previous: number | null = null): void {
    if (this.stopping) return;
    const now = this.now();
    let target = (Math.floor(now / this.intervalMs) + 1) * this.intervalMs;
    // A timer may fire a hair before its boundary by the wall clock: never aim at the same boundary twice
    // (unless the clock went back by more than an interval, when the grid restarts from now).
    if (previous !== null && target <= previous && previous + this.intervalMs - now <= 2 * this.intervalMs) {
      target = previous + this.intervalMs;
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      // Schedule first, so a slow tick never shifts the grid; the overdue one makes the next be skipped.
      this.scheduleNext(target);
      const fired = Math.max(target, Math.floor(this.now() / this.intervalMs) * this.intervalMs);
      // A timer held up past whole intervals (a blocked event loop, a suspended host) missed those boundaries.
      for (let missed = target; missed < fired; missed += this.intervalMs) this.skip(missed, 'the collector was late (blocked or suspended)');
      void this.runOnce(fired);
    }, target - now);
  }

  private skip(timeMs: number, reason: string): void {
    this.counts.skipped++;
    this.options.metrics?.ticksSkipped.inc();
    this.note(0, `skipped the interval of ${new Date(timeMs).toISOString()}: ${reason}`);
    this.options.logger.warn({ timeMs, reason }, 'collector tick skipped');
  }

  private note(lost: number, error: string): void {
    this.pending = mergePending(this.pending, { lost, errors: [error], omitted: 0 });
  }

  private async tick(timeMs: number): Promise<TickReport> {
    const started = performance.now();
    const { logger, metrics, spool, tracker } = this.options;
    const limit = deadline(this.tickTimeoutMs, 'SINK_TIMEOUT', 'collector tick');
    try {
      const results = await Promise.all(this.options.sources.map((s) => this.readSource(s, limit.signal)));
      const readings = results.flatMap((r) => (r.reading ? [r.reading] : []));
      const failedRuns = results.filter((r) => !r.reading).map((r) => r.run);
      const losses = await spool.takeLosses().catch((err: unknown) => {
        logger.error({ err: errorMessage(err) }, 'spool: cannot read pending losses');
        return { snapshots: 0, events: 0, errors: [] as string[], omitted: 0 };
      });
      // The spool's own uncapped count of notes it could not keep joins the loop's.
      if (losses.omitted > 0) this.pending = { ...this.pending, omitted: this.pending.omitted + losses.omitted };
      const pending = this.pending;
      const evictedBefore = tracker.stats().evictedTotal;
      const built = tracker.build({
        timeMs, readings, failedRuns,
        eventsLost: losses.events + pending.lost,
        errors: [...losses.errors, ...pending.errors],
      });
      const named = this.withNames(built, timeMs);
      const c = named.completeness;
      const snapshot = pending.omitted === 0 ? named : { ...named, completeness: { ...c, errors: [...c.errors, omittedNote(pending.omitted)] } };
      // Only what went into this snapshot is cleared: notes added meanwhile (a skipped tick) stay pending.
      this.pending = this.pending === pending ? NOTHING_PENDING : {
        lost: this.pending.lost - pending.lost, errors: this.pending.errors.slice(pending.errors.length), omitted: this.pending.omitted - pending.omitted,
      };
      if (metrics) this.countSnapshot(snapshot, losses.events, tracker.stats().evictedTotal - evictedBefore, metrics);
      const { outcome, replayed } = await this.deliver(snapshot, limit.signal);
      if (outcome === 'rejected' || outcome === 'dropped') {
        // The losses this snapshot carried (earlier refusals, spool overflow, tracker evictions) went down
        // with it: they are reported again in the next snapshot, ahead of this interval's own loss.
        this.pending = mergePending({ lost: c.eventsLost, errors: c.errors, omitted: pending.omitted }, this.pending);
      }
      this.counts.ticks++;
      const durationMs = performance.now() - started;
      metrics?.tickSeconds.observe(durationMs / 1000);
      metrics?.spoolDepth.set(spool.depth);
      metrics?.spoolBytes.set(spool.bytes);
      metrics?.trackedSockets.set(tracker.stats().tracked);
      const failedSources = failedRuns.map((r) => r.name);
      logger.debug({ timeMs, outcome, replayed, rows: snapshot.connections.length, failedSources, durationMs }, 'collector tick');
      return { timeMs, outcome, replayed, rows: snapshot.connections.length, failedSources, durationMs };
    } finally {
      limit.dispose();
    }
  }

  private withNames(built: Snapshot, timeMs: number): Snapshot {
    const collector = this.options.names;
    if (collector === undefined) return built;
    const { names, notes } = collector.collect(timeMs, built.connections);
    if (names.length === 0 && notes.length === 0) return built;
    const c = built.completeness;
    return { ...built, names, completeness: notes.length === 0 ? c : { ...c, errors: [...c.errors, ...notes] } };
  }

  private countSnapshot(s: Snapshot, spoolLost: number, trackerLost: number, metrics: CollectorMetrics): void {
    metrics.rows.inc({ table: 'connections' }, s.connections.length);
    metrics.rows.inc({ table: 'nat' }, s.nat.length);
    metrics.rows.inc({ table: 'listening' }, s.listening.length);
    metrics.connections.inc(s.connections.reduce((n, r) => n + r.count, 0));
    const sourceLost = s.completeness.sources.reduce((n, r) => n + r.lost, 0);
    if (sourceLost > 0) metrics.eventsLost.inc({ kind: 'source' }, sourceLost);
    if (spoolLost > 0) metrics.eventsLost.inc({ kind: 'spool' }, spoolLost);
    if (trackerLost > 0) metrics.eventsLost.inc({ kind: 'tracker' }, trackerLost);
    for (const r of s.completeness.sources) if (r.skipped > 0) metrics.sourceSkipped.inc({ source: r.name }, r.skipped);
  }

  /** Reads one source under its timeout; never starts a second read while the first is still pending. */
  private async readSource(source: ConnectionSource, parent: AbortSignal): Promise<SourceResult> {
    const started = performance.now();
    const failed = (error: string): SourceResult => {
      this.options.metrics?.sourceFailures.inc({ source: source.name });
      return { reading: null, run: { name: source.name, ok: false, durationMs: performance.now() - started, skipped: 0, lost: 0, error } };
    };
    if (this.inFlight.has(source)) {
      this.options.logger.warn({ source: source.name }, 'source still busy with an earlier read');
      return failed('previous read still running');
    }
    const limit = deadline(this.sourceTimeoutMs, 'SOURCE_TIMEOUT', `source ${source.name}`, parent);
    try {
      const read = source.read(limit.signal);
      const clear = (): void => { this.inFlight.delete(source); };
      this.inFlight.set(source, read);
      read.then(clear, clear);
      const reading = await raceAbort(read, limit.signal, `source ${source.name}`);
      this.options.metrics?.sourceScanSeconds.observe({ source: source.name }, (performance.now() - started) / 1000);
      if (!reading.run.ok) this.options.metrics?.sourceFailures.inc({ source: source.name });
      return { reading, run: reading.run };
    } catch (err) {
      this.options.metrics?.sourceScanSeconds.observe({ source: source.name }, (performance.now() - started) / 1000);
      this.options.logger.warn({ source: source.name, err: errorMessage(err) }, 'source read failed');
      return failed(errorMessage(err));
    } finally {
      limit.dispose();
    }
  }

  /** Replays the spool first (order), then writes this snapshot; spools it when the sink is down. */
  private async deliver(snapshot: Snapshot, signal: AbortSignal): Promise<{ outcome: TickReport['outcome']; replayed: number }> {
    const { spool, sink, logger, metrics } = this.options;
    let replayed = 0;
    if (spool.depth > 0) {
      const result = await spool.replay(sink, signal);
      replayed = result.written;
      metrics?.snapshots.inc({ outcome: 'replayed' }, result.written);
      metrics?.snapshots.inc({ outcome: 'rejected' }, result.rejected);
      if (result.stoppedBy !== 'drained') return { outcome: await this.spoolIt(snapshot), replayed };
    }
    try {
      await raceAbort(sink.write(snapshot, signal), signal, 'sink write');
      metrics?.snapshots.inc({ outcome: 'written' });
      return { outcome: 'written', replayed };
    } catch (err) {
      if (!isSnapshotRefused(err) || signal.aborted) {
        logger.warn({ timeMs: snapshot.timeMs, err: errorMessage(err), code: codeOf(err) }, 'sink cannot take the snapshot now: spooling it');
        return { outcome: await this.spoolIt(snapshot), replayed };
      }
      const rows = Math.max(1, rowCount(snapshot));
      logger.error({ timeMs: snapshot.timeMs, err: errorMessage(err) }, 'sink refused snapshot');
      metrics?.snapshots.inc({ outcome: 'rejected' });
      metrics?.eventsLost.inc({ kind: 'rejected' }, rows);
      this.note(rows, `snapshot of ${new Date(snapshot.timeMs).toISOString()} refused by the sink: ${errorMessage(err)}`);
      return { outcome: 'rejected', replayed };
    }
  }

  private async spoolIt(snapshot: Snapshot): Promise<'spooled' | 'dropped'> {
    const { spool, logger, metrics } = this.options;
    try {
      const dropped = await spool.put(snapshot);
      metrics?.snapshots.inc({ outcome: 'spooled' });
      if (dropped > 0) metrics?.snapshots.inc({ outcome: 'dropped' }, dropped);
      return 'spooled';
    } catch (err) {
      const rows = Math.max(1, rowCount(snapshot));
      logger.error({ timeMs: snapshot.timeMs, err: errorMessage(err) }, 'cannot spool snapshot: dropped');
      metrics?.snapshots.inc({ outcome: 'dropped' });
      metrics?.eventsLost.inc({ kind: 'spool' }, rows);
      this.note(rows, `snapshot of ${new Date(snapshot.timeMs).toISOString()} lost: ${errorMessage(err)}`);
      return 'dropped';
    }
  }
}

function codeOf(err: unknown): unknown {
  return err !== null && typeof err === 'object' ? (err as { code?: unknown }).code : undefined;
}
