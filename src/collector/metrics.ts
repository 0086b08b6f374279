import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/**
 * The collector's Prometheus instruments, registered on a Registry the caller owns (never the global
 * default one), so several collectors or tests in one process do not collide.
 */

export type SnapshotOutcome = 'written' | 'spooled' | 'dropped' | 'rejected' | 'replayed';
export type LossKind = 'source' | 'spool' | 'tracker' | 'rejected';

const SCAN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class CollectorMetrics {
  readonly sourceScanSeconds: Histogram<'source'>;
  readonly sourceFailures: Counter<'source'>;
  readonly sourceSkipped: Counter<'source'>;
  readonly rows: Counter<'table'>;
  readonly connections: Counter;
  readonly snapshots: Counter<'outcome'>;
  readonly spoolDepth: Gauge;
  readonly spoolBytes: Gauge;
  readonly eventsLost: Counter<'kind'>;
  readonly ticksSkipped: Counter;
  readonly tickErrors: Counter;
  readonly tickSeconds: Histogram;
  readonly trackedSockets: Gauge;

  constructor(registry: Registry, prefix = 'conntrail_collector_') {
    const registers = [registry];
    this.sourceScanSeconds = new Histogram({
      name: `${prefix}source_scan_seconds`, help: 'Time one source took to be read, per interval',
      labelNames: ['source'], buckets: SCAN_BUCKETS, registers,
    });
    this.sourceFailures = new Counter({ name: `${prefix}source_failures_total`, help: 'Source reads that failed or timed out', labelNames: ['source'], registers });
    this.sourceSkipped = new Counter({ name: `${prefix}source_records_skipped_total`, help: 'Records a source could not parse', labelNames: ['source'], registers });
    this.rows = new Counter({ name: `${prefix}rows_total`, help: 'Rows produced into snapshots', labelNames: ['table'], registers });
    this.connections = new Counter({ name: `${prefix}connections_total`, help: 'Connections represented by the connection rows (elided rows count many)', registers });
    this.snapshots = new Counter({ name: `${prefix}snapshots_total`, help: 'Snapshots by what became of them', labelNames: ['outcome'], registers });
    this.spoolDepth = new Gauge({ name: `${prefix}spool_depth`, help: 'Snapshots waiting in the spool', registers });
    this.spoolBytes = new Gauge({ name: `${prefix}spool_bytes`, help: 'Bytes of snapshots waiting in the spool', registers });
    this.eventsLost = new Counter({ name: `${prefix}events_lost_total`, help: 'Events or rows lost, by where they were lost', labelNames: ['kind'], registers });
    this.ticksSkipped = new Counter({ name: `${prefix}ticks_skipped_total`, help: 'Intervals skipped because the previous one was still running', registers });
    this.tickErrors = new Counter({ name: `${prefix}tick_errors_total`, help: 'Intervals that failed with an unexpected error', registers });
    this.tickSeconds = new Histogram({ name: `${prefix}tick_seconds`, help: 'Time one interval\'s work took', buckets: SCAN_BUCKETS, registers });
    this.trackedSockets = new Gauge({ name: `${prefix}tracked_sockets`, help: 'Sockets the tracker remembers between intervals', registers });
  }
}
