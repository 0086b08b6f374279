import { existsSync } from 'node:fs';
import type { Family, Protocol } from '../../../domain/connection.js';
import { readHex, type ByteOrder } from './address.js';
import { errnoCode, isVanished } from './errors.js';
import { listNetNamespaces, readNetnsInode } from './netns.js';
import { createAddressCache, parseNetTable, type AddressCache, type InodeChanges, type NetTableEntry } from './net-table.js';
import { ReadBuffer, readProcFile } from './read-file.js';
import { parseSockstat, tableMayHaveEntries, type SockstatCounts } from './sockstat.js';

/**
 * Thin reader over the net table parser: finds the namespaces to read, reads each table once per
 * namespace (through one process living in it) and tags every entry with its namespace inode.
 */

/** 'self': only the caller's own namespace; 'all': every namespace with a process; {pid}: that process's. */
export type NetnsSelection = 'self' | 'all' | { readonly pid: number };

export type NetTableName = 'tcp' | 'tcp6' | 'udp' | 'udp6';

export const ALL_NET_TABLES: readonly NetTableName[] = ['tcp', 'tcp6', 'udp', 'udp6'];

const TABLE_SHAPE: Readonly<Record<NetTableName, { protocol: Protocol; family: Family }>> = {
  tcp: { protocol: 'tcp', family: 4 },
  tcp6: { protocol: 'tcp', family: 6 },
  udp: { protocol: 'udp', family: 4 },
  udp6: { protocol: 'udp', family: 6 },
};

export interface ReadNetTablesOptions {
  /** Where procfs is mounted; a fixture tree in tests. */
  readonly root?: string;
  readonly netns?: NetnsSelection;
  readonly tables?: readonly NetTableName[];
  readonly byteOrder?: ByteOrder;
  /** What to keep from one read to the next, for a caller that reads the tables repeatedly. */
  readonly memory?: NetTablesMemory;
  /**
   * Only listening sockets are wanted: a TCP table is read no further than its first connected socket.
   * The kernel lists a TCP table's listeners first, so on a busy host this reads a few lines instead of
   * every connection (UDP tables, in no such order, are read whole; callers still filter).
   */
  readonly listenersOnly?: boolean;
}

/**
 * What a repeated reader keeps between reads: the read buffer, address texts, and each table's entries,
 * so that unchanged lines give the same entry objects again (see parseNetTable's `previous`).
 */
export class NetTablesMemory {
  readonly buffer = new ReadBuffer();
  readonly addresses: Readonly<Record<Family, AddressCache>> = { 4: createAddressCache(), 6: createAddressCache() };
  private entries = new Map<string, readonly NetTableEntry[]>();
  private next = new Map<string, readonly NetTableEntry[]>();
  private added: number[] = [];
  private removed: number[] = [];
  private changes: InodeChanges = { added: [], removed: [] };

  /**
   * Socket inodes that came and went with the latest read, over every table read (a table read for the
   * first time adds all of its own; a table no longer read removes all of its own).
   */
  get inodeChanges(): InodeChanges {
    return this.changes;
  }

  previous(netns: number, table: NetTableName): readonly NetTableEntry[] | undefined {
    return this.entries.get(`${netns}/${table}`);
  }

  /** `inodes`: what the parse against the previous entries found changed (absent: no previous entries). */
  keep(netns: number, table: NetTableName, entries: readonly NetTableEntry[], inodes?: InodeChanges): void {
    const key = `${netns}/${table}`;
    const before = this.entries.get(key);
    if (inodes !== undefined && before !== undefined) {
      for (const inode of inodes.added) this.added.push(inode);
      for (const inode of inodes.removed) this.removed.push(inode);
    } else {
      if (before !== undefined) pushInodes(this.removed, before);
      pushInodes(this.added, entries);
    }
    this.next.set(key, entries);
  }

  /** Ends a read: tables not read this time (a namespace gone) are forgotten. */
  turn(): void {
    this.entries.forEach((entries, key) => {
      if (!this.next.has(key)) pushInodes(this.removed, entries);
    });
    this.changes = { added: this.added, removed: this.removed };
    this.added = [];
    this.removed = [];
    this.entries = this.next;
    this.next = new Map();
  }
}

function pushInodes(into: number[], entries: readonly NetTableEntry[]): void {
  for (let i = 0; i < entries.length; i++) {
    const inode = (entries[i] as NetTableEntry).inode;
    if (inode !== null) into.push(inode);
  }
}

export interface NetnsTables {
  readonly netns: number;
  /** The process whose view was read; null for 'self'. */
  readonly pid: number | null;
  readonly entries: readonly NetTableEntry[];
  readonly skipped: number;
  /** Tables not read because the namespace's socket counts showed them empty. */
  readonly tablesSkipped: number;
}

export interface NetTablesRead {
  readonly namespaces: readonly NetnsTables[];
  /** Malformed lines over all tables. */
  readonly skipped: number;
  /** Namespaces or tables that could not be read, as text for the completeness record. */
  readonly errors: readonly string[];
  readonly durationMs: number;
}

const LISTEN_STATE = 0x0a;

/**
 * For ReadBuffer.readPrefix: where the listeners of a TCP table end, that is the start of its first
 * complete line (after the header) whose state is not LISTEN; -1 while every complete line listens.
 */
