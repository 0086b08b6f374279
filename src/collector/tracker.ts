import type { ConnectionRow, Direction, ProcessKey, SocketState, SourceName } from '../domain/connection.js';
import { DEFAULT_ELISION_POLICY, elideRows, elisionGroupKey, validateElisionPolicy, type ElisionPolicy } from '../domain/elision.js';
import type { Snapshot, SourceRun } from '../domain/snapshot.js';
import { counterDeltas } from './counters.js';
import {
  buildDirectionTables, decision as decisionOf, DEFAULT_EPHEMERAL_RANGE, EVIDENCE_RANK, inferDirectionAtLeast,
  type DirectionEvidence, type DirectionTables, type EphemeralRange, type OriginalKeys,
} from './direction.js';
import { CollectorError } from './errors.js';
import { conntrackOriginals, MergeMemo, mergeObservations, type MergedSocket, type SourceCounters } from './merge.js';
import { isUnspecified, socketKey } from './socket-key.js';
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

/** What the tracker remembers of one socket; updated in place at each sighting (the tracker's own state). */
interface TrackedSocket {
  counters: ReadonlyMap<SourceName, SourceCounters>;
  lastSeenMs: number;
  inode: number | null;
  process: ProcessKey | null;
  direction: Direction;
  evidence: DirectionEvidence;
  openedAtMs: number | null;
  /** The record and row of its latest sighting: an unchanged socket gets the same row again. */
  merged: MergedSocket | null;
  row: ConnectionRow | null;
  /** elisionGroupKey(row), computed once per row. */
  groupKey: string | null;
  /**
   * Set while the socket waits in a listener's accept queue, owned by no process yet, and no row of it was
   * written: when it was first seen so. Its row waits (one interval, 5 s at least) for the process that accepts it.
   */
  heldSinceMs: number | null;
}

const DEFAULT_MAX_TRACKED = 100_000;
const DEFAULT_FORGET_INTERVALS = 20;

/**
 * States of an accepted socket no process has taken yet: it waits in its listener's accept queue, without an
 * inode (no file yet) and so without an owner, and the next accept() gives it one. Any other ownerless socket
 * (TIME_WAIT, an orphan after close()) never gets one again.
 */
const ACCEPT_QUEUE_STATES: ReadonlySet<SocketState> = new Set<SocketState>(['SYN_RECV', 'NEW_SYN_RECV', 'ESTABLISHED', 'CLOSE_WAIT']);

/**
 * How long at least a socket in the accept queue waits for its owner: a busy server may take a few seconds to
 * accept, whatever the interval (with the default 15 s interval, one interval is longer).
 */
const MIN_OWNER_WAIT_MS = 5000;

/** Counters of a socket whose first row is still to be written: its whole values count then. */
const NOTHING_COUNTED: ReadonlyMap<SourceName, SourceCounters> = new Map();

/**
 * The record is of the very socket remembered, not only of its tuple: the same inode, or the same opening
 * time as eBPF saw it (a socket cookie's connection; a new socket on the tuple opens later). Conntrack's
 * first-seen times are no identity: a socket it saw first gets eBPF's opening time afterwards.
 */
function identified(m: MergedSocket, known: TrackedSocket): boolean {
  if (m.inode !== null && m.inode === known.inode) return true;
  return m.source === 'ebpf' && known.merged?.source === 'ebpf' && m.openedAtMs !== null && m.openedAtMs === known.openedAtMs;
}

/** Sockets that are not connections: listeners and unconnected UDP sockets. */
function isConnection(m: MergedSocket): boolean {
  if (m.state === 'LISTEN') return false;
  return !(m.remote.port === 0 && isUnspecified(m.remote.address));
}

export class Tracker {
  private readonly sockets = new Map<string, TrackedSocket>();
  /** Keys of the sockets whose row is held back for their owner (see TrackedSocket.heldSinceMs). */
  private readonly held = new Set<string>();
  private readonly memo = new MergeMemo();
  private readonly originalKeys: OriginalKeys = new WeakMap();
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
    // Usually one reading has observations: no copy of its list then.
    const withObservations = input.readings.filter((r) => r.observations.length > 0);
    const observations = withObservations.length === 1 ? (withObservations[0] as SourceReading).observations : input.readings.flatMap((r) => r.observations);
    const nat = mergeNat(input.readings.map((r) => r.nat));
    const listening = mergeListening(input.readings.map((r) => r.listening));
    const tables = buildDirectionTables(nat, conntrackOriginals(observations), listening, this.originalKeys);
    // Known means reported by another source: conntrack alone never keeps a socket known (its entries linger).
    // eBPF reports every socket of the host: a connection only conntrack lists is then usually one whose socket
    // eBPF reports at its next read (the two sources are read a moment apart), not one without a socket.
    const socketsFollowed = input.readings.some((r) => r.run.name === 'ebpf' && r.run.ok);
    const merged = mergeObservations(observations, nat, (key) => {
      const s = this.sockets.get(key);
      return s !== undefined && s.merged !== null && s.merged.source !== 'conntrack';
    }, this.memo);

