/**
 * Raw connection rows, paged by keyset in one fixed total order, for the whole fleet or batched for many hosts or
 * processes at once (one statement per batch: nested fields never issue one query per parent).
 */
import type { Direction, Protocol } from '../../domain/connection.js';
import type { Queryable } from '../database.js';
import type { WindowPlan } from '../../domain/window-plan.js';
import { Params, epochUs, fromEpochUs, isStringOrNumberArray, num, toMs, toPage, type Page, type PageRequest, type TimeRange } from './sql.js';
import { planFor, rawConnectionRows } from './window.js';

export interface ConnectionFilter {
  readonly hosts?: readonly string[] | null;
  readonly pid?: number | null;
  readonly processName?: string | null;
  readonly direction?: Direction | null;
  readonly protocol?: Protocol | null;
  readonly address?: string | null;
  readonly port?: number | null;
  readonly state?: string | null;
}

/** The row's position in the total order: time, host, netns, protocol, direction, tuple, pid (-1: none), source. */
export type ConnectionKey = [number, string, number, string, string, string, number, string, number, number, string];

export interface ConnectionRecord {
  readonly key: ConnectionKey;
  readonly timeMs: number;
  readonly hostId: string;
  readonly netns: number;
  readonly protocol: Protocol;
  readonly family: number;
  readonly direction: Direction;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly pid: number | null;
  readonly processStartedUs: number | null;
  readonly processName: string | null;
  readonly containerId: string | null;
  readonly state: string;
  readonly openedAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly retransmits: number;
  readonly rttUs: number | null;
  readonly source: string;
  readonly count: number;
  readonly newCount: number;
}

export interface ProcessParent {
  readonly hostId: string;
  readonly pid: number;
  readonly startedUs: number;
}

/** Whose rows: everybody's, or a batch of hosts, or a batch of processes (each gets its own page). */
export type ConnectionScope =
  | { readonly kind: 'all' }
  | { readonly kind: 'hosts'; readonly hostIds: readonly string[] }
  | { readonly kind: 'processes'; readonly processes: readonly ProcessParent[] };

export function isConnectionKey(value: unknown): value is ConnectionKey {
  return isStringOrNumberArray(value, 11) && typeof value[0] === 'number' && typeof value[1] === 'string' && typeof value[6] === 'number' && typeof value[8] === 'number' && typeof value[9] === 'number';
}

export function processParentKey(p: ProcessParent): string {
  return `${p.hostId}/${p.pid}/${p.startedUs}`;
}

interface Row {
  time_us: number | string;
  time: Date;
  host_id: string;
  netns: number | string;
  protocol: Protocol;
  family: number;
  direction: Direction;
  local_addr: string;
  local_port: number;
  remote_addr: string;
  remote_port: number;
  pid: number | null;
  started_us: number | string | null;
  process_name: string | null;
  container_id: string | null;
  state: string;
  opened_at: Date | null;
  closed_at: Date | null;
  bytes_sent: number | string;
  bytes_received: number | string;
  retransmits: number;
  rtt_us: number | null;
  source: string;
  conn_count: number;
  new_count: number;
}

const ORDER = 'time, host_id, netns, protocol, direction, local_addr, local_port, remote_addr, remote_port, COALESCE(pid, -1), source';

const COLUMNS = `${epochUs('time')} AS time_us, time, host_id, netns, protocol, family, direction,
  host(local_addr) AS local_addr, local_port, host(remote_addr) AS remote_addr, remote_port,
  pid, ${epochUs('process_started_at')} AS started_us, process_name, container_id, state, opened_at, closed_at,
  bytes_sent, bytes_received, retransmits, rtt_us, source, conn_count, new_count`;

function conditions(p: Params, plan: WindowPlan, filter: ConnectionFilter | null, after: ConnectionKey | null): string[] {
  // A row is in the window when the connection's life within its interval overlaps it (see bi.connections).
  const where = [rawConnectionRows(p, plan)];
  if (filter?.hosts && filter.hosts.length > 0) where.push(`host_id = ANY(${p.add(filter.hosts)}::text[])`);
  if (filter?.pid != null) where.push(`pid = ${p.add(filter.pid)}`);
  if (filter?.processName != null) where.push(`process_name = ${p.add(filter.processName)}`);
  if (filter?.direction != null) where.push(`direction = ${p.add(filter.direction)}`);
  if (filter?.protocol != null) where.push(`protocol = ${p.add(filter.protocol)}`);
  if (filter?.address != null) {
    const a = p.add(filter.address);
    where.push(`(local_addr = ${a}::inet OR remote_addr = ${a}::inet)`);
  }
  if (filter?.port != null) {
    const port = p.add(filter.port);
    where.push(`(local_port = ${port} OR remote_port = ${port})`);
  }
  if (filter?.state != null) where.push(`state = ${p.add(filter.state)}`);
  if (after) {
    const [timeUs, host, netns, protocol, direction, local, localPort, remote, remotePort, pid, source] = after;
    where.push(`(${ORDER}) > (${fromEpochUs(p.add(timeUs))}, ${p.add(host)}::text, ${p.add(netns)}::bigint, ${p.add(protocol)}::text, ${p.add(direction)}::text,
      ${p.add(local)}::inet, ${p.add(localPort)}::int, ${p.add(remote)}::inet, ${p.add(remotePort)}::int, ${p.add(pid)}::int, ${p.add(source)}::text)`);
  }
  return where;
}

