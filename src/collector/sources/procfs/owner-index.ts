import { statSync } from 'node:fs';
import type { ProcessKey } from '../../../domain/connection.js';
import type { ProcContext } from '../process/reader.js';
import { FdWalk, type SocketOwners } from './fd-walk.js';
import { listPids } from './netns.js';
import type { InodeChanges } from './net-table.js';

/**
 * Socket owners kept from one /proc scan to the next, so that a steady host costs no fd walk at all.
 * Walking /proc/<pid>/fd/* is one readlink per fd of every process; yet a socket's owner only has to be
 * looked for when the socket is new to the tables, or its owner exited. For those (and only when there
 * are some) the index first walks the processes that can hold them: new processes, and processes whose
 * fd count changed since they were walked (stat of /proc/<pid>/fd gives the count). Sockets still
 * unaccounted for after that (an fd closed and another opened in between leaves the count alone) are
 * looked for in every other process, at most once per `fullWalkGapMs`; what even that walk cannot find
 * (sockets of processes we may not read, or held by the kernel) is remembered as unowned and not
 * looked for again while it lives.
 *
 * What this cannot see is a socket changing hands between two live processes (passed over a unix
 * socket, or inherited and then closed by the parent): a complete walk now and then (the background
 * walker's) corrects those through `absorb`.
 */

export interface SocketOwnerIndexOptions {
  readonly ctx: ProcContext;
  /** Shortest time between two walks of every process for sockets the quick pass did not find. */
  readonly fullWalkGapMs?: number;
  /** Monotonic clock in ms (tests). */
  readonly now?: () => number;
}

export interface OwnerResolveStats {
  /** Sockets of the tables whose owner was not known before this call. */
  readonly unknown: number;
  /** Processes whose fds were walked during this call. */
  readonly pidsWalked: number;
  readonly fdsRead: number;
  /** Whether every process was walked for the sockets the quick pass left. */
  readonly fullWalk: boolean;
  /** Sockets of the tables left without owner (confirmed by a full walk, or waiting for the next one). */
  readonly unowned: number;
}

interface PidState {
  /** Its fd count (stat of /proc/<pid>/fd) just before it was last walked; -1: unreadable. */
  readonly fds: number;
  /** When it was last walked, epoch ms. */
  readonly walkedAtMs: number;
}

export const DEFAULT_FULL_WALK_GAP_MS = 5_000;

const NO_RESOLVE: OwnerResolveStats = Object.freeze({ unknown: 0, pidsWalked: 0, fdsRead: 0, fullWalk: false, unowned: 0 });

/** fds the process has open now (-1 when its fd directory cannot be read). */
function fdCount(root: string, pid: number): number {
  try {
    return statSync(`${root}/${pid}/fd`).size;
  } catch {
    return -1;
  }
}

export class SocketOwnerIndex {
  private readonly owners = new Map<number, ProcessKey>();
  /** Sockets a walk of every process did not find an owner for. */
  private readonly unowned = new Set<number>();
  private readonly pids = new Map<number, PidState>();
  private readonly fullWalkGapMs: number;
  private readonly now: () => number;
  private lastFullWalkMs = Number.NEGATIVE_INFINITY;
  private last: OwnerResolveStats = NO_RESOLVE;
  /** The socket inodes of the tables (kept up to date by changes, or replaced by a whole set). */
  private present = new Set<number>();
  /** Present sockets without an owner yet that no walk of every process has confirmed unowned. */
  private readonly pending = new Set<number>();

  constructor(private readonly options: SocketOwnerIndexOptions) {
    this.fullWalkGapMs = options.fullWalkGapMs ?? DEFAULT_FULL_WALK_GAP_MS;
    this.now = options.now ?? (() => performance.now());
  }

  /** What the latest `resolve` did. */
  stats(): OwnerResolveStats {
    return this.last;
  }

