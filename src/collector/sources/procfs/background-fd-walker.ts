import type { Logger } from '../../../domain/logger.js';
import type { ProcContext } from '../process/reader.js';
import { FdWalk, type FdWalkStats, type SocketOwners } from './fd-walk.js';

/**
 * Walking every /proc/<pid>/fd/* is the expensive part of a /proc scan, so between snapshots it runs in
 * the background, a block of fds per tick. After each full walk the tick period is rescaled so that the
 * next walk takes about `targetWalkMs` (bounded by min/max tick), and the next walk starts after the rest
 * of the target time. Only one walk runs at a time: the next block is scheduled when the last one ended.
 */

export interface BackgroundFdWalkerOptions {
  readonly ctx: ProcContext;
  readonly logger: Logger;
  /** fds read per tick. */
  readonly blockSize?: number;
  /** How long a full walk should take. */
  readonly targetWalkMs?: number;
  /**
   * With `onWalk`: each walk that changed nothing doubles the target (and the rest after it) up to this,
   * so a steady host is walked rarely; a walk that changed something goes back to `targetWalkMs`.
   */
  readonly maxTargetWalkMs?: number;
  /** Called with each complete walk; returns whether it told the caller anything new. */
  readonly onWalk?: (owners: SocketOwners) => boolean;
  /** Wait before the first walk (when the caller has just walked synchronously). */
  readonly initialDelayMs?: number;
  readonly initialTickMs?: number;
  readonly minTickMs?: number;
  readonly maxTickMs?: number;
  /** A map to serve until the first background walk completes (e.g. from a synchronous walk). */
  readonly initial?: SocketOwners;
}

export interface BackgroundFdWalkerStats {
  readonly running: boolean;
  readonly walks: number;
  /** Walks that could not even list /proc. */
  readonly failedWalks: number;
  readonly tickMs: number;
  /** The current target (grows while walks change nothing, see maxTargetWalkMs). */
  readonly targetWalkMs: number;
  readonly lastWalk: FdWalkStats | null;
}

interface Waiter {
  readonly resolve: (owners: SocketOwners) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export const DEFAULT_FD_BLOCK_SIZE = 300;
export const DEFAULT_TARGET_WALK_MS = 10_000;

/** The next tick period and rest time after a walk that took `tookMs` (pure, exported for tests). */
export function scheduleNextWalk(
  tickMs: number, tookMs: number, targetWalkMs: number, minTickMs: number, maxTickMs: number,
): { readonly tickMs: number; readonly restMs: number } {
  const scaled = tickMs * (targetWalkMs / Math.max(tookMs, 1));
  return {
    tickMs: Math.min(maxTickMs, Math.max(minTickMs, scaled)),
    restMs: Math.max(0, targetWalkMs - tookMs),
  };
}

export class BackgroundFdWalker {
  private readonly blockSize: number;
  private readonly baseTargetWalkMs: number;
  private readonly maxTargetWalkMs: number;
  private targetWalkMs: number;
  private readonly minTickMs: number;
  private readonly maxTickMs: number;
  private tickMs: number;
  private latestOwners: SocketOwners | null;
  private walk: FdWalk | null = null;
  private walkBegan = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private walks = 0;
  private failedWalks = 0;
  private waiters: Waiter[] = [];

  constructor(private readonly options: BackgroundFdWalkerOptions) {
    this.blockSize = options.blockSize ?? DEFAULT_FD_BLOCK_SIZE;
    this.baseTargetWalkMs = options.targetWalkMs ?? DEFAULT_TARGET_WALK_MS;
    this.maxTargetWalkMs = Math.max(this.baseTargetWalkMs, options.maxTargetWalkMs ?? this.baseTargetWalkMs);
    this.targetWalkMs = this.baseTargetWalkMs;
    this.minTickMs = options.minTickMs ?? 50;
    this.maxTickMs = options.maxTickMs ?? 500;
    this.tickMs = options.initialTickMs ?? this.minTickMs;
    this.latestOwners = options.initial ?? null;
  }

  /** Starts walking (the first walk begins at once). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(this.options.initialDelayMs ?? 0);
  }

  /** Stops after the current block; pending `nextWalk` promises reject. */
  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.walk = null;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('background fd walker stopped'));
    }
  }

  /** The map of the latest complete walk (or the initial one), null before any. */
  latest(): SocketOwners | null {
    return this.latestOwners;
  }

  stats(): BackgroundFdWalkerStats {
    return {
      running: this.running,
      walks: this.walks,
      failedWalks: this.failedWalks,
      tickMs: this.tickMs,
      targetWalkMs: this.targetWalkMs,
      lastWalk: this.walks > 0 ? (this.latestOwners?.stats ?? null) : null,
    };
  }

  /** Resolves with the map of the next walk to complete (possibly one already under way). */
  nextWalk(timeoutMs = 60_000): Promise<SocketOwners> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`no fd walk completed within ${timeoutMs} ms`));
      }, timeoutMs);
      // Not unref'd: whoever awaits a walk keeps the process alive until it comes (or times out).
      this.waiters.push({ resolve, reject, timer });
    });
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    // unref: a background walk alone must not keep the process alive.
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    if (!this.running) return;
    if (this.walk === null) {
      try {
        this.walk = new FdWalk(this.options.ctx);
        this.walkBegan = performance.now();
      } catch (err) {
        this.failedWalks++;
        this.options.logger.warn({ err: String(err) }, 'background fd walk: cannot list processes');
        this.schedule(this.targetWalkMs);
        return;
      }
    }
    let finished: boolean;
    try {
      finished = this.walk.step(this.blockSize);
    } catch (err) {
      // FdWalk handles per-process failures itself; anything reaching here is a bug, but keep walking.
      this.failedWalks++;
      this.walk = null;
      this.options.logger.error({ err: String(err) }, 'background fd walk failed');
      this.schedule(this.tickMs);
      return;
    }
    if (!finished) {
      this.schedule(this.tickMs);
      return;
    }
    this.finishWalk(this.walk);
  }

  private finishWalk(walk: FdWalk): void {
    this.walk = null;
    const result = walk.result();
    const tookMs = performance.now() - this.walkBegan;
    this.latestOwners = result;
    this.walks++;
    if (tookMs > this.targetWalkMs * 1.5) {
      this.options.logger.warn({ tookMs, targetWalkMs: this.targetWalkMs, fdsRead: result.stats.fdsRead }, 'background fd walk slower than target');
    }
    let changed = true;
    try {
      changed = this.options.onWalk?.(result) ?? true;
    } catch (err) {
      this.options.logger.error({ err: String(err) }, 'background fd walk: the consumer failed');
    }
    this.targetWalkMs = changed ? this.baseTargetWalkMs : Math.min(this.maxTargetWalkMs, this.targetWalkMs * 2);
    const next = scheduleNextWalk(this.tickMs, tookMs, this.targetWalkMs, this.minTickMs, this.maxTickMs);
    this.tickMs = next.tickMs;
    this.options.logger.debug({ tookMs, ...result.stats, tickMs: next.tickMs, restMs: next.restMs }, 'background fd walk done');
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(result);
    }
    this.schedule(next.restMs);
  }
}
