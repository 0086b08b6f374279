import type { Endpoint, ProcessInfo, ProcessKey, SocketObservation } from '../../../domain/connection.js';
import { isUnspecified } from '../../socket-key.js';
import type { ConnRecord } from './format.js';
import { recordKey, recordProcess, recordToObservation, tupleKey, type EbpfClock } from './observation.js';

/**
 * The eBPF source's memory between two reads: connections closed since the last read (kept until it
 * is taken, so a connection that lived a few ms is still reported), the live ones of the latest dump,
 * and the seed: what a /proc scan saw when the helper (re)started, for connections the helper has not
 * seen an event of yet. A helper record with the same tuple supersedes a seed.
 *
 * Closed records become observations as they arrive: in a storm they are most of the traffic, and
 * keeping only the small observation (not the record too) halves what survives until the read.
 * Ordering the helper guarantees (FORMAT.md): a connection's close record never precedes its live
 * record within one dump, so a close only has to remove an earlier live record.
 */

export interface TableReading {
  readonly observations: SocketObservation[];
  readonly processes: ProcessInfo[];
}

export interface ConnectionTableOptions {
  /** UDP seeds (sockets without flow events) are dropped after this long; TCP seeds last until a close. */
  readonly udpSeedTtlMs: number;
  /**
   * A live UDP flow whose local address is still unspecified (a wildcard-bound socket sent first; the
   * address its datagrams used is learnt from the first answer) is not reported until it is this old,
   * so a request answered within it is reported once, under its real local address.
   */
  readonly udpLocalGraceMs?: number;
}

interface Seed {
  readonly observation: SocketObservation;
  readonly seededAtMs: number;
}

function recordTuple(rec: ConnRecord): string {
  return tupleKey(rec.netns, rec.protocol, rec.local, rec.remote);
}

function isWildcardUdp(rec: ConnRecord): boolean {
  return rec.protocol === 'udp' && isUnspecified(rec.local.address);
}

/**
 * One UDP flow across its re-keying: when a wildcard socket learns the local address of a flow, the
 * helper moves the flow to a key with that address and the same socket, peer and opening (FORMAT.md), so
 * the record before and the record after share this.
 */
function udpLineage(rec: ConnRecord): string {
  return `${rec.cookie}/${rec.openNs}/${rec.remote.address}/${rec.remote.port}`;
}

/** recordKey of the flow's record before its local address was learnt (both spellings of "unspecified"). */
function wildcardKeys(rec: ConnRecord): string[] {
  return ['0.0.0.0', '::'].map((address) => recordKey({ ...rec, local: { ...rec.local, address } }));
}

export class ConnectionTable {
  private closed: SocketObservation[] = [];
  /** Processes of the closed connections since the last take: pid -> start ticks -> info. */
  private closedProcesses = new Map<number, Map<number, ProcessInfo>>();
  private live = new Map<string, ConnRecord>();
  /** Live keys the latest dump did not list (kept for one dump; see replaceLive). */
  private missing = new Set<string>();
  private seeds = new Map<string, Seed>();
  /** Owners the /proc scan knew for seeded tuples: a pre-existing connection's records may lack a pid. */
  private seedOwners = new Map<string, ProcessKey>();
  /** CLOCK_BOOTTIME ns of the latest dump: the age of a live flow, for udpLocalGraceMs. */
  private liveAtNs = 0;
  /**
   * UDP flows already reported with an unspecified local address (their answer came after the grace):
   * udpLineage -> the local endpoint reported. Their later records keep it, so the flow stays one
   * socket to the tracker and its bytes are not counted again under a second key. Dropped at the close.
   */
  private reportedWildcard = new Map<string, Endpoint>();

  constructor(private readonly options: ConnectionTableOptions) {}

  get closedCount(): number {
    return this.closed.length;
  }

  get liveCount(): number {
    return this.live.size;
  }

  addClosed(rec: ConnRecord, clock: EbpfClock): void {
    if (this.live.size > 0) {
      this.live.delete(recordKey(rec));
      // A flow re-keyed and then closed before the next dump: its wildcard record is not another flow.
      if (rec.protocol === 'udp' && !isUnspecified(rec.local.address)) for (const k of wildcardKeys(rec)) this.live.delete(k);
    }
    if (this.seeds.size > 0) this.seeds.delete(recordTuple(rec));
    this.closed.push(this.toObservation(rec, clock));
    noteProcess(this.closedProcesses, rec, clock);
  }

