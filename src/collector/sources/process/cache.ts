import type { ProcessInfo, ProcessKey } from '../../../domain/connection.js';
import { startedAtMs } from './parse.js';
import { readProcessInfo, readProcStat, type ProcContext } from './reader.js';

/**
 * Process identities keyed by (pid, start time): a process does not change identity while it lives, so
 * its files are read once, not every interval. A reused pid has another start time, hence another entry.
 * An entry not used between two sweeps is dropped once its process is gone (one stat read tells), which
 * bounds the cache to live processes. Not on idleness: a process that idled through an interval, then sent
 * one last request and exited, must still be known in full when that request is reported after its exit.
 */

export interface ProcessCacheStats {
  readonly size: number;
  readonly hits: number;
  readonly misses: number;
  /** Lookups of processes that had exited (or whose pid was reused) by the time we read them. */
  readonly vanished: number;
}

function keyText(pid: number, started: number): string {
  return `${pid}:${started}`;
}

export class ProcessCache {
  private entries = new Map<string, ProcessInfo>();
  private used = new Set<string>();
  private hits = 0;
  private misses = 0;
  private vanished = 0;

  constructor(private readonly ctx: ProcContext) {}

  /** Identity of the process a socket owner key names; reads nothing when cached. */
  lookupKey(key: ProcessKey): ProcessInfo | null {
    const k = keyText(key.pid, key.startedAtMs);
    const cached = this.entries.get(k);
    if (cached !== undefined) {
      this.hits++;
      this.used.add(k);
      return cached;
    }
    const stat = readProcStat(this.ctx.root, key.pid);
    if (stat === null || startedAtMs(this.ctx.bootTimeMs, stat.startTimeTicks, this.ctx.clkTck) !== key.startedAtMs) {
      this.vanished++;
      return null;
    }
    return this.load(k, key.pid, stat);
  }

  /** Identity of whatever process has `pid` now (one small stat read to tell a reused pid). */
  lookupPid(pid: number): ProcessInfo | null {
    const stat = readProcStat(this.ctx.root, pid);
    if (stat === null) {
      this.vanished++;
      return null;
    }
    const k = keyText(pid, startedAtMs(this.ctx.bootTimeMs, stat.startTimeTicks, this.ctx.clkTck));
    const cached = this.entries.get(k);
    if (cached !== undefined) {
      this.hits++;
      this.used.add(k);
      return cached;
    }
    return this.load(k, pid, stat);
  }

  /** Drops entries not looked up since the previous sweep whose process has exited; returns how many were dropped. */
  sweep(): number {
    let dropped = 0;
    for (const [k, info] of this.entries) {
      if (!this.used.has(k) && !this.alive(info)) {
        this.entries.delete(k);
        dropped++;
      }
    }
    this.used = new Set();
    return dropped;
  }

  stats(): ProcessCacheStats {
    return { size: this.entries.size, hits: this.hits, misses: this.misses, vanished: this.vanished };
  }

  private alive(info: ProcessInfo): boolean {
    const stat = readProcStat(this.ctx.root, info.pid);
    return stat !== null && startedAtMs(this.ctx.bootTimeMs, stat.startTimeTicks, this.ctx.clkTck) === info.startedAtMs;
  }

  private load(k: string, pid: number, stat: Parameters<typeof readProcessInfo>[2]): ProcessInfo | null {
    this.misses++;
    const info = readProcessInfo(this.ctx, pid, stat);
    if (info === null) {
      this.vanished++;
      return null;
    }
    this.entries.set(k, info);
    this.used.add(k);
    return info;
  }
}
