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
  const unique = [...new Set(ports)];
  if (unique.length <= policy.elideAbove) return new Set(unique);
  const levels = unique.map((port) => ({ port, v: portValuation(port) }));
  // atLeast[k]: how many ports 3^k divides (one pass, then suffix sums).
  const atLeast = new Array<number>(MAX_VALUATION + 2).fill(0);
  for (const l of levels) atLeast[l.v] = (atLeast[l.v] ?? 0) + 1;
  for (let j = MAX_VALUATION; j >= 0; j--) atLeast[j] = (atLeast[j] ?? 0) + (atLeast[j + 1] ?? 0);
  let k = 0;
  let count = unique.length;
  while (count > policy.maxRows && k < MAX_VALUATION) {
    const next = atLeast[k + 1] ?? 0;
    if (next < policy.minRows) break;
    k++;
    count = next;
  }
  const kept = levels.filter((l) => l.v > k).map((l) => l.port);
  const boundary = levels.filter((l) => l.v === k).map((l) => l.port);
  if (kept.length + boundary.length <= policy.maxRows) return new Set([...kept, ...boundary]);
  boundary.sort((a, b) => portRank(a) - portRank(b) || a - b);
  return new Set([...kept, ...boundary.slice(0, Math.max(policy.maxRows - kept.length, 0))]);
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
  return `${row.netns}|${row.protocol}|${row.direction}|${row.localAddress}|${row.remoteAddress}|${serverPort}|${proc}`;
}

/** Folds the elided rows into their kept representative: counts and counters add up exactly. */
function absorb(kept: ConnectionRow, absorbed: readonly ConnectionRow[]): ConnectionRow {
  if (absorbed.length === 0) return kept;
  const all = [kept, ...absorbed];
  const rtts = all.map((r) => r.rttUs).filter((v): v is number => v !== null);
  return {
    ...kept,
    count: all.reduce((n, r) => n + r.count, 0),
    newCount: all.reduce((n, r) => n + r.newCount, 0),
    bytesSent: all.reduce((n, r) => n + r.bytesSent, 0),
    bytesReceived: all.reduce((n, r) => n + r.bytesReceived, 0),
    retransmits: all.reduce((n, r) => n + r.retransmits, 0),
    rttUs: rtts.length === 0 ? null : Math.round(rtts.reduce((a, b) => a + b, 0) / rtts.length),
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
  const out: (ConnectionRow | null)[] = rows.slice();
  const ports = new Int32Array(rows.length);
  const portOf = (i: number): number => ports[i] ?? 0;
  for (const group of groups.values()) {
    if (group.length <= policy.elideAbove) continue;
    for (const i of group) ports[i] = ephemeralPort(rows[i] as ConnectionRow) ?? 0;
    const byPort = group.slice().sort((a, b) => portOf(a) - portOf(b));
    const chosen = choosePorts(byPort.map(portOf), policy);
    const absorbedBy = new Map<number, ConnectionRow[]>();
    let current = -1;
    const beforeFirst: ConnectionRow[] = [];
    for (const i of byPort) {
      const row = rows[i] as ConnectionRow;
      if (chosen.has(portOf(i)) && !absorbedBy.has(i)) {
        current = i;
        absorbedBy.set(i, []);
      } else if (current >= 0) {
        absorbedBy.get(current)?.push(row);
      } else {
        beforeFirst.push(row);
      }
    }
    const first = byPort.find((i) => absorbedBy.has(i));
    if (first !== undefined) absorbedBy.get(first)?.push(...beforeFirst);
    for (const i of group) out[i] = null;
    for (const [kept, absorbed] of absorbedBy) out[kept] = absorb(rows[kept] as ConnectionRow, absorbed);
  }
  return out.filter((r): r is ConnectionRow => r !== null);
}
