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
import type { Resolution } from '../../domain/resolution.js';
import type { WindowPlan } from '../../domain/window-plan.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, num, packed, toMs, unpack, type PackedColumn, type TimeRange } from './sql.js';
import { NAT_LEVELS, TRAFFIC_LEVELS, bucketRows, planFor, rawConnections, rawNatRows } from './window.js';

/** Where triple-grain groups come from: an aggregate, or the raw rows summed the way the aggregates sum them. */
export type TripleSource = 'RAW' | 'MINUTE' | 'HOUR' | 'DAY';
/** Which NAT grain: one group per conntrack tuple (EXACT), or per mapping without client-side ports from a source. */
export type NatSource = 'EXACT' | TripleSource;

interface SideRow {
  host_id: string;
  netns: number | string;
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
  first_seen: Date | number;
  last_seen: Date | number;
  /** RAW only: some row of the group stands for several connections (elision). */
  elided?: boolean | null;
}

interface NatRow {
  host_id: string;
  netns: number | string;
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
  first_seen: Date | number;
  last_seen: Date | number;
}

const column = (kind: PackedColumn['kind']) => (name: string): PackedColumn => ({ name, kind });
/** The columns of SideRow and NatRow as they travel packed (see packed() in sql.ts). */
// protocol, direction and kind are CHECKed words, addresses come from host(): none needs escaping.
const SIDE_COLUMNS: readonly PackedColumn[] = [
  column('text')('host_id'), ...['netns', 'pid', 'started_us'].map(column('int')), ...['process_name', 'container_id'].map(column('text')),
  ...['protocol', 'direction', 'local_addr'].map(column('word')), column('int')('local_port'), column('word')('remote_addr'),
  ...['remote_port', 'bytes_sent', 'bytes_received', 'connections'].map(column('int')), ...['first_seen', 'last_seen'].map(column('ms')),
];
/** RAW side groups also say whether elision folded connections into them (a bool travels as JSON true/false). */
const RAW_SIDE_COLUMNS: readonly PackedColumn[] = [...SIDE_COLUMNS, column('int')('elided')];
const NAT_COLUMNS: readonly PackedColumn[] = [
  column('text')('host_id'), column('int')('netns'), ...['protocol', 'kind', 'orig_src'].map(column('word')), column('int')('orig_sport'),
  column('word')('orig_dst'), column('int')('orig_dport'), column('word')('reply_src'), column('int')('reply_sport'),
  column('word')('reply_dst'), ...['reply_dport', 'translations'].map(column('int')), ...['first_seen', 'last_seen'].map(column('ms')),
];

/** The traffic aggregates, a fixed whitelist never derived from input. */
const TRAFFIC_VIEWS: Record<Exclude<TripleSource, 'RAW'>, string> = { MINUTE: 'bi.traffic_1m', HOUR: 'bi.traffic_1h', DAY: 'bi.traffic_1d' };
const NAT_VIEWS: Record<'HOUR' | 'DAY', string> = { HOUR: 'bi.nat_1h', DAY: 'bi.nat_1d' };

/** The service port of a raw row, derived as the aggregates derive it. */
const RAW_SERVER_PORT = `CASE direction WHEN 'incoming' THEN local_port WHEN 'outgoing' THEN remote_port ELSE LEAST(local_port, remote_port) END`;

/** `extra`: more columns of the grouped rows to pass on. */
const WITH_PROCESS = (grouped: string, extra = ''): string => `
SELECT g.host_id, g.netns, g.pid, ${epochUs('g.process_started_at')} AS started_us, p.name AS process_name, p.container_id, g.protocol, g.direction,
       host(g.local_addr) AS local_addr, g.local_port, host(g.remote_addr) AS remote_addr, g.remote_port,
       g.bytes_sent, g.bytes_received, g.connections, g.first_seen, g.last_seen${extra}
FROM (${grouped}) g
LEFT JOIN bi.processes p ON p.host_id = g.host_id AND p.pid = g.pid AND p.started_at = g.process_started_at`;

const RAW_COLUMNS = 'host_id, netns, pid, process_started_at, protocol, direction, local_addr, local_port, remote_addr, remote_port';

