/**
 * Reads for the talkers graph: per-host traffic summed per tuple (raw rows) or per triple (aggregates), and the
 * NAT translations of the window. Matching happens in src/domain/matching.ts; this module only fetches.
 *
 * Sums are grouped on the ids first and joined to bi.processes afterwards: the bi views' own process join is
 * then removed by the planner (it is a LEFT JOIN on a unique key whose columns go unused), so it runs once per
 * group instead of once per row, and the grouping keys stay narrow.
 */
import type { Direction, Protocol } from '../../domain/connection.js';
import { roleOf, type NatGroup, type SideGroup } from '../../domain/matching.js';
import { widenToBuckets, type Resolution } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, isoOf, num, toMs, type TimeWindow } from './sql.js';

/** Where triple-grain groups come from: an aggregate, or the raw rows summed the way the aggregates sum them. */
export type TripleSource = 'RAW' | 'MINUTE' | 'HOUR' | 'DAY';
/** Which NAT grain: one group per conntrack tuple (EXACT), or per mapping without client-side ports from a source. */
export type NatSource = 'EXACT' | TripleSource;

interface SideRow {
  host_id: string;
  pid: number | null;
  started_us: number | string | null;
  process_name: string | null;
  container_id: string | null;
  protocol: Protocol;
  direction: Direction;
  local_addr: string;
  local_port: number | null;
  remote_addr: string;
  remote_port: number | null;
  bytes_sent: number | string;
  bytes_received: number | string;
  connections: number | string;
  first_seen: Date;
  last_seen: Date;
}

interface NatRow {
  host_id: string;
  protocol: Protocol;
  kind: 'DNAT' | 'SNAT' | 'BOTH';
  orig_src: string;
  orig_sport: number | null;
  orig_dst: string;
  orig_dport: number;
  reply_src: string;
  reply_sport: number;
  reply_dst: string;
  reply_dport: number | null;
  translations: number | string;
  first_seen: Date;
  last_seen: Date;
}

interface TripleColumns {
  readonly view: string;
  readonly time: string;
  readonly serverPort: string;
  readonly connections: string;
  readonly firstSeen: string;
  readonly lastSeen: string;
}

/** A fixed whitelist, never derived from input. */
const TRIPLE_SOURCES: Record<TripleSource, TripleColumns> = {
  RAW: {
    view: 'bi.connections', time: 'time', connections: 'new_count', firstSeen: 'time', lastSeen: 'time',
    serverPort: `CASE direction WHEN 'incoming' THEN local_port WHEN 'outgoing' THEN remote_port ELSE LEAST(local_port, remote_port) END`,
  },
  MINUTE: { view: 'bi.traffic_1m', time: 'bucket', serverPort: 'server_port', connections: 'connections', firstSeen: 'first_seen', lastSeen: 'last_seen' },
  HOUR: { view: 'bi.traffic_1h', time: 'bucket', serverPort: 'server_port', connections: 'connections', firstSeen: 'first_seen', lastSeen: 'last_seen' },
  DAY: { view: 'bi.traffic_1d', time: 'bucket', serverPort: 'server_port', connections: 'connections', firstSeen: 'first_seen', lastSeen: 'last_seen' },
};

/** Aggregated NAT per resolution: the minute grain has no NAT aggregate of its own and reads hours. */
const NAT_AGGREGATES: Record<Exclude<TripleSource, 'RAW'>, { view: string; bucket: Resolution }> = {
  MINUTE: { view: 'bi.nat_1h', bucket: 'HOUR' },
  HOUR: { view: 'bi.nat_1h', bucket: 'HOUR' },
  DAY: { view: 'bi.nat_1d', bucket: 'DAY' },
};

const WITH_PROCESS = (grouped: string): string => `
SELECT g.host_id, g.pid, ${epochUs('g.process_started_at')} AS started_us, p.name AS process_name, p.container_id, g.protocol, g.direction,
       host(g.local_addr) AS local_addr, g.local_port, host(g.remote_addr) AS remote_addr, g.remote_port,
       g.bytes_sent, g.bytes_received, g.connections, g.first_seen, g.last_seen
FROM (${grouped}) g
LEFT JOIN bi.processes p ON p.host_id = g.host_id AND p.pid = g.pid AND p.started_at = g.process_started_at`;