function listenersEnd(): (view: Buffer) => number {
  let lineStart = 0;
  let header = true;
  return (view) => {
    for (;;) {
      const newline = view.indexOf(10, lineStart);
      if (newline < 0) return -1;
      if (header) header = false;
      else {
        // The 4th whitespace-separated field is the state, in hex.
        let i = lineStart;
        for (let field = 0; field < 3; field++) {
          while (i < newline && (view[i] === 32 || view[i] === 9)) i++;
          while (i < newline && view[i] !== 32 && view[i] !== 9) i++;
        }
        while (i < newline && (view[i] === 32 || view[i] === 9)) i++;
        const state = i + 2 <= newline ? readHex(view, i, 2) : -1;
        if (state >= 0 && state !== LISTEN_STATE) return lineStart;
      }
      lineStart = newline + 1;
    }
  };
}

type ReadOutcome = { readonly ok: true; readonly tables: NetnsTables } | { readonly ok: false; readonly vanished: boolean; readonly error: string };

/** The namespace's socket counts (sockstat + sockstat6); empty when unreadable, which means "read everything". */
function readCounts(root: string, who: number | 'self'): SockstatCounts {
  const merged = new Map<string, ReadonlyMap<string, number>>();
  for (const file of ['sockstat', 'sockstat6']) {
    try {
      for (const [k, v] of parseSockstat(readProcFile(`${root}/${who}/net/${file}`, 4096).toString('latin1'))) merged.set(k, v);
    } catch {
      // no counts: every table gets read
    }
  }
  return merged;
}

function readTablesOf(root: string, who: number | 'self', netns: number, options: ReadNetTablesOptions): ReadOutcome {
  const memory = options.memory;
  let entries: NetTableEntry[] = [];
  let shared: NetTableEntry[] | null = null;
  let skipped = 0;
  let tablesSkipped = 0;
  const counts = readCounts(root, who);
  for (const name of options.tables ?? ALL_NET_TABLES) {
    if (!tableMayHaveEntries(counts, name)) {
      tablesSkipped++;
      continue;
    }
    const path = `${root}/${who}/net/${name}`;
    const shape = TABLE_SHAPE[name];
    let bytes: Buffer;
    try {
      const buffer = memory?.buffer ?? (options.listenersOnly && shape.protocol === 'tcp' ? new ReadBuffer() : null);
      if (buffer === null) bytes = readProcFile(path);
      else bytes = options.listenersOnly && shape.protocol === 'tcp' ? buffer.readPrefix(path, listenersEnd()) : buffer.read(path);
    } catch (err) {
      // A missing tcp6/udp6 on a host without IPv6 is an empty table; a missing process is "try another".
      if (errnoCode(err) === 'ENOENT' && existsSync(`${root}/${who}/net`)) continue;
      if (isVanished(err)) return { ok: false, vanished: true, error: `${path}: process exited` };
      return { ok: false, vanished: false, error: `${path}: ${errnoCode(err) ?? String(err)}` };
    }
    const previous = memory?.previous(netns, name);
    const parsed = parseNetTable(bytes, {
      ...shape, byteOrder: options.byteOrder ?? 'LE',
      ...(memory ? { addresses: memory.addresses[shape.family] } : {}), ...(previous ? { previous } : {}),
    });
    memory?.keep(netns, name, parsed.entries, parsed.inodes);
    // Most namespaces fill one table: take its list as it is rather than copy it (the memory keeps that
    // list as the table's, so a second table's entries go into a copy).
    if (entries.length === 0) entries = parsed.entries;
    else {
      if (entries === shared) entries = entries.slice();
      for (let i = 0; i < parsed.entries.length; i++) entries.push(parsed.entries[i] as NetTableEntry);
    }
    if (entries === parsed.entries) shared = entries;
    skipped += parsed.skipped;
  }
  return { ok: true, tables: { netns, pid: who === 'self' ? null : who, entries, skipped, tablesSkipped } };
}

/** Reads the net tables of the selected namespaces. Never throws; failures land in `errors`. */
export function readNetTables(options: ReadNetTablesOptions = {}): NetTablesRead {
  const started = performance.now();
  const root = options.root ?? '/proc';
  const selection = options.netns ?? 'self';
  const namespaces: NetnsTables[] = [];
  const errors: string[] = [];
  const finish = (): NetTablesRead => {
    options.memory?.turn();
    return finishRead();
  };
  const finishRead = (): NetTablesRead => ({
    namespaces,
    skipped: namespaces.reduce((sum, n) => sum + n.skipped, 0),
    errors,
    durationMs: performance.now() - started,
  });

  if (selection !== 'all') {
    const who = selection === 'self' ? 'self' : selection.pid;
    let netns: number;
    try {
      netns = readNetnsInode(root, who);
    } catch (err) {
      errors.push(err instanceof Error ? err.message : String(err));
      return finish();
    }
    const outcome = readTablesOf(root, who, netns, options);
    if (outcome.ok) namespaces.push(outcome.tables);
    else errors.push(outcome.error);
    return finish();
  }

  let listing;
  try {
    listing = listNetNamespaces(root);
  } catch (err) {
    errors.push(`cannot list ${root}: ${errnoCode(err) ?? String(err)}`);
    return finish();
  }
  for (const [netns, pids] of listing.namespaces) {
    let lastError: string | null = null;
    let done = false;
    let vanished = false;
    // Any process of the namespace will do; if it exits under us, the next one shows the same tables.
    for (const pid of pids) {
      const outcome = readTablesOf(root, pid, netns, options);
      if (outcome.ok) { namespaces.push(outcome.tables); done = true; break; }
      lastError = outcome.error;
      vanished = outcome.vanished;
      if (!vanished) break;
    }
    // A namespace whose processes all exited while we read is simply gone, not an error.
    if (!done && !vanished && lastError !== null) errors.push(`netns ${netns}: ${lastError}`);
  }
  return finish();
}
