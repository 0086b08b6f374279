import type { ListeningSocket, ProcessInfo, ProcessKey } from '../../domain/connection.js';
import type { SourceRun } from '../../domain/snapshot.js';
import type { ConnectionSource, SourceReading } from '../source.js';
import { entryToListening, isListeningEntry, readNetTables, walkSocketOwners } from './procfs/index.js';
import { ProcessCache } from './process/cache.js';
import { createProcContext, type ProcContext } from './process/reader.js';

/**
 * Listening sockets from /proc, for when eBPF is the connection source (it sees connections, not listeners).
 * Cheap by design: the net tables are read each interval, but /proc/PID/fd is walked only for listening
 * sockets whose owner is not known yet, and only until each of them is found.
 */
export interface ListeningSourceOptions {
  readonly root?: string;
  readonly netns: 'all' | 'self';
}

export class ListeningSource implements ConnectionSource {
  readonly name = 'procfs' as const;
  private readonly ctx: ProcContext;
  private readonly cache: ProcessCache;
  private readonly netns: 'all' | 'self';
  /** inode -> owner, kept while the socket listens. */
  private owners = new Map<number, ProcessKey | null>();

  constructor(options: ListeningSourceOptions) {
    this.ctx = createProcContext(options.root ?? '/proc');
    this.cache = new ProcessCache(this.ctx);
    this.netns = options.netns;
  }

  async read(signal: AbortSignal): Promise<SourceReading> {
    if (signal.aborted) throw signal.reason;
    const started = performance.now();
    const tables = readNetTables({ root: this.ctx.root, netns: this.netns, listenersOnly: true });
    const found: Array<{ entry: Parameters<typeof entryToListening>[0]; netns: number }> = [];
    const unknown = new Set<number>();
    for (const ns of tables.namespaces) {
      for (const entry of ns.entries) {
        if (!isListeningEntry(entry)) continue;
        found.push({ entry, netns: ns.netns });
        if (entry.inode !== null && !this.owners.has(entry.inode)) unknown.add(entry.inode);
      }
    }
    const next = new Map<number, ProcessKey | null>();
    if (unknown.size > 0) {
      const walked = walkSocketOwners(this.ctx, unknown);
      for (const inode of unknown) next.set(inode, walked.owners.get(inode) ?? null);
    }
    const listening: ListeningSocket[] = [];
    const processes = new Map<string, ProcessInfo>();
    for (const { entry, netns } of found) {
      const owner = entry.inode === null ? null : (next.get(entry.inode) ?? this.owners.get(entry.inode) ?? null);
      if (entry.inode !== null) next.set(entry.inode, owner);
      listening.push(entryToListening(entry, netns, owner));
      if (owner) {
        const info = this.cache.lookupKey(owner);
        if (info) processes.set(`${info.pid}/${info.startedAtMs}`, info);
      }
    }
    this.owners = next; // sockets that stopped listening are forgotten
    this.cache.sweep();
    const run: SourceRun = {
      name: 'procfs', ok: tables.errors.length === 0, durationMs: performance.now() - started, skipped: tables.skipped, lost: 0,
      error: tables.errors.length > 0 ? `listening scan: ${tables.errors.slice(0, 3).join('; ')}` : null,
    };
    return { observations: [], nat: [], listening, processes: [...processes.values()], run };
  }

  async close(): Promise<void> {
    this.owners.clear();
  }
}
