/**
 * Reads for the talkers graph: per-host traffic summed per tuple (raw rows) or per triple (aggregates), and the
 * NAT translations of the window. Matching happens in src/domain/matching.ts; this module only fetches.
 */
import type { Direction, Protocol } from '../../domain/connection.js';
import { roleOf, type NatGroup, type SideGroup } from '../../domain/matching.js';
import type { Resolution } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, isoOf, num, toMs, type TimeWindow } from './sql.js';

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

/** The aggregate each resolution reads; a fixed whitelist, never derived from input. */
const AGGREGATE_VIEW: Record<Exclude<Resolution, 'RAW'>, string> = { MINUTE: 'bi.traffic_1m', HOUR: 'bi.traffic_1h' };

const RAW_SIDES_SQL = (p: Params, w: TimeWindow): string => `
SELECT host_id, pid, ${epochUs('process_started_at')} AS started_us, process_name, container_id, protocol, direction,
       host(local_addr) AS local_addr, local_port, host(remote_addr) AS remote_addr, remote_port,
       sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(new_count)::bigint AS connections,
       min(time) AS first_seen, max(time) AS last_seen
FROM bi.connections
WHERE time >= ${p.add(isoOf(w.fromMs))} AND time < ${p.add(isoOf(w.toMs))}
GROUP BY host_id, pid, process_started_at, process_name, container_id, protocol, direction, local_addr, local_port, remote_addr, remote_port`;

// In the aggregates the client's port is gone: server_port is the service port, on the remote side of an
// outgoing record and on the local side of an incoming one.
const AGGREGATE_SIDES_SQL = (view: string, p: Params, w: TimeWindow): string => `
SELECT host_id, pid, ${epochUs('process_started_at')} AS started_us, process_name, container_id, protocol, direction,
       host(local_addr) AS local_addr, CASE WHEN direction = 'incoming' THEN server_port END AS local_port,
       host(remote_addr) AS remote_addr, CASE WHEN direction = 'incoming' THEN NULL ELSE server_port END AS remote_port,
       sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(connections)::bigint AS connections,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM ${view}
WHERE bucket >= ${p.add(isoOf(w.fromMs))} AND bucket < ${p.add(isoOf(w.toMs))}
GROUP BY host_id, pid, process_started_at, process_name, container_id, protocol, direction, local_addr, remote_addr, server_port`;

const EXACT_NAT_SQL = (p: Params, w: TimeWindow): string => `
SELECT host_id, protocol, kind, host(orig_src) AS orig_src, orig_sport, host(orig_dst) AS orig_dst, orig_dport,
       host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst, reply_dport,
       GREATEST(count(DISTINCT conntrack_id), 1) AS translations,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM bi.nat_translations
WHERE time >= ${p.add(isoOf(w.fromMs))} AND time < ${p.add(isoOf(w.toMs))}
GROUP BY host_id, protocol, kind, orig_src, orig_sport, orig_dst, orig_dport, reply_src, reply_sport, reply_dst, reply_dport`;

// Triple mode: translations that differ only in the client-side ports (orig_sport, reply_dport) are one mapping.
const TRIPLE_NAT_SQL = (p: Params, w: TimeWindow): string => `
SELECT host_id, protocol, kind, host(orig_src) AS orig_src,
       CASE WHEN min(orig_sport) = max(orig_sport) THEN min(orig_sport) END AS orig_sport,
       host(orig_dst) AS orig_dst, orig_dport, host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst,
       CASE WHEN min(reply_dport) = max(reply_dport) THEN min(reply_dport) END AS reply_dport,
       count(DISTINCT (orig_sport, reply_dport)) AS translations,
       min(first_seen) AS first_seen, max(last_seen) AS last_seen
FROM bi.nat_translations
WHERE time >= ${p.add(isoOf(w.fromMs))} AND time < ${p.add(isoOf(w.toMs))}
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

/** Every host's records in the window, summed per side of a tuple (RAW) or of a triple (MINUTE/HOUR). */
export async function fetchSideGroups(db: Queryable, window: TimeWindow, resolution: Resolution): Promise<SideGroup[]> {
  const p = new Params();
  const sql = resolution === 'RAW' ? RAW_SIDES_SQL(p, window) : AGGREGATE_SIDES_SQL(AGGREGATE_VIEW[resolution], p, window);
  const { rows } = await db.query<SideRow>(sql, p.values);
  return rows.map(toSide);
}

/** The window's NAT translations, per conntrack tuple (exact) or per mapping without client-side ports. */
export async function fetchNatGroups(db: Queryable, window: TimeWindow, exact: boolean): Promise<NatGroup[]> {
  const p = new Params();
  const { rows } = await db.query<NatRow>(exact ? EXACT_NAT_SQL(p, window) : TRIPLE_NAT_SQL(p, window), p.values);
  return rows.map(toNat);
}
