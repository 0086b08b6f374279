import type { SourceRun } from '../../domain/snapshot.js';
import type { Logger } from '../logger.js';
import type { ConnectionSource, SourceReading } from '../source.js';
import { BackgroundFdWalker, takeProcfsSnapshot, walkSocketOwners, type SocketOwners } from './procfs/index.js';
import { ProcessCache } from './process/cache.js';
import { createProcContext, type ProcContext } from './process/reader.js';

/**
 * The /proc source as the loop sees it: net tables of every namespace (or our own), socket owners from
 * the background fd walker (a synchronous walk for the first read, as the seed does), process identity.
 * Sockets whose owner the background map does not know yet (opened since its last walk) are owned by a
 * synchronous walk, at most once per `syncWalkGapMs`, so a new connection gets its pid within an interval.
 */
export interface ProcfsSourceOptions {
  readonly root?: string;
  readonly netns: 'all' | 'self';
  readonly logger: Logger;
  readonly targetWalkMs?: number;
  readonly syncWalkGapMs?: number;
}

export class ProcfsSource implements ConnectionSource {
  readonly name = 'procfs' as const;
  private readonly ctx: ProcContext;
  private readonly cache: ProcessCache;
  private readonly walker: BackgroundFdWalker;
  private readonly options: ProcfsSourceOptions;
  private lastSync: SocketOwners | null = null;
  private lastSyncAt = Number.NEGATIVE_INFINITY;

  constructor(options: ProcfsSourceOptions) {
    this.options = options;
    this.ctx = createProcContext(options.root ?? '/proc');
    this.cache = new ProcessCache(this.ctx);
    this.walker = new BackgroundFdWalker({ ctx: this.ctx, logger: options.logger, ...(options.targetWalkMs ? { targetWalkMs: options.targetWalkMs } : {}) });
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    if (signal.aborted) throw signal.reason;
    const started = performance.now();
    if (this.lastSync === null) {
      this.syncWalk();
      this.walker.start();
    }
    let snap = takeProcfsSnapshot({ ctx: this.ctx, netns: this.options.netns, owners: this.freshestOwners(), cache: this.cache });
    if (snap.stats.unowned > 0 && performance.now() - this.lastSyncAt >= (this.options.syncWalkGapMs ?? 5_000)) {
      this.syncWalk();
      snap = takeProcfsSnapshot({ ctx: this.ctx, netns: this.options.netns, owners: this.freshestOwners(), cache: this.cache });
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

  private syncWalk(): void {
    this.lastSync = walkSocketOwners(this.ctx);
    this.lastSyncAt = performance.now();
  }

  /** The newer of the background walker's map and the last synchronous walk. */
  private freshestOwners(): SocketOwners {
    const background = this.walker.latest();
    const sync = this.lastSync;
    if (!sync) return background ?? { owners: new Map(), stats: { startedAtMs: Date.now(), durationMs: 0, pids: 0, fdsRead: 0, sockets: 0, errors: 0, vanished: 0 } };
    if (!background || background.stats.startedAtMs < sync.stats.startedAtMs) return sync;
    return background;
  }
}
