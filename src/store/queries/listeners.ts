/**
 * Listener history: which process listened on which address:port, when. The collector writes one row per
 * listening socket per snapshot (bi.listening_sockets); here consecutive sightings of one listener are joined into
 * stretches ("islands"), counted in the host's snapshots whose listening scan ran and succeeded, so a listener that
 * stops and comes back, or a port taken over by another process, shows as separate stretches.
 *
 * A sighting's row stands for its collection interval (interval_start, time], as every row does: a stretch is in a
 * window when one of its sightings' intervals overlaps it. Besides the stretch's sightings inside the window, the
 * host's last listening scan before the window and first one after it are read, so an answer can tell "was already
 * listening before the window" from "began listening inside it" without scanning the whole history.
 */
import type { Protocol } from '../../domain/connection.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, fromEpochUs, isStringOrNumberArray, isoOf, num, toMs, toPage, type Page, type PageRequest, type TimeRange } from './sql.js';
import { pagesByParent, type ProcessParent } from './connections.js';

export interface ListenerFilter {
  readonly hosts?: readonly string[] | null;
  readonly port?: number | null;
  readonly address?: string | null;
  readonly protocol?: Protocol | null;
}

/** Position in the total order: first seen (µs), host, netns, protocol, address, port, pid (-1: none), process start (µs, -1: none). */
export type ListenerKey = [number, string, number, string, string, number, number, number];

export interface ListenerRecord {
  readonly key: ListenerKey;
  readonly hostId: string;
  readonly netns: number;
  readonly protocol: Protocol;
  readonly family: number;
  readonly address: string;
  readonly port: number;
  readonly pid: number | null;
  readonly processStartedUs: number | null;
  readonly processName: string | null;
  /** The first and last snapshots within the window that listed it (in this stretch). */
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** How many snapshots within the window listed it. */
  readonly sightings: number;
  /** The host's listening scan just before the stretch (which did not list it); null when unknown. */
  readonly openedAfterMs: number | null;
  /** The host's listening scan just after the stretch (which did not list it); null when none yet or unknown. */
  readonly closedBeforeMs: number | null;
  /** The host's last listening scan before the window listed it too. */
  readonly listeningBefore: boolean;
  /** The host's first listening scan after the window listed it too. */
  readonly listeningAfter: boolean;
}

/** Whose listeners: the fleet's (optionally filtered by host), a batch of hosts, or a batch of processes. */
export type ListenerScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'hosts'; readonly hostIds: readonly string[] }
  | { readonly kind: 'processes'; readonly processes: readonly ProcessParent[] };

interface Row {
  first_us: number | string; host_id: string; netns: number | string; protocol: Protocol; family: number; address: string; port: number;
  address_text: string; pid: number | null; started_us: number | string | null; process_name: string | null; first_seen: Date; last_seen: Date;
  sightings: number | string; opened_after: Date | null; closed_before: Date | null; listening_before: boolean; listening_after: boolean;
}

/** The longest collection interval the collector accepts (as in window.ts): bounds the index range of snapshot times. */
const MAX_INTERVAL = "interval '1 hour'";

/**
 * A snapshot whose listening scan ran and succeeded: only these say anything about a listener's absence. (Both the
 * procfs connection source and the listening scan that runs beside eBPF report as "procfs".)
 */
const SCANNED = `sources @> '[{"name":"procfs","ok":true}]'::jsonb`;

const INTERVAL_START = "time - interval_seconds * interval '1 second'";

export function isListenerKey(value: unknown): value is ListenerKey {
  return isStringOrNumberArray(value, 8) && typeof value[0] === 'number' && typeof value[1] === 'string' && typeof value[2] === 'number'
    && typeof value[3] === 'string' && typeof value[4] === 'string' && value.slice(5).every((v) => typeof v === 'number');
}

function toRecord(r: Row): ListenerRecord {
  const netns = num(r.netns);
  const startedUs = r.started_us === null ? null : num(r.started_us);
  return {
    key: [num(r.first_us), r.host_id, netns, r.protocol, r.address_text, r.port, r.pid ?? -1, startedUs ?? -1],
    hostId: r.host_id, netns, protocol: r.protocol, family: r.family, address: r.address_text, port: r.port, pid: r.pid,
    processStartedUs: startedUs, processName: r.process_name, firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
    sightings: num(r.sightings), openedAfterMs: r.opened_after ? toMs(r.opened_after) : null,
    closedBeforeMs: r.closed_before ? toMs(r.closed_before) : null, listeningBefore: r.listening_before, listeningAfter: r.listening_after,
  };
}

