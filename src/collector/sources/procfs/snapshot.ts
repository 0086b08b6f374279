import type { ListeningSocket, ProcessInfo, ProcessKey, SocketObservation } from '../../../domain/connection.js';
import { ProcessCache } from '../process/cache.js';
import type { ProcContext } from '../process/reader.js';
import type { ByteOrder } from './address.js';
import { walkSocketOwners, type FdWalkStats, type SocketOwners } from './fd-walk.js';
import { isConnectedEntry, isListeningEntry, type InodeChanges, type NetTableEntry } from './net-table.js';
import { NetTablesMemory, readNetTables, type NetnsSelection, type NetTableName } from './net-tables-reader.js';

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
   * by default a synchronous walk of every process. With `memory`, it is given only the socket inodes that
   * came and went since the previous snapshot, which spares collecting every socket of the tables again.
   */
  readonly resolveOwners?: (wanted: ReadonlySet<number> | InodeChanges) => SocketOwners;
  /**
   * What to keep from one snapshot to the next (a source takes them repeatedly): unchanged table lines
   * give the same entries again, and an unchanged socket is reported with the same observation object,
   * which lets the tracker recognise it without looking inside.
   */
  readonly memory?: ProcfsScanMemory;
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
}

/** See ProcfsSnapshotOptions.memory. */
export class ProcfsScanMemory {
  readonly tables = new NetTablesMemory();
  /** The observation made of each (reused) table entry. Weak: entries no longer read take theirs along. */
  readonly observations = new WeakMap<NetTableEntry, SocketObservation>();
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
    ...(options.memory ? { memory: options.memory.tables } : {}),
  });
  const afterTables = performance.now();
  const errors = [...tables.errors];
  let owners: SocketOwners;
  if (options.owners) owners = options.owners;
  else {
    // With memory, an owner index is told only what came and went (it keeps the rest); a walk of every
    // process wants every socket of the tables (it may stop once they all have an owner).
    const changes = options.resolveOwners !== undefined && options.memory !== undefined ? options.memory.tables.inodeChanges : null;
    let wanted: Set<number> | undefined;
    if (changes === null) {
      wanted = new Set<number>();
      for (const ns of tables.namespaces) {
        for (let i = 0; i < ns.entries.length; i++) {
          const inode = (ns.entries[i] as NetTableEntry).inode;
          if (inode !== null) wanted.add(inode);
        }
      }
    }
    try {
      owners = options.resolveOwners ? options.resolveOwners(changes ?? (wanted as Set<number>)) : walkSocketOwners(options.ctx, wanted);
    } catch (err) {
      errors.push(`fd walk: ${err instanceof Error ? err.message : String(err)}`);
      owners = { owners: new Map(), stats: { startedAtMs: Date.now(), durationMs: 0, pids: 0, fdsRead: 0, sockets: 0, errors: 1, vanished: 0 } };
    }
  }
  const afterWalk = performance.now();

  // Sized for every entry (and trimmed): a list grown by pushes leaves copies of itself behind.
  let total = 0;
  for (const ns of tables.namespaces) total += ns.entries.length;
  const observations = new Array<SocketObservation>(total);
  let observed = 0;
  const listening: ListeningSocket[] = [];
  // Owner keys are shared objects per process (one per pid in a walk): dedupe by identity, cheaply.
  const ownerObjects = new Set<ProcessKey>();
  const made = options.memory?.observations;
  let unowned = 0;
  for (const ns of tables.namespaces) {
    for (let i = 0; i < ns.entries.length; i++) {
      const entry = ns.entries[i] as NetTableEntry;
      const owner = entry.inode === null ? null : (owners.owners.get(entry.inode) ?? null);
      if (entry.inode !== null && owner === null) unowned++;
      if (owner !== null) ownerObjects.add(owner);
      if (isListeningEntry(entry)) listening.push(entryToListening(entry, ns.netns, owner));
      else if (isConnectedEntry(entry)) {
        const prior = made?.get(entry);
        if (prior !== undefined && prior.process === owner && prior.netns === ns.netns) {
          observations[observed++] = prior;
          continue;
        }
        const o = entryToObservation(entry, ns.netns, owner);
        observations[observed++] = o;
        made?.set(entry, o);
      }
    }
  }

  observations.length = observed;
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
