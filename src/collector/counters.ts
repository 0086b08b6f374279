import type { SourceName } from '../domain/connection.js';
import { SOURCE_PRIORITY, type SourceCounters } from './merge.js';

/**
 * Turning cumulative per-socket counters into per-interval deltas. Each source counts in its own way
 * (conntrack includes headers, eBPF only payload), so deltas are taken per source: a value is only ever
 * compared with the previous value of the same source. Pure.
 */

type Field = keyof SourceCounters;
const FIELDS: readonly Field[] = ['bytesSent', 'bytesReceived', 'retransmits'];
/** A byte counter going down means the 4-tuple now belongs to another socket (unless the socket is known to be the same one). */
const RESET_FIELDS: readonly Field[] = ['bytesSent', 'bytesReceived'];

export interface CounterDeltas {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly retransmits: number;
  /** A byte counter went backwards: the socket is new (its whole value was counted). */
  readonly reset: boolean;
  /** What to remember for the next interval (never mutated afterwards: it may be shared). */
  readonly next: ReadonlyMap<SourceName, SourceCounters>;
}

type CounterTable = ReadonlyMap<SourceName, SourceCounters>;

function valueOf(table: CounterTable | null, source: SourceName, field: Field): number | null {
  const v = table?.get(source)?.[field];
  return v === undefined ? null : v;
}

/** The most preferred source reporting this field now, or undefined. */
function primarySource(current: CounterTable, field: Field): SourceName | undefined {
  for (const s of SOURCE_PRIORITY) if (valueOf(current, s, field) !== null) return s;
  return undefined;
}

function detectReset(current: CounterTable, previous: CounterTable): boolean {
  return RESET_FIELDS.some((field) => {
    const primary = primarySource(current, field);
    if (primary === undefined) return false;
    const prev = valueOf(previous, primary, field);
    return prev !== null && (valueOf(current, primary, field) ?? 0) < prev;
  });
}

/**
 * The delta of one field: from the most preferred source when it reported last time too; when it is new on
 * a socket we already followed through another source, from that source this once (so the switch does not
 * count the socket's history twice); otherwise the whole value (first sight). Never negative.
 */
function fieldDelta(current: CounterTable, previous: CounterTable | null, field: Field, sameSocket: boolean): number {
  let whole: number | null = null;
  for (const s of SOURCE_PRIORITY) {
    const cur = valueOf(current, s, field);
    if (cur === null) continue;
    if (previous === null) return cur;
    whole ??= cur;
    const prev = valueOf(previous, s, field);
    // Lower on the same socket: a final value correcting a higher earlier one (eBPF's close record gives the
    // kernel's final counters); what was counted stays counted, nothing is counted again.
    if (prev !== null) return cur >= prev ? cur - prev : sameSocket ? 0 : cur;
  }
  return whole ?? 0;
}

/** The larger of two counter values (null when neither is known). */
function higher(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function remember(current: CounterTable, previous: CounterTable | null, sameSocket: boolean): Map<SourceName, SourceCounters> {
  const next = new Map<SourceName, SourceCounters>(previous ?? []);
  for (const [source, c] of current) {
    const prior = next.get(source);
    // The same socket: what was counted already is the base, even where the latest value is lower.
    next.set(source, sameSocket && prior ? {
      bytesSent: higher(c.bytesSent, prior.bytesSent),
      bytesReceived: higher(c.bytesReceived, prior.bytesReceived),
      retransmits: higher(c.retransmits, prior.retransmits),
    } : {
      bytesSent: c.bytesSent ?? prior?.bytesSent ?? null,
      bytesReceived: c.bytesReceived ?? prior?.bytesReceived ?? null,
      retransmits: c.retransmits ?? prior?.retransmits ?? null,
    });
  }
  return next;
}

const NO_COUNTERS: CounterTable = new Map();

/**
 * Deltas since `previous` (null: the socket is new). `sameSocket`: the sources identify the socket as the one
 * `previous` was counted for (same inode, or the same opening time from eBPF), so a lower value is a
 * correction of that socket's counters, not a new socket on the same tuple.
 */
export function counterDeltas(current: CounterTable, previous: CounterTable | null, sameSocket = false): CounterDeltas {
  // Nothing counted now (a /proc-only socket): no delta, no reset, and the previous values stand as they are.
  if (current.size === 0) return { bytesSent: 0, bytesReceived: 0, retransmits: 0, reset: false, next: previous ?? NO_COUNTERS };
  const reset = previous !== null && !sameSocket && detectReset(current, previous);
  const base = reset ? null : previous;
  const same = sameSocket && base !== null;
  const [bytesSent, bytesReceived, retransmits] = FIELDS.map((f) => fieldDelta(current, base, f, same)) as [number, number, number];
  return { bytesSent, bytesReceived, retransmits, reset, next: remember(current, base, same) };
}