const RAW_SIDES_SQL = (p: Params, w: TimeWindow): string => WITH_PROCESS(`
  SELECT host_id, pid, process_started_at, protocol, direction, local_addr, local_port, remote_addr, remote_port,
         sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(new_count)::bigint AS connections,
         min(time) AS first_seen, max(time) AS last_seen
  FROM bi.connections
  WHERE time >= ${p.add(isoOf(w.fromMs))} AND time < ${p.add(isoOf(w.toMs))}
  GROUP BY host_id, pid, process_started_at, protocol, direction, local_addr, local_port, remote_addr, remote_port`);

// At triple grain the client's port is gone: server_port is the service port, on the remote side of an
// outgoing record and on the local side of an incoming one.
const TRIPLE_SIDES_SQL = (c: TripleColumns, p: Params, w: TimeWindow): string => WITH_PROCESS(`
  SELECT host_id, pid, process_started_at, protocol, direction, local_addr, remote_addr,
         CASE WHEN direction = 'incoming' THEN server_port END AS local_port,
         CASE WHEN direction = 'incoming' THEN NULL ELSE server_port END AS remote_port,
         bytes_sent, bytes_received, connections, first_seen, last_seen
  FROM (
    SELECT host_id, pid, process_started_at, protocol, direction, local_addr, remote_addr, ${c.serverPort} AS server_port,
           sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(${c.connections})::bigint AS connections,
           min(${c.firstSeen}) AS first_seen, max(${c.lastSeen}) AS last_seen
    FROM ${c.view}
    WHERE ${c.time} >= ${p.add(isoOf(w.fromMs))} AND ${c.time} < ${p.add(isoOf(w.toMs))}
    GROUP BY host_id, pid, process_started_at, protocol, direction, local_addr, remote_addr, 8
  ) sums`);

/**
 * A translation is in the window when its life overlaps it, not only when a snapshot row of it was written inside:
 * an entry that began in the window and ended before the next reading is written once, in the snapshot after (whose
 * time may fall past the window's end), where the connection's own rows may have fallen inside.
 */
const NAT_REPORT_LAG_MS = 60_000;

const NAT_IN_WINDOW = (p: Params, w: TimeWindow): string => {
  const to = p.add(isoOf(w.toMs));
  return `time >= ${p.add(isoOf(w.fromMs))} AND (time < ${to} OR (time < ${p.add(isoOf(w.toMs + NAT_REPORT_LAG_MS))} AND first_seen < ${to}))`;
};

const EXACT_NAT_SQL = (p: Params, w: TimeWindow): string => `
SELECT host_id, protocol, kind, host(orig_src) AS orig_src, orig_sport, host(orig_dst) AS orig_dst, orig_dport,
       host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst, reply_dport,
       GREATEST(count(DISTINCT conntrack_id), 1) AS translations,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM bi.nat_translations
WHERE ${NAT_IN_WINDOW(p, w)}
GROUP BY host_id, protocol, kind, orig_src, orig_sport, orig_dst, orig_dport, reply_src, reply_sport, reply_dst, reply_dport`;

// Triple grain from raw rows: translations that differ only in the client-side ports are one mapping; each conntrack
// entry counts once, in the snapshot that first reported it (rows written before new_count existed count each).
const RAW_TRIPLE_NAT_SQL = (p: Params, w: TimeWindow): string => `
SELECT host_id, protocol, kind, host(orig_src) AS orig_src,
       CASE WHEN min(orig_sport) = max(orig_sport) THEN min(orig_sport) END AS orig_sport,
       host(orig_dst) AS orig_dst, orig_dport, host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst,
       CASE WHEN min(reply_dport) = max(reply_dport) THEN min(reply_dport) END AS reply_dport,
       sum(COALESCE(new_count, 1))::bigint AS translations, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM bi.nat_translations
WHERE ${NAT_IN_WINDOW(p, w)}
GROUP BY host_id, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst`;

