import type { ConnectionRow, Direction, ProcessKey, SourceName } from '../domain/connection.js';
import { DEFAULT_ELISION_POLICY, elideRows, validateElisionPolicy, type ElisionPolicy } from '../domain/elision.js';
import type { Snapshot, SourceRun } from '../domain/snapshot.js';
import { counterDeltas } from './counters.js';
import {
  buildDirectionTables, DEFAULT_EPHEMERAL_RANGE, EVIDENCE_RANK, inferDirection,
  type DirectionEvidence, type EphemeralRange,
} from './direction.js';
import { CollectorError } from './errors.js';
import { conntrackOriginals, mergeObservations, type MergedSocket, type SourceCounters } from './merge.js';
import { isUnspecified } from './socket-key.js';
import type { SourceReading } from './source.js';
import { mergeListening, mergeNat, mergeProcesses } from './tables.js';

/**
 * The tracker turns the readings of one interval into one Snapshot: it merges the sources, decides
 * directions, turns cumulative counters into deltas, marks first sightings, and elides large groups.
 * Its only state is what it remembers per socket between intervals, bounded in count.
 */

export interface TrackerOptions {
  readonly hostId: string;
  readonly intervalMs: number;
  /** Forget a socket not seen for this long (default: 20 intervals). */
  readonly forgetAfterMs?: number;
  /** Most sockets remembered; beyond it the least recently seen are forgotten and counted as lost. */
  readonly maxTracked?: number;
  /** null disables elision. */
  readonly elision?: ElisionPolicy | null;
  readonly ephemeralRange?: EphemeralRange;
}

export interface TrackerInput {
  /** The snapshot's time: the interval boundary this tick belongs to. */
  readonly timeMs: number;
  readonly readings: readonly SourceReading[];
  /** Runs of sources that produced no reading this time (failed, timed out). */
  readonly failedRuns?: readonly SourceRun[];
  /** Losses outside the sources (spool overflow) and their explanations, for the completeness record. */
  readonly eventsLost?: number;
  readonly errors?: readonly string[];
}

export interface TrackerStats {
  readonly tracked: number;
  /** Sockets forgotten because the table was full (their next sighting counts as new). */
  readonly evictedTotal: number;
  /** Sockets forgotten after not being seen for forgetAfterMs. */
  readonly expiredTotal: number;
}

interface TrackedSocket {
  readonly counters: Map<SourceName, SourceCounters>;
  readonly lastSeenMs: number;
  readonly inode: number | null;
  readonly process: ProcessKey | null;
  readonly direction: Direction;
  readonly evidence: DirectionEvidence;
  readonly openedAtMs: number | null;
}

const DEFAULT_MAX_TRACKED = 100_000;
const DEFAULT_FORGET_INTERVALS = 20;

/** Sockets that are not connections: listeners and unconnected UDP sockets. */
function isConnection(m: MergedSocket): boolean {
  if (m.state === 'LISTEN') return false;
  return !(m.remote.port === 0 && isUnspecified(m.remote.address));
}

export class Tracker {
  private readonly sockets = new Map<string, TrackedSocket>();
  private readonly hostId: string;
  private readonly intervalMs: number;
  private readonly forgetAfterMs: number;
  private readonly maxTracked: number;
  private readonly elision: ElisionPolicy | null;
  private readonly ephemeralRange: EphemeralRange;
  private evictedTotal = 0;
  private expiredTotal = 0;

  constructor(options: TrackerOptions) {
    if (!options.hostId) throw new CollectorError('CONFIG_INVALID', 'hostId must not be empty');
    if (!(options.intervalMs > 0)) throw new CollectorError('CONFIG_INVALID', 'intervalMs must be > 0', { intervalMs: options.intervalMs });
    const elision = options.elision === undefined ? DEFAULT_ELISION_POLICY : options.elision;
    const problem = elision ? validateElisionPolicy(elision) : null;
    if (problem) throw new CollectorError('CONFIG_INVALID', problem, { elision });
    this.hostId = options.hostId;
    this.intervalMs = options.intervalMs;
    this.forgetAfterMs = options.forgetAfterMs ?? DEFAULT_FORGET_INTERVALS * options.intervalMs;
    this.maxTracked = options.maxTracked ?? DEFAULT_MAX_TRACKED;
    if (!(this.maxTracked >= 1)) throw new CollectorError('CONFIG_INVALID', 'maxTracked must be >= 1', { maxTracked: this.maxTracked });
    this.elision = elision;
    this.ephemeralRange = options.ephemeralRange ?? DEFAULT_EPHEMERAL_RANGE;
  }

