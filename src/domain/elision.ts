import type { ConnectionRow } from './connection.js';

/**
 * Elision: many connections of one kind (same netns, protocol, direction, local address, remote address,
 * server port and local process) are reported as a few rows, each carrying the number of connections it
 * stands for. Which rows survive depends only on the ephemeral (client-side) port numbers, so the two
 * hosts at the ends of the same connections keep the same ports and their rows can still be matched.
 */

export interface ElisionPolicy {
  /** Groups with more connections than this are elided. */
  readonly elideAbove: number;
  /** Fewest rows an elided group keeps (unless a coarser choice is impossible). */
  readonly minRows: number;
  /** Most rows an elided group keeps. */
  readonly maxRows: number;
}

export const DEFAULT_ELISION_POLICY: ElisionPolicy = Object.freeze({ elideAbove: 5, minRows: 3, maxRows: 5 });

/** Powers of three: ephemeral ports are handed out sequentially or by hash, never in multiples of 3. */
const BASE = 3;
/** 3^11 > 65535: every port but 0 has a lower valuation, so port 0 counts as "divisible by everything". */
const MAX_VALUATION = 11;

export function validateElisionPolicy(policy: ElisionPolicy): string | null {
  const { elideAbove, minRows, maxRows } = policy;
  if (![elideAbove, minRows, maxRows].every(Number.isInteger)) return 'elision bounds must be integers';
  if (minRows < 1) return 'elision minRows must be >= 1';
  if (maxRows < minRows) return 'elision maxRows must be >= minRows';
  if (elideAbove < maxRows) return 'elision elideAbove must be >= maxRows';
  return null;
}

/** How many times 3 divides the port (port 0: more than any real port). */
export function portValuation(port: number): number {
  if (port === 0) return MAX_VALUATION;
  let v = 0;
  let p = port;
  while (p % BASE === 0 && v < MAX_VALUATION) {
    p /= BASE;
    v++;
  }
  return v;
}