  /**
   * Owners of the sockets of the tables just read, walking only what may have changed. `sockets`: every
   * socket inode of the tables, or just what came and went since the previous call (the cheap way on a
   * steady host). Forgets sockets no longer present. Throws only if /proc itself cannot be listed.
   */
  resolve(sockets: ReadonlySet<number> | InodeChanges): SocketOwners {
    const started = performance.now();
    const startedAtMs = Date.now();
    // Sockets to look for: those new to the tables, those still pending, and those whose owner exited.
    const unknown = new Set<number>();
    if (sockets instanceof Set) {
      this.present = new Set(sockets);
      this.present.forEach((inode) => {
        if (!this.owners.has(inode) && !this.unowned.has(inode)) unknown.add(inode);
      });
    } else {
      // Indexed loops and forEach over the big collections here: a for-of loop that runs once per read is
      // seldom optimised, and then makes an iterator result per element (megabytes at start-up).
      const { added, removed } = sockets as InodeChanges;
      for (let i = 0; i < removed.length; i++) this.present.delete(removed[i] as number);
      for (let i = 0; i < added.length; i++) {
        const inode = added[i] as number;
        this.present.add(inode);
        if (!this.owners.has(inode) && !this.unowned.has(inode)) unknown.add(inode);
      }
    }
    const present = this.present;
    const pids = listPids(this.options.ctx.root);
    const alive = new Set(pids);
    for (const pid of this.pids.keys()) if (!alive.has(pid)) this.pids.delete(pid);
    this.owners.forEach((owner, inode) => {
      if (!present.has(inode)) this.owners.delete(inode);
      else if (!alive.has(owner.pid)) {
        this.owners.delete(inode);
        unknown.add(inode);
      }
    });
    this.unowned.forEach((inode) => { if (!present.has(inode)) this.unowned.delete(inode); });
    this.pending.forEach((inode) => {
      if (!present.has(inode) || this.owners.has(inode) || this.unowned.has(inode)) this.pending.delete(inode);
      else unknown.add(inode);
    });

    const counts = { unknown: unknown.size, pidsWalked: 0, fdsRead: 0, errors: 0, vanished: 0 };
    let fullWalk = false;
    if (unknown.size > 0) {
      // fd counts by stat, compared with the counts by stat when each process was last walked.
      const fds = new Map<number, number>();
      for (const pid of pids) fds.set(pid, fdCount(this.options.ctx.root, pid));
      const changed = pids.filter((pid) => this.pids.get(pid)?.fds !== fds.get(pid));
      this.walk(changed, fds, unknown, counts);
      const walked = new Set(changed);
      const rest = changed.length === pids.length ? [] : pids.filter((pid) => !walked.has(pid));
      if (unknown.size > 0 && (rest.length === 0 || this.now() - this.lastFullWalkMs >= this.fullWalkGapMs)) {
        this.walk(rest, fds, unknown, counts);
        fullWalk = true;
        this.lastFullWalkMs = this.now();
        // Every process that lived when the tables were read has been walked: these have no owner we can see.
        unknown.forEach((inode) => this.unowned.add(inode));
        unknown.clear();
      }
    }
    // What is still unknown waits for the next walk of every process.
    unknown.forEach((inode) => this.pending.add(inode));
    // Owners are kept for present sockets only.
    const unowned = present.size - this.owners.size;
    this.last = { unknown: counts.unknown, pidsWalked: counts.pidsWalked, fdsRead: counts.fdsRead, fullWalk, unowned };
    return {
      owners: this.owners,
      stats: {
        startedAtMs, durationMs: performance.now() - started, pids: counts.pidsWalked, fdsRead: counts.fdsRead,
        sockets: this.owners.size, errors: counts.errors, vanished: counts.vanished,
      },
    };
  }

  /**
   * Takes in a complete walk made meanwhile (the background walker's): it finds owners for sockets
   * thought unowned, and corrects owners of processes walked here before that walk began (the socket
   * may have changed hands since). Returns how many owners it changed.
   */
  absorb(walk: SocketOwners): number {
    const walkStartedMs = walk.stats.startedAtMs;
    let changed = 0;
    for (const [inode, owner] of walk.owners) {
      const known = this.owners.get(inode);
      if (known === undefined) {
        if (!this.unowned.delete(inode) && !this.pending.delete(inode)) continue;
      } else {
        if (known.pid === owner.pid && known.startedAtMs === owner.startedAtMs) continue;
        const walkedAt = this.pids.get(known.pid)?.walkedAtMs;
        if (walkedAt !== undefined && walkedAt > walkStartedMs) continue;
      }
      this.owners.set(inode, owner);
      changed++;
    }
    return changed;
  }

  /** Walks the fds of `pids` until every `wanted` socket is found; moves found ones from `wanted` to the map. */
  private walk(
    pids: readonly number[], fds: ReadonlyMap<number, number>, wanted: Set<number>,
    counts: { pidsWalked: number; fdsRead: number; errors: number; vanished: number },
  ): void {
    if (pids.length === 0 || wanted.size === 0) return;
    const walk = new FdWalk(this.options.ctx, pids, wanted);
    walk.step(Number.POSITIVE_INFINITY);
    const result = walk.result();
    const walkedAtMs = result.stats.startedAtMs;
    // The walk may stop early (everything wanted found): only the processes it listed count as walked.
    for (const pid of walk.walkedPids()) this.pids.set(pid, { fds: fds.get(pid) ?? -1, walkedAtMs });
    wanted.forEach((inode) => {
      const owner = result.owners.get(inode);
      if (owner === undefined) return;
      this.owners.set(inode, owner);
      wanted.delete(inode);
    });
    counts.pidsWalked += walk.walkedPids().size;
    counts.fdsRead += result.stats.fdsRead;
    counts.errors += result.stats.errors;
    counts.vanished += result.stats.vanished;
  }
}