  stats(): TrackerStats {
    return { tracked: this.sockets.size, evictedTotal: this.evictedTotal, expiredTotal: this.expiredTotal };
  }

  build(input: TrackerInput): Snapshot {
    const observations = input.readings.flatMap((r) => r.observations);
    const nat = mergeNat(input.readings.map((r) => r.nat));
    const listening = mergeListening(input.readings.map((r) => r.listening));
    const tables = buildDirectionTables(nat, conntrackOriginals(observations), listening);
    const merged = mergeObservations(observations, nat, (key) => this.sockets.has(key));

    const rows: ConnectionRow[] = [];
    for (const m of merged) {
      if (isConnection(m)) rows.push(this.track(m, tables, input.timeMs));
    }
    const evicted = this.forget(input.timeMs);

    const errors = [...(input.errors ?? [])];
    if (evicted > 0) errors.push(`tracker full (${this.maxTracked} sockets): forgot ${evicted} sockets; their next sighting counts as new`);
    const sources = [...input.readings.map((r) => r.run), ...(input.failedRuns ?? [])]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      hostId: this.hostId,
      timeMs: input.timeMs,
      intervalMs: this.intervalMs,
      connections: this.elision ? elideRows(rows, this.elision) : rows,
      nat,
      listening,
      processes: mergeProcesses(input.readings.map((r) => r.processes)),
      completeness: { sources, eventsLost: (input.eventsLost ?? 0) + evicted, errors },
    };
  }

  private track(m: MergedSocket, tables: ReturnType<typeof buildDirectionTables>, timeMs: number): ConnectionRow {
    const prior = this.sockets.get(m.key);
    const sameSocket = prior !== undefined && !(m.inode !== null && prior.inode !== null && m.inode !== prior.inode);
    const known = sameSocket ? prior : undefined;
    const deltas = counterDeltas(m.counters, known ? known.counters : null);
    const isNew = !known || deltas.reset;
    const remembered = isNew ? undefined : known;

    let decision = inferDirection(m, tables, this.ephemeralRange);
    if (remembered && EVIDENCE_RANK[remembered.evidence] > EVIDENCE_RANK[decision.evidence]) {
      decision = { direction: remembered.direction, evidence: remembered.evidence };
    }
    const process = m.process ?? remembered?.process ?? null;
    const openedAtMs = m.openedAtMs ?? remembered?.openedAtMs ?? null;

    // Re-inserting keeps the map ordered by last sighting, so forgetting walks it from the front.
    this.sockets.delete(m.key);
    this.sockets.set(m.key, {
      counters: deltas.next, lastSeenMs: timeMs, inode: m.inode ?? remembered?.inode ?? null,
      process, direction: decision.direction, evidence: decision.evidence, openedAtMs,
    });
    return {
      netns: m.netns,
      protocol: m.protocol,
      family: m.family,
      direction: decision.direction,
      localAddress: m.local.address,
      localPort: m.local.port,
      remoteAddress: m.remote.address,
      remotePort: m.remote.port,
      process,
      state: m.state,
      openedAtMs,
      closedAtMs: m.closedAtMs,
      bytesSent: deltas.bytesSent,
      bytesReceived: deltas.bytesReceived,
      retransmits: deltas.retransmits,
      rttUs: m.rttUs,
      source: m.source,
      count: 1,
      newCount: isNew ? 1 : 0,
    };
  }

  /** Drops sockets not seen for forgetAfterMs, then the least recently seen beyond maxTracked. */
  private forget(nowMs: number): number {
    for (const [key, s] of this.sockets) {
      if (s.lastSeenMs >= nowMs - this.forgetAfterMs) break;
      this.sockets.delete(key);
      this.expiredTotal++;
    }
    let evicted = 0;
    for (const key of this.sockets.keys()) {
      if (this.sockets.size <= this.maxTracked) break;
      this.sockets.delete(key);
      evicted++;
    }
    this.evictedTotal += evicted;
    return evicted;
  }
}
