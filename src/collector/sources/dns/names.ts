import type { ConnectionRow } from '../../../domain/connection.js';
import type { NameObservation } from '../../../domain/dns.js';
import type { Logger } from '../../../domain/logger.js';
import { parseDnsAnswer } from './parse.js';
import { ReverseResolver, type ReverseOptions, type ReverseStats } from './reverse.js';
import { NameTable } from './table.js';

/**
 * The collector's names of addresses: snooped DNS answers (fed by the eBPF source's helper) and reverse
 * lookups (in the background), kept in one bounded table; each snapshot takes what changed. Nothing here
 * runs on the interval path but a table walk: parsing happens as answers arrive, lookups on their own timer.
 */

export type DnsMode = 'off' | 'snoop' | 'reverse' | 'both';

export const DNS_MODES: readonly DnsMode[] = ['off', 'snoop', 'reverse', 'both'];

/** One answer as the helper delivered it, times already converted to epoch ms. */
export interface SnoopedAnswer {
  readonly atMs: number;
  readonly netns: number;
  readonly pid: number | null;
  readonly processStartedAtMs: number | null;
  /** The first bytes of the reply (at most what the helper copied). */
  readonly payload: Uint8Array;
}

export interface DnsNamesOptions {
  readonly mode: DnsMode;
  readonly logger: Logger;
  readonly maxEntries?: number;
  readonly reannounceMs?: number;
  readonly reverse?: Partial<ReverseOptions>;
  /** Only answers received in this network namespace count (--netns self); null: every namespace. */
  readonly netns?: number | null;
}

export interface DnsNamesStats {
  readonly answers: number;
  readonly malformed: number;
  /** Answers the kernel side did not copy (over its per-second budget, or its ring buffer full). */
  readonly dropped: number;
  readonly entries: number;
  readonly evicted: number;
  readonly reverse: ReverseStats | null;
}

/** Sink the eBPF source feeds with what its helper snooped. */
export interface DnsSnoopSink {
  answer(a: SnoopedAnswer): void;
  /** The helper's cumulative drop counter (restarts from 0 with a new helper). */
  droppedSoFar(total: number): void;
  helperRestarted(): void;
}

const DEFAULT_MAX_ENTRIES = 50_000;
const HOUR_MS = 3_600_000;

export class DnsNames implements DnsSnoopSink {
  private readonly table: NameTable;
  private readonly reverse: ReverseResolver | null;
  private counts = { answers: 0, malformed: 0, dropped: 0 };
  private lastHelperDropped = 0;
  /** Counts already reported in a snapshot, so each snapshot notes only what is new. */
  private reported = { malformed: 0, dropped: 0 };

  constructor(private readonly o: DnsNamesOptions) {
    this.table = new NameTable(o.maxEntries ?? DEFAULT_MAX_ENTRIES, o.reannounceMs ?? HOUR_MS);
    this.reverse = o.mode === 'reverse' || o.mode === 'both'
      ? new ReverseResolver({
        servers: o.reverse?.servers ?? [], perSecond: o.reverse?.perSecond ?? 20, timeoutMs: o.reverse?.timeoutMs ?? 2_000,
        cacheMs: o.reverse?.cacheMs ?? HOUR_MS, maxCache: o.reverse?.maxCache ?? 50_000, maxQueue: o.reverse?.maxQueue ?? 10_000,
      })
      : null;
  }

  get snooping(): boolean {
    return this.o.mode === 'snoop' || this.o.mode === 'both';
  }

  stats(): DnsNamesStats {
    const t = this.table.stats();
    return { ...this.counts, entries: t.entries, evicted: t.evicted, reverse: this.reverse?.stats() ?? null };
  }

  answer(a: SnoopedAnswer): void {
    if (this.o.netns != null && a.netns !== this.o.netns) return;
    const parsed = parseDnsAnswer(a.payload);
    if (!parsed.ok) {
      this.counts.malformed++;
      this.o.logger.debug({ source: 'dns', reason: parsed.reason, pid: a.pid }, 'malformed DNS answer skipped');
      return;
    }
    this.counts.answers++;
    for (const ans of parsed.answers) {
      for (const name of ans.names) {
        this.table.see({
          source: 'snoop', netns: a.netns, address: ans.address, name, asked: name === ans.asked, firstSeenMs: a.atMs, lastSeenMs: a.atMs,
          ttlSeconds: ans.ttlSeconds, pid: a.pid, processStartedAtMs: a.processStartedAtMs,
        });
      }
    }
  }

  droppedSoFar(total: number): void {
    if (total >= this.lastHelperDropped) this.counts.dropped += total - this.lastHelperDropped;
    this.lastHelperDropped = total;
  }

  helperRestarted(): void {
    this.lastHelperDropped = 0;
  }

  /**
   * The names to store with the snapshot at `timeMs`, and a note on what was skipped since the previous
   * one. Queues the snapshot's addresses for reverse lookup (answered in a later snapshot).
   */
  collect(timeMs: number, connections: readonly ConnectionRow[]): { names: NameObservation[]; notes: string[] } {
    const inUse = new Set<string>();
    for (const c of connections) {
      inUse.add(c.remoteAddress);
      inUse.add(c.localAddress);
    }
    if (this.reverse !== null) {
      this.reverse.want([...inUse].filter(worthReverse));
      for (const n of this.reverse.take()) this.table.see(n);
    }
    const notes: string[] = [];
    const malformed = this.counts.malformed - this.reported.malformed;
    const dropped = this.counts.dropped - this.reported.dropped;
    if (malformed > 0) notes.push(`dns: ${malformed} malformed DNS answers skipped`);
    if (dropped > 0) notes.push(`dns: ${dropped} DNS answers not copied (per-second budget or ring buffer full)`);
    this.reported = { malformed: this.counts.malformed, dropped: this.counts.dropped };
    return { names: this.table.take(timeMs, inUse), notes };
  }

  close(): void {
    this.reverse?.close();
  }
}

/** Unspecified and loopback addresses have no name worth a query. */
function worthReverse(address: string): boolean {
  return !(address === '0.0.0.0' || address === '::' || address === '::1' || address.startsWith('127.'));
}