const RAW_SIDES_SQL = (p: Params, plan: WindowPlan): string => WITH_PROCESS(`
  SELECT host_id, netns, pid, process_started_at, protocol, direction, local_addr, local_port, remote_addr, remote_port,
         sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(new_count)::bigint AS connections,
         min(time) AS first_seen, max(time) AS last_seen, bool_or(conn_count > 1) AS elided
  FROM (${rawConnections(p, plan, `${RAW_COLUMNS}, bytes_sent, bytes_received, new_count, conn_count, time`)}) raw
  GROUP BY ${RAW_COLUMNS}`, ', g.elided');

const TRIPLE_COLUMNS = 'host_id, netns, pid, process_started_at, protocol, direction, local_addr, remote_addr';

/**
 * At triple grain the client's port is gone: server_port is the service port, on the remote side of an
 * outgoing record and on the local side of an incoming one. The plan's pieces (raw edges, aggregate buckets)
 * hold disjoint rows, so their sums add up to the window's.
 */
const TRIPLE_SIDES_SQL = (p: Params, plan: WindowPlan): string => {
  const parts = [`SELECT ${TRIPLE_COLUMNS}, ${RAW_SERVER_PORT} AS server_port, bytes_sent, bytes_received, new_count AS connections,
      time AS first_seen, time AS last_seen
    FROM (${rawConnections(p, plan, `${TRIPLE_COLUMNS}, local_port, remote_port, bytes_sent, bytes_received, new_count, time`)}) raw`];
  for (const piece of plan.aggregates) {
    parts.push(`SELECT ${TRIPLE_COLUMNS}, server_port, bytes_sent, bytes_received, connections, first_seen, last_seen
    FROM ${TRAFFIC_VIEWS[piece.source]} WHERE ${bucketRows(p, piece.fromMs, piece.toMs)}`);
  }
  return WITH_PROCESS(`
  SELECT ${TRIPLE_COLUMNS},
         CASE WHEN direction = 'incoming' THEN server_port END AS local_port,
         CASE WHEN direction = 'incoming' THEN NULL ELSE server_port END AS remote_port,
         bytes_sent, bytes_received, connections, first_seen, last_seen
  FROM (
    SELECT ${TRIPLE_COLUMNS}, server_port,
           sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(connections)::bigint AS connections,
           min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM (${parts.join('\n    UNION ALL\n    ')}) pieces
    GROUP BY ${TRIPLE_COLUMNS}, server_port
  ) sums`);
};

const EXACT_NAT_SQL = (p: Params, plan: WindowPlan): string => `
SELECT host_id, netns, protocol, kind, host(orig_src) AS orig_src, orig_sport, host(orig_dst) AS orig_dst, orig_dport,
       host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst, reply_dport,
       GREATEST(count(DISTINCT conntrack_id), 1) AS translations,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM bi.nat_translations
WHERE ${rawNatRows(p, plan)}
GROUP BY host_id, netns, protocol, kind, orig_src, orig_sport, orig_dst, orig_dport, reply_src, reply_sport, reply_dst, reply_dport`;

const NAT_MAPPING = 'host_id, netns, protocol, kind, orig_src, orig_dst, orig_dport, reply_src, reply_sport, reply_dst';

/**
 * Triple grain: translations that differ only in the client-side ports are one mapping. "translations" counts
 * conntrack entries: each entry's first reported row carries new_count = 1 (rows written before migration 011 have
 * NULL and count once each), and the NAT aggregates sum the same column.
 */
const TRIPLE_NAT_SQL = (p: Params, plan: WindowPlan): string => {
  const parts = [`SELECT ${NAT_MAPPING}, orig_sport AS min_orig_sport, orig_sport AS max_orig_sport,
      reply_dport AS min_reply_dport, reply_dport AS max_reply_dport, COALESCE(new_count, 1) AS translations, first_seen, last_seen
    FROM bi.nat_translations WHERE ${rawNatRows(p, plan)}`];
  for (const piece of plan.aggregates) {
    if (piece.source === 'MINUTE') continue;
    parts.push(`SELECT ${NAT_MAPPING}, min_orig_sport, max_orig_sport, min_reply_dport, max_reply_dport, translations, first_seen, last_seen
    FROM ${NAT_VIEWS[piece.source]} WHERE ${bucketRows(p, piece.fromMs, piece.toMs)}`);
  }
  return `
SELECT host_id, netns, protocol, kind, host(orig_src) AS orig_src,
       CASE WHEN min(min_orig_sport) = max(max_orig_sport) THEN min(min_orig_sport) END AS orig_sport,
       host(orig_dst) AS orig_dst, orig_dport, host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst,
       CASE WHEN min(min_reply_dport) = max(max_reply_dport) THEN min(min_reply_dport) END AS reply_dport,
       sum(translations)::bigint AS translations, min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM (${parts.join('\n  UNION ALL\n  ')}) pieces
GROUP BY ${NAT_MAPPING}`;
};