// The same from an aggregate: "translations" counts the conntrack entries first reported in the window, as above.
const AGGREGATE_NAT_SQL = (view: string, p: Params, w: TimeWindow): string => `
SELECT host_id, protocol, kind, host(orig_src) AS orig_src,
       CASE WHEN min(min_orig_sport) = max(max_orig_sport) THEN min(min_orig_sport) END AS orig_sport,
       host(orig_dst) AS orig_dst, orig_dport, host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst,
       CASE WHEN min(min_reply_dport) = max(max_reply_dport) THEN min(min_reply_dport) END AS reply_dport,
       sum(translations)::bigint AS translations, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM ${view}
WHERE bucket >= ${p.add(isoOf(w.fromMs))} AND bucket < ${p.add(isoOf(w.toMs))}
GROUP BY host_id, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst`;

function toSide(r: SideRow): SideGroup {
  const process = r.pid !== null && r.started_us !== null
    ? { pid: r.pid, startedAtMs: num(r.started_us) / 1000, name: r.process_name, containerId: r.container_id }
    : null;
  return {
    hostId: r.host_id, process, protocol: r.protocol, role: roleOf(r.direction, r.local_port, r.remote_port),
    localAddress: r.local_addr, localPort: r.local_port, remoteAddress: r.remote_addr, remotePort: r.remote_port,
    bytesSent: num(r.bytes_sent), bytesReceived: num(r.bytes_received), connections: num(r.connections),
    firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  };
}

function toNat(r: NatRow): NatGroup {
  return {
    hostId: r.host_id, protocol: r.protocol, kind: r.kind,
    origSrc: r.orig_src, origSrcPort: r.orig_sport, origDst: r.orig_dst, origDstPort: r.orig_dport,
    replySrc: r.reply_src, replySrcPort: r.reply_sport, replyDst: r.reply_dst, replyDstPort: r.reply_dport,
    // A translation without a conntrack id still is one translation.
    translations: Math.max(1, num(r.translations)),
    firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  };
}

/** Every host's records in the window, summed per side of a tuple (RAW) or of a triple (MINUTE/HOUR/DAY). */
export async function fetchSideGroups(db: Queryable, window: TimeWindow, resolution: Resolution): Promise<SideGroup[]> {
  const p = new Params();
  const sql = resolution === 'RAW' ? RAW_SIDES_SQL(p, window) : TRIPLE_SIDES_SQL(TRIPLE_SOURCES[resolution], p, window);
  const { rows } = await db.query<SideRow>(sql, p.values);
  return rows.map(toSide);
}

/**
 * Triple-grain groups (client address, server address, server port) from any source. From RAW this is the scan
 * the aggregates save: the benchmark compares the two; the API reads the aggregates.
 */
export async function fetchTripleSideGroups(db: Queryable, window: TimeWindow, source: TripleSource): Promise<SideGroup[]> {
  const p = new Params();
  const { rows } = await db.query<SideRow>(TRIPLE_SIDES_SQL(TRIPLE_SOURCES[source], p, window), p.values);
  return rows.map(toSide);
}

/**
 * The window's NAT translations: per conntrack tuple (EXACT, raw rows), or per mapping without client-side ports
 * (raw rows, or the NAT aggregates, whose window is widened to their buckets).
 */
export async function fetchNatGroups(db: Queryable, window: TimeWindow, source: NatSource): Promise<NatGroup[]> {
  const p = new Params();
  let sql: string;
  if (source === 'EXACT') sql = EXACT_NAT_SQL(p, window);
  else if (source === 'RAW') sql = RAW_TRIPLE_NAT_SQL(p, window);
  else {
    const agg = NAT_AGGREGATES[source];
    sql = AGGREGATE_NAT_SQL(agg.view, p, widenToBuckets(window, agg.bucket));
  }
  const { rows } = await db.query<NatRow>(sql, p.values);
  return rows.map(toNat);
}