function toRecord(r: Row): ConnectionRecord {
  const timeUs = num(r.time_us);
  const netns = num(r.netns);
  return {
    key: [timeUs, r.host_id, netns, r.protocol, r.direction, r.local_addr, r.local_port, r.remote_addr, r.remote_port, r.pid ?? -1, r.source],
    timeMs: toMs(r.time), hostId: r.host_id, netns, protocol: r.protocol, family: r.family, direction: r.direction,
    localAddress: r.local_addr, localPort: r.local_port, remoteAddress: r.remote_addr, remotePort: r.remote_port,
    pid: r.pid, processStartedUs: r.started_us === null ? null : num(r.started_us), processName: r.process_name, containerId: r.container_id,
    state: r.state, openedAtMs: r.opened_at ? toMs(r.opened_at) : null, closedAtMs: r.closed_at ? toMs(r.closed_at) : null,
    bytesSent: num(r.bytes_sent), bytesReceived: num(r.bytes_received), retransmits: r.retransmits, rttUs: r.rtt_us,
    source: r.source, count: r.conn_count, newCount: r.new_count,
  };
}

/**
 * One page per scope member (a single page for scope 'all'), keyed by host id, process key (processParentKey)
 * or '' for 'all'. Pages of a batch share the window, filter and page request.
 */
export async function fetchConnectionPages(
  db: Queryable, scope: ConnectionScope, window: TimeRange, filter: ConnectionFilter | null, page: PageRequest<ConnectionKey>,
): Promise<Map<string, Page<ConnectionRecord>>> {
  const plan = await planFor(db, window, 'RAW', []);
  const p = new Params();
  const where = conditions(p, plan, filter, page.after);
  let sql: string;
  if (scope.kind === 'all') {
    sql = `SELECT ${COLUMNS} FROM bi.connections WHERE ${where.join(' AND ')} ORDER BY ${ORDER} LIMIT ${p.add(page.first + 1)}`;
  } else {
    let partition: string;
    if (scope.kind === 'hosts') {
      where.push(`host_id = ANY(${p.add(scope.hostIds)}::text[])`);
      partition = 'host_id';
    } else {
      where.push(`(host_id, pid, process_started_at) IN (SELECT u.h, u.p, ${fromEpochUs('u.s')} FROM unnest(${p.add(scope.processes.map((x) => x.hostId))}::text[],
        ${p.add(scope.processes.map((x) => x.pid))}::int[], ${p.add(scope.processes.map((x) => x.startedUs))}::bigint[]) AS u(h, p, s))`);
      partition = 'host_id, pid, process_started_at';
    }
    sql = `SELECT * FROM (SELECT ${COLUMNS}, row_number() OVER (PARTITION BY ${partition} ORDER BY ${ORDER}) AS rn
      FROM bi.connections WHERE ${where.join(' AND ')}) ranked WHERE rn <= ${p.add(page.first + 1)} ORDER BY rn, host_id, pid, started_us`;
  }
  const { rows } = await db.query<Row>(sql, p.values);
  return pagesByParent(rows.map(toRecord), scope.kind, page.first);
}

/**
 * Splits records ranked per parent into one page per parent, keyed as the scope's loaders key them: '' for
 * 'all', the host id for 'hosts', processParentKey for 'processes'.
 */
export function pagesByParent<R extends { readonly hostId: string; readonly pid: number | null; readonly processStartedUs: number | null }>(
  records: readonly R[], scope: 'all' | 'hosts' | 'processes', first: number,
): Map<string, Page<R>> {
  const grouped = new Map<string, R[]>();
  for (const record of records) {
    const key = scope === 'all' ? '' : scope === 'hosts' ? record.hostId
      : processParentKey({ hostId: record.hostId, pid: record.pid ?? -1, startedUs: record.processStartedUs ?? -1 });
    const list = grouped.get(key);
    if (list) list.push(record);
    else grouped.set(key, [record]);
  }
  const pages = new Map<string, Page<R>>();
  for (const [key, list] of grouped) pages.set(key, toPage(list, first));
  return pages;
}