    const rows = new Array<ConnectionRow>(merged.length);
    const groupKeys = new Array<string | null>(merged.length);
    let n = 0;
    for (let i = 0; i < merged.length; i++) {
      const m = merged[i] as MergedSocket;
      if (!isConnection(m)) continue;
      const tracked = this.track(m, tables, input.timeMs, socketsFollowed);
      if (tracked.row === null) continue;
      rows[n] = tracked.row;
      groupKeys[n++] = tracked.groupKey;
    }
    rows.length = n;
    groupKeys.length = n;
    for (const row of this.closeVanishedHeld(input.timeMs)) {
      rows.push(row);
      groupKeys.push(this.elision ? elisionGroupKey(row) : null);
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
      connections: inKeyOrder(this.elision ? elideRows(rows, this.elision, groupKeys) : rows),
      nat,
      listening,
      processes: mergeProcesses(input.readings.map((r) => r.processes)),
      completeness: { sources, eventsLost: (input.eventsLost ?? 0) + evicted, errors },
    };
  }

  /** Updates (or starts) what is remembered of the socket, with the row of this sighting. */
  private track(m: MergedSocket, tables: DirectionTables, timeMs: number, socketsFollowed: boolean): TrackedSocket {
    const prior = this.sockets.get(m.key);
    const sameSocket = prior !== undefined && !(m.inode !== null && prior.inode !== null && m.inode !== prior.inode);
    const known = sameSocket ? prior : undefined;
    // A socket whose row was held back has no row yet: its first row counts it, with its whole counters.
    const heldSinceMs = known !== undefined ? known.heldSinceMs : null;
    const deltas = counterDeltas(m.counters, known && heldSinceMs === null ? known.counters : null, known !== undefined && identified(m, known));
    const isNew = !known || heldSinceMs !== null || deltas.reset;
    const remembered = isNew ? undefined : known;

    // Only evidence at least as strong as what is remembered could change the direction.
    const decision = inferDirectionAtLeast(m, tables, this.ephemeralRange, remembered?.evidence ?? 'none', m.key)
      ?? decisionOf((remembered as TrackedSocket).direction, (remembered as TrackedSocket).evidence);
    const process = m.process ?? remembered?.process ?? null;
    const openedAtMs = m.openedAtMs ?? remembered?.openedAtMs ?? null;
    const inode = m.inode ?? remembered?.inode ?? null;

    // Caught in the accept queue: one row now, without a process, and the next with the accepting one would
    // make one connection two (an ownerless server end and a process that seems to have none). The row waits
    // for the owner (one interval, 5 s at least); still ownerless then, it is written as it is.
    // Only a socket with no row yet is held: one already written stays as it was.
    const holdSinceMs = heldSinceMs ?? (!known || deltas.reset ? timeMs : null);
    if (holdSinceMs !== null && timeMs - holdSinceMs < Math.max(this.intervalMs, MIN_OWNER_WAIT_MS) && process === null && m.inode === null && m.protocol === 'tcp'
      && decision.direction === 'incoming' && ACCEPT_QUEUE_STATES.has(m.state)) {
      return this.hold(m.key, prior, {
        counters: NOTHING_COUNTED, lastSeenMs: timeMs, inode: null, process: null, direction: decision.direction, evidence: decision.evidence,
        openedAtMs, merged: m, row: null, groupKey: null, heldSinceMs: holdSinceMs,
      });
    }
    // Only conntrack lists it while eBPF follows the host's sockets: a connect() between the two reads (eBPF
    // had no port for it yet). Its row waits one interval for eBPF's record, which has its process and bytes;
    // one row now and another then would make one connection two (an ownerless one and one counted again).
    if (holdSinceMs !== null && socketsFollowed && m.source === 'conntrack' && process === null && timeMs - holdSinceMs < this.intervalMs) {
      return this.hold(m.key, prior, {
        counters: NOTHING_COUNTED, lastSeenMs: timeMs, inode: null, process: null, direction: decision.direction, evidence: decision.evidence,
        openedAtMs, merged: m, row: null, groupKey: null, heldSinceMs: holdSinceMs,
      });
    }
    if (heldSinceMs !== null) this.held.delete(m.key);

    // The same record as last time, nothing counted since, nothing decided otherwise: the same row.
    const last = remembered?.merged === m ? remembered.row : null;
    const reuse = last !== null && last.newCount === 0 && last.direction === decision.direction && last.process === process
      && last.openedAtMs === openedAtMs && deltas.bytesSent === 0 && deltas.bytesReceived === 0 && deltas.retransmits === 0
      && last.bytesSent === 0 && last.bytesReceived === 0 && last.retransmits === 0;
    const row = reuse ? last : {
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
    // The group depends on the tuple (fixed per key), direction and process: not on counts or state.
    const sameGroup = prior !== undefined && prior.row !== null && prior.row.direction === row.direction && prior.row.process === row.process;
    const groupKey = reuse || sameGroup ? (prior as TrackedSocket).groupKey : (this.elision ? elisionGroupKey(row) : null);

    if (prior === undefined) {
      const tracked: TrackedSocket = {
        counters: deltas.next, lastSeenMs: timeMs, inode, process, direction: decision.direction, evidence: decision.evidence, openedAtMs,
        merged: m, row, groupKey, heldSinceMs: null,
      };
      this.sockets.set(m.key, tracked);
      return tracked;
    }
    prior.counters = deltas.next;
    prior.lastSeenMs = timeMs;
    prior.inode = inode;
    prior.process = process;
    prior.direction = decision.direction;
    prior.evidence = decision.evidence;
    prior.openedAtMs = openedAtMs;
    prior.merged = m;
    prior.row = row;
    prior.groupKey = groupKey;
    prior.heldSinceMs = null;
    return prior;
  }

  /** Remembers a socket whose row is held back for its owner (TrackedSocket.heldSinceMs); it has no row now. */
  private hold(key: string, prior: TrackedSocket | undefined, state: TrackedSocket & { row: null }): TrackedSocket {
    this.held.add(key);
    if (prior === undefined) {
      this.sockets.set(key, state);
      return state;
    }
    Object.assign(prior, state);
    return prior;
  }

  /**
   * Held sockets this reading no longer lists closed before any process took them (or before the scan saw
   * one): alive at the previous snapshot and gone now, they are written now, once, as they were last seen.
   */
  private closeVanishedHeld(timeMs: number): ConnectionRow[] {
    if (this.held.size === 0) return [];
    const rows: ConnectionRow[] = [];
    for (const key of this.held) {
      const s = this.sockets.get(key);
      if (s !== undefined && s.lastSeenMs === timeMs) continue;
      this.held.delete(key);
      if (s === undefined || s.merged === null) continue;
      const m = s.merged;
      const deltas = counterDeltas(m.counters, null);
      const row: ConnectionRow = {
        netns: m.netns, protocol: m.protocol, family: m.family, direction: s.direction,
        localAddress: m.local.address, localPort: m.local.port, remoteAddress: m.remote.address, remotePort: m.remote.port,
        process: null, state: 'CLOSE', openedAtMs: s.openedAtMs, closedAtMs: m.closedAtMs,
        bytesSent: deltas.bytesSent, bytesReceived: deltas.bytesReceived, retransmits: deltas.retransmits, rttUs: m.rttUs,
        source: m.source, count: 1, newCount: 1,
      };
      s.counters = deltas.next;
      s.heldSinceMs = null;
      s.row = row;
      s.groupKey = null;
      rows.push(row);
    }
    return rows;
  }

  /** Drops sockets not seen for forgetAfterMs, then the least recently seen beyond maxTracked. */
  private forget(nowMs: number): number {
    const oldest = nowMs - this.forgetAfterMs;
    this.sockets.forEach((s, key) => {
      if (s.lastSeenMs >= oldest) return;
      this.sockets.delete(key);
      this.held.delete(key);
      this.expiredTotal++;
    });
    const excess = this.sockets.size - this.maxTracked;
    if (excess <= 0) return 0;
    // Stable sort: among sockets last seen at the same time, the first tracked go first.
    const byAge = [...this.sockets].sort(([, a], [, b]) => a.lastSeenMs - b.lastSeenMs);
    for (let i = 0; i < excess; i++) this.sockets.delete((byAge[i] as [string, TrackedSocket])[0]);
    this.evictedTotal += excess;
    return excess;
  }
}

/**
 * Rows in the order of their socket keys, so a snapshot does not depend on the order sources reported
 * in. Done after elision, on the few rows left (elision keeps each surviving row's own tuple).
 */
function inKeyOrder(rows: ConnectionRow[]): ConnectionRow[] {
  const keyed = rows.map((row) => ({
    row,
    key: socketKey({ netns: row.netns, protocol: row.protocol, local: { address: row.localAddress, port: row.localPort }, remote: { address: row.remoteAddress, port: row.remotePort } }),
  }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.row);
}
