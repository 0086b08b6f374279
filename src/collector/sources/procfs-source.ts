import type { SourceRun } from '../../domain/snapshot.js';
import type { Logger } from '../../domain/logger.js';
import type { ConnectionSource, SourceReading } from '../source.js';
import { BackgroundFdWalker, ProcfsScanMemory, SocketOwnerIndex, takeProcfsSnapshot, type OwnerResolveStats } from './procfs/index.js';
import { ProcessCache } from './process/cache.js';
import { createProcContext, type ProcContext } from './process/reader.js';

/**
 * The /proc source as the loop sees it: net tables of every namespace (or our own), socket owners from
 * an index kept between reads (it walks fds only for sockets new to the tables, first in the processes
 * that are new or whose fd count changed, and all of /proc at most once per `syncWalkGapMs`), so a new
 * connection gets its pid in the read that first sees it, and a steady host costs no fd walk. A slow
 * background walk of every process corrects owners that changed hands between two live processes; it
 * slows down further while it finds nothing to correct.
 */
export interface ProcfsSourceOptions {
  readonly root?: string;
  readonly netns: 'all' | 'self';
  readonly logger: Logger;
  /**
   * How long the background walk takes, and the rest after it (default 5 min: it only corrects what the
   * index cannot see, and a walk of every fd costs about 20 µs per fd); it doubles up to `maxTargetWalkMs`
   * while it corrects nothing.
   */
  readonly targetWalkMs?: number;
  /** Default 6 x targetWalkMs. */
  readonly maxTargetWalkMs?: number;
  /** Shortest time between two walks of every process for sockets whose owner a quick pass did not find. */
  readonly syncWalkGapMs?: number;
}

export const DEFAULT_BACKGROUND_WALK_MS = 300_000;

export class ProcfsSource implements ConnectionSource {
  readonly name = 'procfs' as const;
  private readonly ctx: ProcContext;
  private readonly cache: ProcessCache;
  private readonly index: SocketOwnerIndex;
  private readonly walker: BackgroundFdWalker;
  private readonly options: ProcfsSourceOptions;
  private started = false;
  /** Kept between reads: unchanged sockets cost no new objects and are reported with the same ones. */
  private readonly memory = new ProcfsScanMemory();

  constructor(options: ProcfsSourceOptions) {
    this.options = options;
    this.ctx = createProcContext(options.root ?? '/proc');
    this.cache = new ProcessCache(this.ctx);
    this.index = new SocketOwnerIndex({ ctx: this.ctx, ...(options.syncWalkGapMs !== undefined ? { fullWalkGapMs: options.syncWalkGapMs } : {}) });
    const target = options.targetWalkMs ?? DEFAULT_BACKGROUND_WALK_MS;
    this.walker = new BackgroundFdWalker({
      ctx: this.ctx, logger: options.logger, targetWalkMs: target, maxTargetWalkMs: options.maxTargetWalkMs ?? 6 * target,
      // The first read walks everything synchronously: the background has nothing to add for a while.
      initialDelayMs: target,
      onWalk: (walk) => this.index.absorb(walk) > 0,
    });
  }

  /** What the owner index did in the latest read (tests, diagnostics). */
  ownerStats(): OwnerResolveStats {
    return this.index.stats();
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    if (signal.aborted) throw signal.reason;
    const started = performance.now();
    const snap = takeProcfsSnapshot({
      ctx: this.ctx, netns: this.options.netns, cache: this.cache, resolveOwners: (wanted) => this.index.resolve(wanted),
      memory: this.memory,
    });
    if (!this.started) {
      this.started = true;
      this.walker.start();
    }
    this.cache.sweep();
    const run: SourceRun = {
      name: 'procfs', ok: snap.errors.length === 0, durationMs: performance.now() - started,
      skipped: snap.skipped, lost: 0, error: snap.errors.length > 0 ? snap.errors.slice(0, 5).join('; ') : null,
    };
    return { observations: snap.observations, nat: [], listening: snap.listening, processes: snap.processes, run };
  }

  async close(): Promise<void> {
    this.walker.stop();
  }
}