function toSide(r: SideRow): SideGroup {
  const process = r.pid !== null && r.started_us !== null
    ? { pid: r.pid, startedAtMs: num(r.started_us) / 1000, name: r.process_name, containerId: r.container_id }
    : null;
  return {
    hostId: r.host_id, netns: num(r.netns), process, protocol: r.protocol, role: roleOf(r.direction, r.local_port, r.remote_port),
    localAddress: r.local_addr, localPort: r.local_port, remoteAddress: r.remote_addr, remotePort: r.remote_port,
    bytesSent: num(r.bytes_sent), bytesReceived: num(r.bytes_received), connections: num(r.connections),
    firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
    ...(r.elided === true ? { elided: true } : {}),
  };
}

function toNat(r: NatRow): NatGroup {
  return {
    hostId: r.host_id, netns: num(r.netns), protocol: r.protocol, kind: r.kind,
    origSrc: r.orig_src, origSrcPort: r.orig_sport, origDst: r.orig_dst, origDstPort: r.orig_dport,
    replySrc: r.reply_src, replySrcPort: r.reply_sport, replyDst: r.reply_dst, replyDstPort: r.reply_dport,
    // A translation without a conntrack id still is one translation.
    translations: Math.max(1, num(r.translations)),
    firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  };
}

/**
 * Every host's records whose life overlaps the window, summed per side of a tuple (RAW) or of a triple
 * (MINUTE/HOUR/DAY: that aggregate for its whole buckets inside the window, finer data for the edges).
 * longestIntervalMs: fetchLongestIntervalMs of the window, when the caller has it.
 */
export async function fetchSideGroups(db: Queryable, window: TimeRange, resolution: Resolution, longestIntervalMs?: number): Promise<SideGroup[]> {
  const plan = await planFor(db, window, resolution, TRAFFIC_LEVELS, longestIntervalMs);
  const p = new Params();
  const sql = resolution === 'RAW' ? RAW_SIDES_SQL(p, plan) : TRIPLE_SIDES_SQL(p, plan);
  const columns = resolution === 'RAW' ? RAW_SIDE_COLUMNS : SIDE_COLUMNS;
  const { rows } = await db.query<{ packed: string }>(packed(sql, columns), p.values);
  return unpack<SideRow>(rows, columns).map(toSide);
}

/**
 * Triple-grain groups (client address, server address, server port) from any source. From RAW this is the scan
 * the aggregates save: the benchmark compares the two; the API reads the aggregates.
 */
export async function fetchTripleSideGroups(db: Queryable, window: TimeRange, source: TripleSource): Promise<SideGroup[]> {
  const plan = await planFor(db, window, source, TRAFFIC_LEVELS);
  const p = new Params();
  const { rows } = await db.query<{ packed: string }>(packed(TRIPLE_SIDES_SQL(p, plan), SIDE_COLUMNS), p.values);
  return unpack<SideRow>(rows, SIDE_COLUMNS).map(toSide);
}

/**
 * The translations of the window: per conntrack tuple (EXACT, raw rows), or per mapping without client-side ports
 * (raw rows, or the NAT aggregates for their whole buckets inside the window with raw rows for the edges).
 */
export async function fetchNatGroups(db: Queryable, window: TimeRange, source: NatSource, longestIntervalMs?: number): Promise<NatGroup[]> {
  // There is no minute NAT aggregate: the minute grain reads hours inside the window (still exact), raw at the edges.
  const plan = await planFor(db, window, source === 'EXACT' ? 'RAW' : source === 'MINUTE' ? 'HOUR' : source, NAT_LEVELS, longestIntervalMs);
  const p = new Params();
  const sql = source === 'EXACT' ? EXACT_NAT_SQL(p, plan) : TRIPLE_NAT_SQL(p, plan);
  const { rows } = await db.query<{ packed: string }>(packed(sql, NAT_COLUMNS), p.values);
  return unpack<NatRow>(rows, NAT_COLUMNS).map(toNat);
}