/** A fixed integer mix of the port, used only to break ties in degenerate port sets. */
function portRank(port: number): number {
  let h = Math.imul(port ^ 0x5bd1e995, 0x27d4eb2d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x165667b1);
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * The ports of a group that keep their own row. A port is kept when 3^k divides it, with k the smallest
 * exponent leaving at most maxRows ports, or one step back when that leaves fewer than minRows. If the step
 * back still keeps more than maxRows (ports clustered on multiples of 3^k), the ports at exactly level k are
 * ranked by a fixed function of the port and the first ones fill up to maxRows: still a choice that depends
 * on port numbers only, so both ends agree when they see the same set.
 */
export function choosePorts(ports: readonly number[], policy: ElisionPolicy = DEFAULT_ELISION_POLICY): Set<number> {
  const unique = distinct(ports);
  if (unique.length <= policy.elideAbove) return new Set(unique);
  const levels = new Uint8Array(unique.length);
  // atLeast[k]: how many ports 3^k divides (one pass, then suffix sums).
  const atLeast = new Array<number>(MAX_VALUATION + 2).fill(0);
  for (let i = 0; i < unique.length; i++) {
    const v = portValuation(unique[i] as number);
    levels[i] = v;
    atLeast[v] = (atLeast[v] ?? 0) + 1;
  }
  for (let j = MAX_VALUATION; j >= 0; j--) atLeast[j] = (atLeast[j] ?? 0) + (atLeast[j + 1] ?? 0);
  let k = 0;
  let count = unique.length;
  while (count > policy.maxRows && k < MAX_VALUATION) {
    const next = atLeast[k + 1] ?? 0;
    if (next < policy.minRows) break;
    k++;
    count = next;
  }
  const kept = unique.filter((_, i) => (levels[i] as number) > k);
  const boundary = unique.filter((_, i) => levels[i] === k);
  if (kept.length + boundary.length <= policy.maxRows) return new Set([...kept, ...boundary]);
  boundary.sort((a, b) => portRank(a) - portRank(b) || a - b);
  return new Set([...kept, ...boundary.slice(0, Math.max(policy.maxRows - kept.length, 0))]);
}

/** The ports once each, in order of first appearance (an ascending list without repeats is that already). */
function distinct(ports: readonly number[]): readonly number[] {
  for (let i = 1; i < ports.length; i++) if (!((ports[i] as number) > (ports[i - 1] as number))) return [...new Set(ports)];
  return ports;
}

/** The client-side port of a row, or null when the direction (hence which side is the client) is unknown. */
export function ephemeralPort(row: ConnectionRow): number | null {
  if (row.direction === 'outgoing') return row.localPort;
  if (row.direction === 'incoming') return row.remotePort;
  return null;
}

/** Rows that may be elided into one another: everything equal except the ephemeral port. */
export function elisionGroupKey(row: ConnectionRow): string | null {
  if (row.direction === 'unknown') return null;
  const serverPort = row.direction === 'outgoing' ? row.remotePort : row.localPort;
  const proc = row.process ? `${row.process.pid}@${row.process.startedAtMs}` : '-';
  const key = `${row.netns}|${row.protocol}|${row.direction}|${row.localAddress}|${row.remoteAddress}|${serverPort}|${proc}`;
  // Flat, not a tree of its parts (reading a character flattens it): callers may keep one per row.
  key.charCodeAt(0);
  return key;
}

/** The sums of a kept row and the rows folded into it. */
interface Fold {
  readonly kept: number;
  folded: number;
  count: number;
  newCount: number;
  bytesSent: number;
  bytesReceived: number;
  retransmits: number;
  rttSum: number;
  rtts: number;
}

function startFold(kept: number, row: ConnectionRow): Fold {
  return {
    kept, folded: 0, count: row.count, newCount: row.newCount, bytesSent: row.bytesSent, bytesReceived: row.bytesReceived,
    retransmits: row.retransmits, rttSum: row.rttUs ?? 0, rtts: row.rttUs === null ? 0 : 1,
  };
}

function fold(into: Fold, row: ConnectionRow): void {
  into.folded++;
  into.count += row.count;
  into.newCount += row.newCount;
  into.bytesSent += row.bytesSent;
  into.bytesReceived += row.bytesReceived;
  into.retransmits += row.retransmits;
  if (row.rttUs !== null) {
    into.rttSum += row.rttUs;
    into.rtts++;
  }
}

/** The kept row with what was folded into it: counts and counters add up exactly, RTT is the mean. */
function folded(kept: ConnectionRow, f: Fold): ConnectionRow {
  if (f.folded === 0) return kept;
  return {
    ...kept,
    count: f.count,
    newCount: f.newCount,
    bytesSent: f.bytesSent,
    bytesReceived: f.bytesReceived,
    retransmits: f.retransmits,
    rttUs: f.rtts === 0 ? null : Math.round(f.rttSum / f.rtts),
  };
}

/**
 * Elides every group above the policy's threshold. Each elided row is folded into the kept row with the
 * nearest lower ephemeral port (rows below the lowest kept port go to the lowest kept one). Row order is
 * preserved; rows of unknown direction are never elided.
 */
export function elideRows(
  rows: readonly ConnectionRow[],
  policy: ElisionPolicy = DEFAULT_ELISION_POLICY,
  /** elisionGroupKey of each row, when the caller already has them (same length and order as rows). */
  groupKeys?: readonly (string | null)[],
): ConnectionRow[] {
  // Groups hold row indexes; out[i] becomes null for a folded row, or the folded sum for a kept one.
  const groups = new Map<string, number[]>();
  for (let i = 0; i < rows.length; i++) {
    const key = groupKeys !== undefined ? (groupKeys[i] ?? null) : elisionGroupKey(rows[i] as ConnectionRow);
    if (key === null) continue;
    const group = groups.get(key);
    if (group) group.push(i);
    else groups.set(key, [i]);
  }
  let out: (ConnectionRow | null)[] | null = null;
  const ports = new Int32Array(rows.length);
  groups.forEach((group) => {
    if (group.length <= policy.elideAbove) return;
    out ??= rows.slice();
    for (let g = 0; g < group.length; g++) {
      const i = group[g] as number;
      ports[i] = ephemeralPort(rows[i] as ConnectionRow) ?? 0;
    }
    group.sort((a, b) => (ports[a] as number) - (ports[b] as number));
    const sorted = new Array<number>(group.length);
    for (let g = 0; g < group.length; g++) sorted[g] = ports[group[g] as number] as number;
    const chosen = choosePorts(sorted, policy);
    const folds: Fold[] = [];
    let current: Fold | null = null;
    let before: ConnectionRow[] | null = null;
    for (let g = 0; g < group.length; g++) {
      const i = group[g] as number;
      const row = rows[i] as ConnectionRow;
      if (chosen.has(ports[i] as number) && (current === null || current.kept !== i)) {
        current = startFold(i, row);
        folds.push(current);
      } else if (current !== null) {
        fold(current, row);
      } else {
        (before ??= []).push(row);
      }
      out[i] = null;
    }
    const first = folds[0];
    if (first !== undefined && before !== null) for (const row of before) fold(first, row);
    for (const f of folds) out[f.kept] = folded(rows[f.kept] as ConnectionRow, f);
  });
  if (out === null) return rows.slice();
  return (out as (ConnectionRow | null)[]).filter((r): r is ConnectionRow => r !== null);
}