  /**
   * Installs the live set of a complete dump. A connection live before and absent now is normally one
   * whose close record is on its way: the kernel side drops it from its table a moment before it
   * queues the record, so a dump can fall in between. It is kept one more dump. Absent from two dumps
   * and still not closed, it lost its close record (ring buffer full, counted by the helper): it is
   * closed at `nowNs` rather than kept forever. Returns how many were.
   */
  replaceLive(records: readonly ConnRecord[], nowNs: number, clock: EbpfClock): number {
    this.liveAtNs = nowNs;
    const next = new Map<string, ConnRecord>();
    /** Lineages of UDP flows with a known local address in this dump: their wildcard records are gone for that. */
    const learnt = new Set<string>();
    for (const rec of records) {
      if (rec.protocol === 'udp' && !isUnspecified(rec.local.address)) learnt.add(udpLineage(rec));
      // A connect() in flight: the kernel picks the local port after the SYN_SENT event, so the record
      // has port 0 until the next transition. Such a half-known tuple would only mislead a reader.
      if (rec.state === 'SYN_SENT' && rec.local.port === 0) continue;
      next.set(recordKey(rec), rec);
      if (this.seeds.size > 0) this.seeds.delete(recordTuple(rec));
    }
    let vanished = 0;
    const missing = new Set<string>();
    for (const [key, rec] of this.live) {
      if (next.has(key)) continue;
      // Not closed: moved to its real local address (the helper took its counters over).
      if (isWildcardUdp(rec) && learnt.has(udpLineage(rec))) continue;
      if (this.missing.has(key)) {
        this.addClosed({ ...rec, closed: true, state: 'CLOSE', closeNs: nowNs }, clock);
        vanished++;
      } else {
        next.set(key, rec);
        missing.add(key);
      }
    }
    this.live = next;
    this.missing = missing;
    return vanished;
  }

  /**
   * Forgets the live set without closing anything: when the helper dies, its successor does not know
   * the old live connections, and their absence from its dumps says nothing (the /proc seed covers them).
   */
  forgetLive(): void {
    this.live = new Map();
    this.missing = new Set();
    this.reportedWildcard = new Map();
  }

  /**
   * Replaces the seed with a fresh /proc scan, skipping what the helper already reports, and TIME_WAIT
   * sockets: those connections are over (a helper that ran before reported their close already), the kernel
   * no longer ties them to a process, and no close record would ever end their seed, so each read would
   * report them again as an ownerless connection of their own.
   */
  seed(observations: readonly SocketObservation[], nowMs: number): void {
    const reported = new Set<string>();
    for (const rec of this.live.values()) reported.add(recordTuple(rec));
    for (const o of this.closed) reported.add(tupleKey(o.netns, o.protocol, o.local, o.remote));
    this.seeds = new Map();
    this.seedOwners = new Map();
    for (const o of observations) {
      if (o.state === 'TIME_WAIT') continue;
      const key = tupleKey(o.netns, o.protocol, o.local, o.remote);
      if (o.process !== null) this.seedOwners.set(key, o.process);
      if (!reported.has(key)) this.seeds.set(key, { observation: o, seededAtMs: nowMs });
    }
  }

  /** Everything to report now; forgets the closed connections (they are reported once). */
  take(clock: EbpfClock, nowMs: number): TableReading {
    const observations = this.closed;
    const processes = this.closedProcesses;
    const graceNs = (this.options.udpLocalGraceMs ?? 0) * 1e6;
    for (const rec of this.live.values()) {
      // Its first answer may still tell its local address; until then it is reported by nobody (its
      // counters stay in the helper, nothing is lost).
      if (graceNs > 0 && isWildcardUdp(rec) && rec.openNs > 0 && this.liveAtNs - rec.openNs < graceNs
        && !this.reportedWildcard.has(udpLineage(rec))) continue;
      if (isWildcardUdp(rec)) this.reportedWildcard.set(udpLineage(rec), rec.local);
      observations.push(this.toObservation(rec, clock));
      noteProcess(processes, rec, clock);
    }
    for (const [key, s] of this.seeds) {
      if (s.observation.protocol === 'udp' && nowMs - s.seededAtMs > this.options.udpSeedTtlMs) {
        this.seeds.delete(key);
        continue;
      }
      observations.push(s.observation);
    }
    this.closed = [];
    this.closedProcesses = new Map();
    const list: ProcessInfo[] = [];
    for (const byStart of processes.values()) list.push(...byStart.values());
    return { observations, processes: list };
  }

  private toObservation(record: ConnRecord, clock: EbpfClock): SocketObservation {
    const rec = this.asReported(record);
    if (this.seedOwners.size === 0) return recordToObservation(rec, clock);
    const tuple = recordTuple(rec);
    const owner = this.seedOwners.get(tuple) ?? null;
    if (rec.closed) this.seedOwners.delete(tuple);
    return recordToObservation(rec, clock, owner);
  }

  /** The record under the local endpoint its flow was first reported with; forgets that at the close. */
  private asReported(rec: ConnRecord): ConnRecord {
    if (rec.protocol !== 'udp' || this.reportedWildcard.size === 0) return rec;
    const lineage = udpLineage(rec);
    const local = this.reportedWildcard.get(lineage);
    if (local === undefined) return rec;
    if (rec.closed) this.reportedWildcard.delete(lineage);
    return local === rec.local ? rec : { ...rec, local };
  }
}

/** One ProcessInfo per process, built once: a storm has thousands of records of the same few. */
function noteProcess(into: Map<number, Map<number, ProcessInfo>>, rec: ConnRecord, clock: EbpfClock): void {
  if (rec.pid === 0) return;
  let byStart = into.get(rec.pid);
  if (byStart === undefined) into.set(rec.pid, (byStart = new Map()));
  if (byStart.has(rec.startTicks)) return;
  const p = recordProcess(rec, clock);
  if (p !== null) byStart.set(rec.startTicks, p);
}