const IDENTITY = 'host_id, netns, protocol, address, port, pid, process_started_at';
const ORDER = 'first_seen, host_id, netns, protocol, address, port, COALESCE(pid, -1), COALESCE(started_us, -1)';

/**
 * One page of listener stretches per scope member (a single page keyed '' for 'all'; host id for 'hosts';
 * processParentKey for 'processes'), ordered by first sighting, host, netns, protocol, address, port, process.
 */
export async function fetchListenerPages(
  db: Queryable, scope: ListenerScope, window: TimeRange, filter: ListenerFilter | null, page: PageRequest<ListenerKey>,
): Promise<Map<string, Page<ListenerRecord>>> {
  const p = new Params();
  const from = `${p.add(isoOf(window.fromMs))}::timestamptz`;
  const to = `${p.add(isoOf(window.toMs))}::timestamptz`;

  // The hosts whose listening scans frame the stretches.
  let hosts: string;
  const rowWhere: string[] = [];
  if (scope.kind === 'processes') {
    const procs = `SELECT u.h, u.p, ${fromEpochUs('u.s')} AS s FROM unnest(${p.add(scope.processes.map((x) => x.hostId))}::text[],
      ${p.add(scope.processes.map((x) => x.pid))}::int[], ${p.add(scope.processes.map((x) => x.startedUs))}::bigint[]) AS u(h, p, s)`;
    hosts = `SELECT DISTINCT h AS host_id FROM (${procs}) x`;
    rowWhere.push(`(l.host_id, l.pid, l.process_started_at) IN (SELECT h, p, s FROM (${procs}) y)`);
  } else {
    const ids = scope.kind === 'hosts' ? scope.hostIds : filter?.hosts && filter.hosts.length > 0 ? filter.hosts : null;
    hosts = ids ? `SELECT host_id FROM bi.hosts WHERE host_id = ANY(${p.add(ids)}::text[])` : 'SELECT host_id FROM bi.hosts';
  }
  if (filter?.port != null) rowWhere.push(`l.port = ${p.add(filter.port)}`);
  if (filter?.address != null) rowWhere.push(`l.address = ${p.add(filter.address)}::inet`);
  if (filter?.protocol != null) rowWhere.push(`l.protocol = ${p.add(filter.protocol)}`);

  const scans = `SELECT host_id, time FROM bi.snapshots WHERE ${SCANNED} AND host_id IN (SELECT host_id FROM hosts)`;
  // In the window: the scan's interval overlaps it (time is the interval's end; the range bounds the index scan).
  const inside = `SELECT host_id, time, 'in' AS part FROM (${scans} AND time > ${from} AND time < ${to} + ${MAX_INTERVAL} AND ${INTERVAL_START} < ${to}) i`;
  const before = `SELECT b.host_id, b.time, 'before' AS part FROM hosts h CROSS JOIN LATERAL (SELECT host_id, time FROM bi.snapshots
      WHERE host_id = h.host_id AND ${SCANNED} AND time <= ${from} ORDER BY time DESC LIMIT 1) b`;
  const after = `SELECT a.host_id, a.time, 'after' AS part FROM hosts h CROSS JOIN LATERAL (SELECT host_id, time FROM bi.snapshots
      WHERE host_id = h.host_id AND ${SCANNED} AND time >= ${to} AND ${INTERVAL_START} >= ${to} ORDER BY time LIMIT 1) a`;

  const keyset: string[] = [];
  if (page.after) {
    const [firstUs, host, netns, protocol, address, port, pid, startedUs] = page.after;
    keyset.push(`WHERE (${ORDER}) > (${fromEpochUs(p.add(firstUs))}, ${p.add(host)}::text, ${p.add(netns)}::bigint, ${p.add(protocol)}::text,
      ${p.add(address)}::inet, ${p.add(port)}::int, ${p.add(pid)}::int, ${p.add(startedUs)}::bigint)`);
  }
  const limit = p.add(page.first + 1);

  // Each sighting needs its scan's position in the host's sequence of scans. Joining the rows to the scans lets a
  // planner without statistics (the embedded engine never analyses) loop over the scans and rescan the rows for
  // each: quadratic. Instead scans and rows are sorted together once, and each row takes its scan's facts from
  // the scan that shares its (host, time); rows of a snapshot that was no scan have none and are dropped.
  rowWhere.push('l.host_id IN (SELECT host_id FROM hosts)', 'l.time >= (SELECT min(time) FROM scans)', 'l.time <= (SELECT max(time) FROM scans)');
  const stretches = `WITH hosts AS (${hosts}),
    scans AS (
      SELECT host_id, time, part, row_number() OVER w AS sn, lag(time) OVER w AS prev_time, lead(time) OVER w AS next_time
      FROM (${inside} UNION ALL ${before} UNION ALL ${after}) framed
      WINDOW w AS (PARTITION BY host_id ORDER BY time)),
    marked AS (
      SELECT u.*, first_value(kind) OVER t AS scan_kind, first_value(sn) OVER t AS scan_sn, first_value(part) OVER t AS scan_part,
        first_value(prev_time) OVER t AS scan_prev, first_value(next_time) OVER t AS scan_next
      FROM (
        SELECT host_id, time, 0 AS kind, sn, part, prev_time, next_time, NULL::bigint AS netns, NULL::text AS protocol,
          NULL::smallint AS family, NULL::inet AS address, NULL::int AS port, NULL::int AS pid, NULL::timestamptz AS process_started_at
        FROM scans
        UNION ALL
        SELECT DISTINCT l.host_id, l.time, 1, NULL::bigint, NULL::text, NULL::timestamptz, NULL::timestamptz,
          l.netns, l.protocol, l.family, l.address, l.port, l.pid, l.process_started_at
        FROM bi.listening_sockets l WHERE ${rowWhere.join(' AND ')}) u
      WINDOW t AS (PARTITION BY host_id, time ORDER BY kind)),
    sightings AS (
      SELECT host_id, netns, protocol, family, address, port, pid, process_started_at, time, scan_sn AS sn, scan_part AS part,
        scan_prev AS prev_time, scan_next AS next_time
      FROM marked WHERE kind = 1 AND scan_kind = 0),
    stretches AS (
      SELECT ${IDENTITY}, min(family) AS family,
        min(time) FILTER (WHERE part = 'in') AS first_seen, max(time) FILTER (WHERE part = 'in') AS last_seen,
        count(*) FILTER (WHERE part = 'in') AS sightings,
        (array_agg(prev_time ORDER BY time))[1] AS opened_after, (array_agg(next_time ORDER BY time DESC))[1] AS closed_before,
        bool_or(part = 'before') AS listening_before, bool_or(part = 'after') AS listening_after
      FROM (SELECT *, sn - row_number() OVER (PARTITION BY ${IDENTITY} ORDER BY time) AS island FROM sightings) numbered
      GROUP BY ${IDENTITY}, island
      HAVING count(*) FILTER (WHERE part = 'in') > 0)
    SELECT ${epochUs('s.first_seen')} AS first_us, s.host_id, s.netns, s.protocol, s.family, s.address, host(s.address) AS address_text, s.port, s.pid,
      ${epochUs('s.process_started_at')} AS started_us, p.name AS process_name, s.first_seen, s.last_seen, s.sightings,
      CASE WHEN s.listening_before THEN NULL ELSE s.opened_after END AS opened_after,
      CASE WHEN s.listening_after THEN NULL ELSE s.closed_before END AS closed_before, s.listening_before, s.listening_after
    FROM stretches s
    LEFT JOIN bi.processes p ON p.host_id = s.host_id AND p.pid = s.pid AND p.started_at = s.process_started_at`;
  const partition = scope.kind === 'all' ? null : scope.kind === 'hosts' ? 'host_id' : 'host_id, pid, started_us';
  const sql = partition
    ? `SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY ${partition} ORDER BY ${ORDER}) AS rn FROM (${stretches}) listed ${keyset.join('')}) ranked
      WHERE rn <= ${limit} ORDER BY rn, host_id, pid, started_us`
    : `SELECT * FROM (${stretches}) listed ${keyset.join('')} ORDER BY ${ORDER} LIMIT ${limit}`;
  const { rows } = await db.query<Row>(sql, p.values);
  return pagesByParent(rows.map(toRecord), scope.kind, page.first);
}
