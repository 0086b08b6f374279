import type {
  Direction, Family, NatTranslation, ProcessKey, SocketObservation, SocketState, SourceName,
} from '../domain/connection.js';
import { socketKey, tupleKey, type SocketTuple } from './socket-key.js';

/**
 * Merging the observations of all sources into one record per socket. Pure: the tracker feeds it the
 * readings of one interval and a way to ask whether a socket key was seen before.
 */

/** Field preference when sources disagree: eBPF sees the most, conntrack the least about a socket. */
export const SOURCE_PRIORITY: readonly SourceName[] = Object.freeze(['ebpf', 'procfs', 'conntrack'] as const);

export interface SourceCounters {
  readonly bytesSent: number | null;
  readonly bytesReceived: number | null;
  readonly retransmits: number | null;
}

export interface MergedSocket extends SocketTuple {
  readonly key: string;
  readonly family: Family;
  readonly state: SocketState;
  readonly inode: number | null;
  readonly process: ProcessKey | null;
  /** Direction as observed by a source ('unknown' when none knew). */
  readonly direction: Direction;
  readonly openedAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly rttUs: number | null;
  /** The most preferred source that saw the socket. */
  readonly source: SourceName;
  /** Cumulative counters per source, oriented as this socket (sent = local -> remote). */
  readonly counters: ReadonlyMap<SourceName, SourceCounters>;
}

function priority(s: SourceName): number {
  const i = SOURCE_PRIORITY.indexOf(s);
  return i < 0 ? SOURCE_PRIORITY.length : i;
}

function flipDirection(d: Direction): Direction {
  return d === 'outgoing' ? 'incoming' : d === 'incoming' ? 'outgoing' : 'unknown';
}

/** The same observation seen from the other end of the connection. */
export function flipObservation(o: SocketObservation): SocketObservation {
  return {
    ...o, local: o.remote, remote: o.local, direction: flipDirection(o.direction),
    bytesSent: o.bytesReceived, bytesReceived: o.bytesSent,
  };
}

/** NAT translations indexed by their original tuple, oriented as its sender saw it. */
export function indexNatByOriginal(nat: readonly NatTranslation[]): Map<string, NatTranslation> {
  const out = new Map<string, NatTranslation>();
  for (const t of nat) {
    out.set(tupleKey(t.netns, t.protocol,
      { address: t.original.src, port: t.original.srcPort }, { address: t.original.dst, port: t.original.dstPort }), t);
  }
  return out;
}

function natReplyPlacement(o: SocketObservation, natByOriginal: ReadonlyMap<string, NatTranslation>): SocketObservation | null {
  const t = natByOriginal.get(socketKey(o));
  if (!t) return null;
  // The server's socket is the reply tuple's source: it receives what the original sender sent.
  return {
    ...flipObservation(o),
    local: { address: t.reply.src, port: t.reply.srcPort },
    remote: { address: t.reply.dst, port: t.reply.dstPort },
  };
}

/**
 * Where a conntrack observation belongs: the socket seen under the same orientation, the mirrored one, or
 * the server socket behind a DNAT, among the sockets another source sees now; null when another source saw
 * that socket before but not now (it is gone: conntrack's entry only lingers, and adds no row of its own);
 * else the observation itself (a connection only conntrack saw).
 */
function placeConntrack(
  o: SocketObservation, natByOriginal: ReadonlyMap<string, NatTranslation>, present: { has(key: string): boolean }, known: (key: string) => boolean,
): SocketObservation | null {
  const candidates: SocketObservation[] = [o, flipObservation(o)];
  const viaNat = natReplyPlacement(o, natByOriginal);
  if (viaNat) candidates.push(viaNat);
  const now = candidates.find((c) => present.has(socketKey(c)));
  if (now !== undefined) return now;
  return candidates.some((c) => known(socketKey(c))) ? null : o;
}

