import type { ProcessInfo, ProcessKey, SocketObservation } from '../../../domain/connection.js';
import type { ConnRecord } from './format.js';
import { recordKey, recordProcess, recordToObservation, tupleKey, type EbpfClock } from './observation.js';

/**
 * The eBPF source's memory between two reads: connections closed since the last read (kept until it
 * is taken, so a connection that lived a few ms is still reported), the live ones of the latest dump,
 * and the seed: what a /proc scan saw when the helper (re)started, for connections the helper has not
 * seen an event of yet. A helper record with the same tuple supersedes a seed.
 */

export interface TableReading {
  readonly observations: SocketObservation[];
  readonly processes: ProcessInfo[];
}

export interface ConnectionTableOptions {
  /** UDP seeds (sockets without flow events) are dropped after this long; TCP seeds last until a close. */
  readonly udpSeedTtlMs: number;
}

interface Seed {
  readonly observation: SocketObservation;
  readonly seededAtMs: number;
}

function recordTuple(rec: ConnRecord): string {
  return tupleKey(rec.netns, rec.protocol, rec.local, rec.remote);
}

export class ConnectionTable {
  private closed = new Map<string, ConnRecord>();
  private live = new Map<string, ConnRecord>();
  private seeds = new Map<string, Seed>();
  /** Owners the /proc scan knew for seeded tuples: a pre-existing connection's records may lack a pid. */
  private seedOwners = new Map<string, ProcessKey>();

  constructor(private readonly options: ConnectionTableOptions) {}

  get closedCount(): number {
    return this.closed.size;
  }

  get liveCount(): number {
    return this.live.size;
  }

  addClosed(rec: ConnRecord): void {
    const key = recordKey(rec);
    this.closed.set(key, rec);
    this.live.delete(key);
    this.seeds.delete(recordTuple(rec));
  }

  /**
   * Installs the live set of a complete dump. A connection live before, absent now and never closed lost
   * its close record (ring buffer full, counted by the helper): it is closed at `nowNs` rather than kept
   * forever. Returns how many were.
   */
  replaceLive(records: readonly ConnRecord[], nowNs: number): number {
    const next = new Map<string, ConnRecord>();
    for (const rec of records) {
      const key = recordKey(rec);
      if (this.closed.has(key)) continue; // its close raced the dump: the close wins
      next.set(key, rec);
      this.seeds.delete(recordTuple(rec));
    }
    let vanished = 0;
    for (const [key, rec] of this.live) {
      if (next.has(key) || this.closed.has(key)) continue;
      this.closed.set(key, { ...rec, closed: true, state: 'CLOSE', closeNs: nowNs });
      vanished++;
    }
    this.live = next;
    return vanished;
  }

  /** Replaces the seed with a fresh /proc scan, skipping what the helper already reports. */
  seed(observations: readonly SocketObservation[], nowMs: number): void {
    const reported = new Set<string>();
    for (const rec of this.live.values()) reported.add(recordTuple(rec));
    for (const rec of this.closed.values()) reported.add(recordTuple(rec));
    this.seeds = new Map();
    this.seedOwners = new Map();
    for (const o of observations) {
      const key = tupleKey(o.netns, o.protocol, o.local, o.remote);
      if (o.process !== null) this.seedOwners.set(key, o.process);
      if (!reported.has(key)) this.seeds.set(key, { observation: o, seededAtMs: nowMs });
    }
  }

  /** Everything to report now; forgets the closed connections (they are reported once). */
  take(clock: EbpfClock, nowMs: number): TableReading {
    const observations: SocketObservation[] = [];
    const processes = new Map<string, ProcessInfo>();
    const add = (rec: ConnRecord): void => {
      const tuple = recordTuple(rec);
      observations.push(recordToObservation(rec, clock, this.seedOwners.get(tuple) ?? null));
      const p = recordProcess(rec, clock);
      if (p !== null) processes.set(`${p.pid}/${p.startedAtMs}`, p);
      if (rec.closed) this.seedOwners.delete(tuple);
    };
    for (const rec of this.closed.values()) add(rec);
    for (const rec of this.live.values()) add(rec);
    for (const [key, s] of this.seeds) {
      if (s.observation.protocol === 'udp' && nowMs - s.seededAtMs > this.options.udpSeedTtlMs) {
        this.seeds.delete(key);
        continue;
      }
      observations.push(s.observation);
    }
    this.closed = new Map();
    return { observations, processes: [...processes.values()] };
  }
}
