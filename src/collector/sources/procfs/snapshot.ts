import type { ListeningSocket, ProcessInfo, ProcessKey, SocketObservation } from '../../../domain/connection.js';
import { ProcessCache } from '../process/cache.js';
import type { ProcContext } from '../process/reader.js';
import type { ByteOrder } from './address.js';
import { walkSocketOwners, type FdWalkStats, type SocketOwners } from './fd-walk.js';
import { isConnectedEntry, isListeningEntry, type NetTableEntry } from './net-table.js';
import { readNetTables, type NetnsSelection, type NetTableName } from './net-tables-reader.js';

/**
 * One full /proc scan: net tables of the selected namespaces, socket owners (a fresh synchronous fd walk,
 * or the latest map of the background walker), and the identity of every owning process.
 * Direction is left 'unknown': the tracker decides it from conntrack and the listening table.
 */

export interface ProcfsSnapshotOptions {
  readonly ctx: ProcContext;
  readonly netns?: NetnsSelection;
  readonly tables?: readonly NetTableName[];
  /**
   * Socket owners to use (the background walker's latest map); when absent, walks /proc/<pid>/fd
   * synchronously, stopping once every socket of the tables has its owner.
   */
  readonly owners?: SocketOwners;
  /**
   * Finds the owners of the tables' socket inodes when `owners` is absent (an index kept between scans);
   * by default a synchronous walk of every process.
   */
  readonly resolveOwners?: (wanted: ReadonlySet<number>) => SocketOwners;
  /**
   * The previous snapshot's observations by socket inode (its `byInode`): a socket that has not changed is
   * reported with the same object again, which lets the tracker recognise it without looking inside.
   */
  readonly previous?: ReadonlyMap<number, SocketObservation>;
  /** Reuse across snapshots so unchanged processes are not re-read. */
  readonly cache?: ProcessCache;
  readonly byteOrder?: ByteOrder;
}

export interface ProcfsSnapshotStats {
  readonly netTablesMs: number;
  readonly fdWalkMs: number;
  /** Turning table entries into observations and listening sockets. */
  readonly assembleMs: number;
  /** Process identities (cache lookups, files of processes not seen before). */
  readonly processesMs: number;
  readonly namespaces: number;
  /** Sockets with an inode that no walked process owns (exited, or opened after the walk). */
  readonly unowned: number;
  readonly fdWalk: FdWalkStats;
}

export interface ProcfsSnapshot {
  readonly observations: SocketObservation[];
  readonly listening: ListeningSocket[];
  readonly processes: ProcessInfo[];
  /** Malformed net table lines. */
  readonly skipped: number;
  readonly errors: readonly string[];
  readonly durationMs: number;
  readonly stats: ProcfsSnapshotStats;
  /** Connected observations with an inode, by inode: pass as `previous` to the next snapshot. */
  readonly byInode: ReadonlyMap<number, SocketObservation>;
}

/** A net table entry as a domain observation of source 'procfs'. */
export function entryToObservation(entry: NetTableEntry, netns: number, process: ProcessKey | null): SocketObservation {
  return {
    source: 'procfs',
    netns,
    protocol: entry.protocol,
    family: entry.family,
    local: entry.local,
    remote: entry.remote,
    state: entry.state,
    inode: entry.inode,
    process,
    direction: 'unknown',
    openedAtMs: null,
    closedAtMs: null,
    bytesSent: null,
    bytesReceived: null,
    retransmits: null,
    rttUs: null,
  };
}

/** Whether `o` is what entryToObservation would make of the entry now. */
function unchanged(o: SocketObservation, entry: NetTableEntry, netns: number, process: ProcessKey | null): boolean {
  return o.process === process && o.state === entry.state && o.netns === netns && o.protocol === entry.protocol
    && o.local.port === entry.local.port && o.remote.port === entry.remote.port
    && o.local.address === entry.local.address && o.remote.address === entry.remote.address && o.family === entry.family;
}

/** A listening net table entry as a domain ListeningSocket. */
export function entryToListening(entry: NetTableEntry, netns: number, process: ProcessKey | null): ListeningSocket {
  return {
    netns,
    protocol: entry.protocol,
    family: entry.family,
    address: entry.local.address,
    port: entry.local.port,
    process,
  };
}

export function takeProcfsSnapshot(options: ProcfsSnapshotOptions): ProcfsSnapshot {
  const started = performance.now();
  const tables = readNetTables({
    root: options.ctx.root,
    netns: options.netns ?? 'self',
    ...(options.tables ? { tables: options.tables } : {}),
    ...(options.byteOrder ? { byteOrder: options.byteOrder } : {}),
  });
  const afterTables = performance.now();
  const errors = [...tables.errors];
  let owners: SocketOwners;
  if (options.owners) owners = options.owners;
  else {
    // Only the sockets in the tables matter here: the walk may stop once they all have an owner.
    const wanted = new Set<number>();
    for (const ns of tables.namespaces) for (const e of ns.entries) if (e.inode !== null) wanted.add(e.inode);
    try {
      owners = options.resolveOwners ? options.resolveOwners(wanted) : walkSocketOwners(options.ctx, wanted);
    } catch (err) {
      errors.push(`fd walk: ${err instanceof Error ? err.message : String(err)}`);
      owners = { owners: new Map(), stats: { startedAtMs: Date.now(), durationMs: 0, pids: 0, fdsRead: 0, sockets: 0, errors: 1, vanished: 0 } };
    }
  }
  const afterWalk = performance.now();

  const observations: SocketObservation[] = [];
  const listening: ListeningSocket[] = [];
  // Owner keys are shared objects per process (one per pid in a walk): dedupe by identity, cheaply.
  const ownerObjects = new Set<ProcessKey>();
  const previous = options.previous;
  const byInode = new Map<number, SocketObservation>();
  let unowned = 0;
  for (const ns of tables.namespaces) {
    for (const entry of ns.entries) {
      const owner = entry.inode === null ? null : (owners.owners.get(entry.inode) ?? null);
      if (entry.inode !== null && owner === null) unowned++;
      if (owner !== null) ownerObjects.add(owner);
      if (isListeningEntry(entry)) listening.push(entryToListening(entry, ns.netns, owner));
      else if (isConnectedEntry(entry)) {
        if (entry.inode === null) {
          observations.push(entryToObservation(entry, ns.netns, owner));
          continue;
        }
        const prior = previous?.get(entry.inode);
        const o = prior !== undefined && unchanged(prior, entry, ns.netns, owner) ? prior : entryToObservation(entry, ns.netns, owner);
        observations.push(o);
        byInode.set(entry.inode, o);
      }
    }
  }

  const afterAssemble = performance.now();
  const cache = options.cache ?? new ProcessCache(options.ctx);
  const processes: ProcessInfo[] = [];
  const ownerKeys = new Map<string, ProcessKey>();
  for (const owner of ownerObjects) ownerKeys.set(`${owner.pid}:${owner.startedAtMs}`, owner);
  for (const key of ownerKeys.values()) {
    const info = cache.lookupKey(key);
    if (info !== null) processes.push(info);
  }
  const done = performance.now();
  return {
    observations,
    listening,
    processes,
    skipped: tables.skipped,
    errors,
    durationMs: done - started,
    byInode,
    stats: {
      netTablesMs: afterTables - started,
      fdWalkMs: afterWalk - afterTables,
      assembleMs: afterAssemble - afterWalk,
      processesMs: done - afterAssemble,
      namespaces: tables.namespaces.length,
      unowned,
      fdWalk: owners.stats,
    },
  };
}
