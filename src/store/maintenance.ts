import type { Database } from './database.js';
import type { Logger } from '../domain/logger.js';
import { refreshTalkerAggregates } from './queries/aggregates.js';

/**
 * TimescaleDB's policies (aggregate refresh, compression, retention) are jobs its background scheduler runs.
 * The embedded engine has no background workers, so conntrail runs the due jobs itself on a timer. The
 * runner never overlaps itself, keeps going after a failed job (logged and counted) and shows each job run.
 */
export type MaintenanceLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface MaintenanceStats {
  readonly runs: number;
  readonly jobsRun: number;
  readonly failures: number;
  readonly lastError: string | null;
}

interface JobRow {
  job_id: number;
  proc_name: string;
  hypertable_name: string | null;
  interval_seconds: number;
}

/** Refreshes every aggregate over a window (tests and backfills use it directly). */
export async function refreshAggregates(db: Database, fromMs: number, toMs: number): Promise<void> {
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  await db.query(`CALL refresh_continuous_aggregate('conntrail.traffic_1m', $1::timestamptz, $2::timestamptz)`, [from, to]);
  const hourFrom = new Date(Math.floor(fromMs / 3_600_000) * 3_600_000).toISOString();
  const hourTo = new Date(Math.ceil(toMs / 3_600_000) * 3_600_000).toISOString();
  await db.query(`CALL refresh_continuous_aggregate('conntrail.traffic_1h', $1::timestamptz, $2::timestamptz)`, [hourFrom, hourTo]);
  await refreshTalkerAggregates(db, fromMs, toMs);
}

/** The embedded engine has no autovacuum: without ANALYZE the planner misjudges every table and aggregate. */
const ANALYZE_EVERY_MS = 10 * 60_000;

export class MaintenanceRunner {
  private readonly db: Database;
  private readonly log: MaintenanceLogger;
  private readonly tickMs: number;
  private readonly lastRun = new Map<number, number>();
  private lastAnalyze = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private stopped = false;
  private stats: MaintenanceStats = { runs: 0, jobsRun: 0, failures: 0, lastError: null };

  constructor(db: Database, log: MaintenanceLogger, tickMs = 30_000) {
    this.db = db;
    this.log = log;
    this.tickMs = tickMs;
  }

  get snapshot(): MaintenanceStats {
    return this.stats;
  }

  start(): void {
    this.stopped = false;
    this.schedule(this.tickMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Runs every job that is due now; a second call while one runs waits for it instead of overlapping. */
  runDue(now = Date.now()): Promise<void> {
    if (this.running) return this.running;
    this.running = this.runJobs(now).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.runDue().finally(() => this.schedule(this.tickMs));
    }, delayMs);
    this.timer.unref();
  }

  private async runJobs(now: number): Promise<void> {
    let jobs: JobRow[];
    try {
      jobs = (await this.db.query<JobRow>(
        `SELECT job_id, proc_name, hypertable_name, extract(epoch FROM schedule_interval)::float8 AS interval_seconds
         FROM timescaledb_information.jobs WHERE job_id >= 1000 ORDER BY job_id`)).rows;
    } catch (err) {
      this.record(0, 1, err);
      return;
    }
    let ran = 0;
    let failed = 0;
    let lastError: unknown = null;
    for (const job of jobs) {
      const last = this.lastRun.get(job.job_id);
      if (last !== undefined && now - last < job.interval_seconds * 1000) continue;
      const started = Date.now();
      try {
        await this.db.query('CALL run_job($1)', [job.job_id]);
        ran++;
        this.log.info({ job: job.job_id, proc: job.proc_name, target: job.hypertable_name, ms: Date.now() - started }, 'maintenance job ran');
      } catch (err) {
        failed++;
        lastError = err;
        this.log.error({ job: job.job_id, proc: job.proc_name, err: (err as Error).message }, 'maintenance job failed');
      }
      this.lastRun.set(job.job_id, now);
      if (this.stopped) break;
    }
    if (!this.stopped && now - this.lastAnalyze >= ANALYZE_EVERY_MS) {
      const started = Date.now();
      try {
        await this.db.query('ANALYZE');
        this.log.info({ ms: Date.now() - started }, 'maintenance: tables analysed');
      } catch (err) {
        failed++;
        lastError = err;
        this.log.error({ err: (err as Error).message }, 'maintenance: ANALYZE failed');
      }
      this.lastAnalyze = now;
    }
    this.record(ran, failed, lastError);
  }

  private record(ran: number, failed: number, err: unknown): void {
    this.stats = {
      runs: this.stats.runs + 1,
      jobsRun: this.stats.jobsRun + ran,
      failures: this.stats.failures + failed,
      lastError: err ? (err as Error).message ?? String(err) : this.stats.lastError,
    };
  }
}
