import { readdirSync, readlinkSync } from 'node:fs';
import type { ProcessKey } from '../../../domain/connection.js';
import { readProcessKey, type ProcContext } from '../process/reader.js';
import { errnoCode, isVanished } from './errors.js';
import { listPids } from './netns.js';

/**
 * Socket -> process mapping by walking /proc/<pid>/fd/*: each socket fd is a link 'socket:[INODE]'.
 * The walk is a resumable state machine so that the same code serves the synchronous full walk (first
 * snapshot) and the rate-limited background walker, which runs it a block of fds at a time.
 */

export interface FdWalkStats {
  /** Epoch ms when the walk began. */
  readonly startedAtMs: number;
  readonly durationMs: number;
  readonly pids: number;
  /** fd links read (readlink calls). */
  readonly fdsRead: number;
  readonly sockets: number;
  /** Processes whose fds could not be read (permission, I/O); processes that exited mid-walk are not errors. */
  readonly errors: number;
  readonly vanished: number;
}

/** The result of one complete walk: socket inode -> owning process. */
export interface SocketOwners {
  readonly owners: ReadonlyMap<number, ProcessKey>;
  readonly stats: FdWalkStats;
}

const SOCKET_PREFIX = 'socket:[';

/** The inode in a link text 'socket:[12345]', or -1. */
export function parseSocketLink(text: string): number {
  if (!text.startsWith(SOCKET_PREFIX) || text.charCodeAt(text.length - 1) !== 93) return -1;
  let v = 0;
  const end = text.length - 1;
  if (end === SOCKET_PREFIX.length || end - SOCKET_PREFIX.length > 15) return -1;
  for (let i = SOCKET_PREFIX.length; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** One walk over /proc, advanced by `step`. */
export class FdWalk {
  private readonly owners = new Map<number, ProcessKey>();
  /** Processes whose fd directory this walk opened (readable or not); vanished ones are left out. */
  private readonly opened = new Set<number>();
  private readonly startedAt = Date.now();
  private readonly startedPerf = performance.now();
  private pidIndex = 0;
  private fds: string[] = [];
  private fdIndex = 0;
  private base = '';
  private currentPid = -1;
  /** Owner key of the current pid, read when its first socket is found; null = exited. */
  private currentKey: ProcessKey | null | undefined = undefined;
  private fdsRead = 0;
  private errors = 0;
  private vanished = 0;
  private finished = false;
  private durationMs = 0;

  private wantedLeft: number;

  /**
   * Lists the processes now; the walk covers those. With `wanted`, the walk ends as soon as every one of
   * those inodes has an owner (the rest of /proc cannot tell us more about them). Throws if /proc itself
   * cannot be listed.
   */
  constructor(
    private readonly ctx: ProcContext,
    private readonly pids: readonly number[] = listPids(ctx.root),
    private readonly wanted: ReadonlySet<number> | null = null,
  ) {
    this.wantedLeft = wanted === null ? Number.POSITIVE_INFINITY : wanted.size;
  }

  get done(): boolean {
    return this.finished;
  }

  /**
   * Does up to `budget` units of work (one unit = one readlink or one fd directory listing);
   * returns true once the walk is complete.
   */
  step(budget: number): boolean {
    let left = budget;
    while (left > 0 && !this.finished) {
      if (this.fdIndex < this.fds.length) {
        const name = this.fds[this.fdIndex++] ?? '';
        left--;
        this.readFd(name);
        continue;
      }
      if (this.pidIndex >= this.pids.length || this.wantedLeft <= 0) {
        this.finished = true;
        this.durationMs = performance.now() - this.startedPerf;
        break;
      }
      this.openPid(this.pids[this.pidIndex++] ?? -1);
      left--;
    }
    return this.finished;
  }

  /** The map and stats; complete only once `step` returned true. */
  result(): SocketOwners {
    return {
      owners: this.owners,
      stats: {
        startedAtMs: this.startedAt,
        durationMs: this.finished ? this.durationMs : performance.now() - this.startedPerf,
        pids: this.pids.length,
        fdsRead: this.fdsRead,
        sockets: this.owners.size,
        errors: this.errors,
        vanished: this.vanished,
      },
    };
  }

  /** The processes walked so far (a walk stopped early has not walked them all). */
  walkedPids(): ReadonlySet<number> {
    return this.opened;
  }

  private openPid(pid: number): void {
    this.currentPid = pid;
    this.currentKey = undefined;
    this.fdIndex = 0;
    this.base = `${this.ctx.root}/${pid}/fd/`;
    try {
      this.fds = readdirSync(this.base);
      this.opened.add(pid);
    } catch (err) {
      this.fds = [];
      if (isVanished(err)) this.vanished++;
      else {
        this.errors++;
        this.opened.add(pid);
      }
    }
  }

  private readFd(name: string): void {
    let link: string;
    try {
      link = readlinkSync(this.base + name);
    } catch (err) {
      // An fd closed between listing and reading is normal. A denied one means the whole process is
      // out of reach (another user namespace): count it once and move on.
      if (isVanished(err) || errnoCode(err) === 'EBADF') return;
      this.errors++;
      this.fdIndex = this.fds.length;
      return;
    }
    this.fdsRead++;
    const inode = parseSocketLink(link);
    if (inode < 0) return;
    if (this.currentKey === undefined) {
      this.currentKey = readProcessKey(this.ctx, this.currentPid);
      if (this.currentKey === null) this.vanished++;
    }
    if (this.currentKey === null) {
      this.fdIndex = this.fds.length; // the process exited: skip its other fds
      return;
    }
    // A socket shared by several processes (inherited over fork) keeps its first, lowest-pid owner.
    if (this.owners.has(inode)) return;
    this.owners.set(inode, this.currentKey);
    if (this.wanted?.has(inode)) this.wantedLeft--;
  }
}

/**
 * Walks every process's fds now, synchronously (stopping early once all `wanted` inodes are found).
 * Throws only if /proc itself cannot be listed.
 */
export function walkSocketOwners(ctx: ProcContext, wanted?: ReadonlySet<number>): SocketOwners {
  const walk = new FdWalk(ctx, listPids(ctx.root), wanted ?? null);
  walk.step(Number.POSITIVE_INFINITY);
  return walk.result();
}