function firstNonNull<T>(obs: readonly SocketObservation[], pick: (o: SocketObservation) => T | null): T | null {
  for (const o of obs) {
    const v = pick(o);
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

function maxOrNull(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.max(a, b);
}

function mergeCounters(obs: readonly SocketObservation[]): Map<SourceName, SourceCounters> {
  const out = new Map<SourceName, SourceCounters>();
  for (const o of obs) {
    if (o.bytesSent === null && o.bytesReceived === null && o.retransmits === null) continue;
    const prior = out.get(o.source);
    // One source reporting the same socket twice in one reading: the larger cumulative value is the later one.
    out.set(o.source, prior ? {
      bytesSent: maxOrNull(prior.bytesSent, o.bytesSent),
      bytesReceived: maxOrNull(prior.bytesReceived, o.bytesReceived),
      retransmits: maxOrNull(prior.retransmits, o.retransmits),
    } : { bytesSent: o.bytesSent, bytesReceived: o.bytesReceived, retransmits: o.retransmits });
  }
  return out;
}

/** Counters of a socket no source counted (shared: never mutated). */
const NO_COUNTERS: ReadonlyMap<SourceName, SourceCounters> = new Map();

function mergeBucket(key: string, observations: readonly SocketObservation[]): MergedSocket {
  const obs = [...observations].sort((a, b) => priority(a.source) - priority(b.source));
  const first = obs[0] as SocketObservation;
  const observed = obs.find((o) => o.direction !== 'unknown');
  return {
    key,
    netns: first.netns,
    protocol: first.protocol,
    family: first.family,
    local: first.local,
    remote: first.remote,
    state: first.state,
    inode: firstNonNull(obs, (o) => o.inode),
    process: firstNonNull(obs, (o) => o.process),
    direction: observed ? observed.direction : 'unknown',
    openedAtMs: firstNonNull(obs, (o) => o.openedAtMs),
    closedAtMs: firstNonNull(obs, (o) => o.closedAtMs),
    rttUs: firstNonNull(obs, (o) => o.rttUs),
    source: first.source,
    counters: mergeCounters(obs),
  };
}

/** The common case, one source saw the socket: the same record as mergeBucket([o]), without its detours. */
function mergeSingle(key: string, o: SocketObservation): MergedSocket {
  const counted = o.bytesSent !== null || o.bytesReceived !== null || o.retransmits !== null;
  return {
    key,
    netns: o.netns,
    protocol: o.protocol,
    family: o.family,
    local: o.local,
    remote: o.remote,
    state: o.state,
    inode: o.inode ?? null,
    process: o.process ?? null,
    direction: o.direction,
    openedAtMs: o.openedAtMs ?? null,
    closedAtMs: o.closedAtMs ?? null,
    rttUs: o.rttUs ?? null,
    source: o.source,
    counters: counted
      ? new Map([[o.source, { bytesSent: o.bytesSent, bytesReceived: o.bytesReceived, retransmits: o.retransmits }]])
      : NO_COUNTERS,
  };
}

/**
 * The key and record made of each observation object merged before. Sources report an unchanged socket
 * with the same object from one read to the next (the /proc source, the eBPF source its seeds), and a
 * steady host is mostly such sockets: recognising them by identity spares building their key and record
 * again. Weak: an observation no source reports any more takes its entry along.
 */
export class MergeMemo {
  /** The record made of the observation alone (it holds the key), or just the key when it was not alone. */
  private readonly recalled = new WeakMap<SocketObservation, MergedSocket | string>();
  /**
   * The buckets of the merges, kept from one to the next: a steady host has the same sockets each time,
   * and refilling kept buckets makes no garbage, where a map of every socket per merge made megabytes.
   */
  readonly buckets = new Buckets();

  key(o: SocketObservation): string | undefined {
    const r = this.recalled.get(o);
    return r === undefined || typeof r === 'string' ? r : r.key;
  }

  /** The record made of `o` when it was alone on its socket. */
  merged(o: SocketObservation): MergedSocket | undefined {
    const r = this.recalled.get(o);
    return r === undefined || typeof r === 'string' ? undefined : r;
  }

  keep(o: SocketObservation, recalled: MergedSocket | string): void {
    this.recalled.set(o, recalled);
  }

  /** Where a conntrack observation was placed last time, and under which key. */
  readonly placements = new WeakMap<SocketObservation, { readonly placed: SocketObservation; readonly key: string; readonly ownKey: string }>();
  /** Conntrack observations of sockets another source saw and no longer sees: the same object stays left out. */
  readonly leftOut = new WeakSet<SocketObservation>();
}

/** The observations of one socket in one merge: one is the rule, `more` holds the rest when there are. */
interface Bucket {
  generation: number;
  first: SocketObservation;
  more: SocketObservation[] | null;
  /** The observations of the latest merge of several, and its record: the same ones give the same record. */
  merged: { readonly all: readonly SocketObservation[]; readonly record: MergedSocket } | null;
}

/** Observations by socket key for one merge at a time; buckets of sockets not seen again are dropped. */
class Buckets {
  private readonly byKey = new Map<string, Bucket>();
  private generation = 0;

  /** Starts a merge: every bucket counts as empty until added to. */
  begin(): void {
    this.generation++;
  }

  add(key: string, o: SocketObservation): void {
    const b = this.byKey.get(key);
    if (b === undefined) this.byKey.set(key, { generation: this.generation, first: o, more: null, merged: null });
    else if (b.generation !== this.generation) {
      b.generation = this.generation;
      b.first = o;
      b.more = null;
    } else (b.more ??= []).push(o);
  }

  has(key: string): boolean {
    return this.byKey.get(key)?.generation === this.generation;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** The filled buckets, in the order their sockets were first seen; drops the empty ones. */
  forEach(fn: (b: Bucket, key: string) => void): void {
    this.byKey.forEach((b, key) => {
      if (b.generation !== this.generation) this.byKey.delete(key);
      else fn(b, key);
    });
  }
}

/**
 * Merges all observations of one interval into one record per socket, in no particular order (the
 * tracker orders what is left after elision: sorting every socket each interval would cost more).
 * `known` tells whether a socket key was reported by a source other than conntrack before.
 * With a memo, an observation object seen in the previous merge yields the same key, and the same record
 * when it is again alone on its socket.
 */
export function mergeObservations(
  observations: readonly SocketObservation[],
  nat: readonly NatTranslation[],
  known: (key: string) => boolean = () => false,
  memo?: MergeMemo,
): MergedSocket[] {
  const buckets = memo?.buckets ?? new Buckets();
  buckets.begin();
  const fromConntrack: SocketObservation[] = [];
  for (let i = 0; i < observations.length; i++) {
    const o = observations[i] as SocketObservation;
    if (o.source === 'conntrack') fromConntrack.push(o);
    else buckets.add(memo?.key(o) ?? socketKey(o), o);
  }
  if (fromConntrack.length > 0) {
    // "Present" means seen by another source: buckets a conntrack observation opened do not count.
    const openedByConntrack = new Set<string>();
    const present = { has: (key: string): boolean => buckets.has(key) && !openedByConntrack.has(key) };
    const natByOriginal = indexNatByOriginal(nat);
    for (const o of fromConntrack) {
      // Placed on a socket another source sees now, as last time, and its own tuple (the first choice)
      // still not seen otherwise: the same placed observation.
      if (memo?.leftOut.has(o)) continue;
      const before = memo?.placements.get(o);
      let placed: SocketObservation;
      let key: string;
      if (before !== undefined && present.has(before.key) && (before.placed === o || !present.has(before.ownKey))) ({ placed, key } = before);
      else {
        const found = placeConntrack(o, natByOriginal, present, known);
        if (found === null) {
          memo?.leftOut.add(o);
          continue;
        }
        placed = found;
        key = socketKey(placed);
        memo?.placements.set(o, { placed, key, ownKey: placed === o ? key : socketKey(o) });
      }
      if (!buckets.has(key)) openedByConntrack.add(key);
      buckets.add(key, placed);
    }
  }
  // Sized up front (at least as many as there are buckets): a list grown one push at a time leaves copies.
  const out = new Array<MergedSocket>(buckets.size);
  let n = 0;
  buckets.forEach((bucket, key) => {
    if (bucket.more !== null) {
      const last = bucket.merged;
      if (last !== null && sameObservations(last.all, bucket.first, bucket.more)) {
        out[n++] = last.record;
        return;
      }
      const all = [bucket.first, ...bucket.more];
      const record = mergeBucket(key, all);
      if (memo) bucket.merged = { all, record };
      out[n++] = record;
      // Every observation of a bucket was added under its own key.
      if (memo) for (const o of all) if (memo.key(o) === undefined) memo.keep(o, key);
      return;
    }
    const single = bucket.first;
    if (memo === undefined) {
      out[n++] = mergeSingle(key, single);
      return;
    }
    let merged = memo.merged(single);
    if (merged === undefined) {
      merged = mergeSingle(key, single);
      memo.keep(single, merged);
    }
    out[n++] = merged;
  });
  out.length = n;
  return out;
}

function sameObservations(all: readonly SocketObservation[], first: SocketObservation, more: readonly SocketObservation[]): boolean {
  if (all.length !== more.length + 1 || all[0] !== first) return false;
  for (let i = 0; i < more.length; i++) if (all[i + 1] !== more[i]) return false;
  return true;
}

/** Conntrack observations that carry no direction are original tuples: the direction rules use them. */
export function conntrackOriginals(observations: readonly SocketObservation[]): SocketTuple[] {
  // The observations themselves are the tuples: the same objects from one interval to the next.
  return observations.filter((o) => o.source === 'conntrack' && o.direction === 'unknown');
}
