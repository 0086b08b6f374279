/**
 * Hosts and processes, read by id in batches (the API's DataLoaders call these once per batch of keys).
 */
import type { Queryable } from '../database.js';
import type { ProcessParent } from './connections.js';
import { Params, epochUs, fromEpochUs, isStringOrNumberArray, isoOf, msToUs, num, toMs, toPage, type Page, type PageRequest, type TimeRange } from './sql.js';

export interface HostRecord {
  readonly id: string;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

/** Position of a process in a host's list: start time (µs), then pid. */
export type ProcessKeyset = [number, number];

export interface ProcessRecord {
  readonly hostId: string;
  readonly pid: number;
  /** Exact start time, integer µs since the epoch (the identity the store keeps). */
  readonly startedUs: number;
  readonly name: string;
  readonly exe: string | null;
  readonly cmdline: string;
  readonly uid: number | null;
  readonly cgroup: string | null;
  readonly containerId: string | null;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

interface HostRow { host_id: string; first_seen: Date; last_seen: Date }
interface ProcessRow {
  host_id: string; pid: number; started_us: number | string; name: string; exe: string | null; cmdline: string;
  uid: number | null; cgroup: string | null; container_id: string | null; first_seen: Date; last_seen: Date;
}

const PROCESS_COLUMNS = `host_id, pid, ${epochUs('started_at')} AS started_us, name, exe, cmdline, uid, cgroup, container_id, first_seen, last_seen`;

export function isProcessKeyset(value: unknown): value is ProcessKeyset {
  return isStringOrNumberArray(value, 2) && typeof value[0] === 'number' && typeof value[1] === 'number';
}

function toHost(r: HostRow): HostRecord {
  return { id: r.host_id, firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen) };
}

function toProcess(r: ProcessRow): ProcessRecord {
  return {
    hostId: r.host_id, pid: r.pid, startedUs: num(r.started_us), name: r.name, exe: r.exe, cmdline: r.cmdline, uid: r.uid,
    cgroup: r.cgroup, containerId: r.container_id, firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  };
}

export async function listHosts(db: Queryable, limit: number): Promise<HostRecord[]> {
  const { rows } = await db.query<HostRow>('SELECT host_id, first_seen, last_seen FROM bi.hosts ORDER BY host_id LIMIT $1', [limit]);
  return rows.map(toHost);
}

export async function hostsByIds(db: Queryable, ids: readonly string[]): Promise<HostRecord[]> {
  const { rows } = await db.query<HostRow>('SELECT host_id, first_seen, last_seen FROM bi.hosts WHERE host_id = ANY($1::text[])', [ids]);
  return rows.map(toHost);
}

export async function processesByKeys(db: Queryable, keys: readonly ProcessParent[]): Promise<ProcessRecord[]> {
  const p = new Params();
  const sql = `SELECT ${PROCESS_COLUMNS} FROM bi.processes
    WHERE (host_id, pid, started_at) IN (SELECT u.h, u.p, ${fromEpochUs('u.s')} FROM unnest(${p.add(keys.map((k) => k.hostId))}::text[],
      ${p.add(keys.map((k) => k.pid))}::int[], ${p.add(keys.map((k) => k.startedUs))}::bigint[]) AS u(h, p, s))`;
  const { rows } = await db.query<ProcessRow>(sql, p.values);
  return rows.map(toProcess);
}

/** The process with that pid started last at or before `atMs` (the latest when atMs is null). */
export async function processAt(db: Queryable, hostId: string, pid: number, atMs: number | null): Promise<ProcessRecord | null> {
  const p = new Params();
  const at = atMs === null ? '' : ` AND started_at <= ${fromEpochUs(p.add(msToUs(atMs)))}`;
  const sql = `SELECT ${PROCESS_COLUMNS} FROM bi.processes WHERE host_id = ${p.add(hostId)} AND pid = ${p.add(pid)}${at}
    ORDER BY started_at DESC LIMIT 1`;
  const { rows } = await db.query<ProcessRow>(sql, p.values);
  return rows[0] ? toProcess(rows[0]) : null;
}

/** One page of processes per host, ordered by start time then pid; with a window, only those seen during it. */
export async function fetchProcessPages(
  db: Queryable, hostIds: readonly string[], window: TimeRange | null, page: PageRequest<ProcessKeyset>,
): Promise<Map<string, Page<ProcessRecord>>> {
  const p = new Params();
  const where = [`host_id = ANY(${p.add(hostIds)}::text[])`];
  if (window) where.push(`first_seen < ${p.add(isoOf(window.toMs))} AND last_seen >= ${p.add(isoOf(window.fromMs))}`);
  if (page.after) where.push(`(started_at, pid) > (${fromEpochUs(p.add(page.after[0]))}, ${p.add(page.after[1])}::int)`);
  const sql = `SELECT * FROM (SELECT ${PROCESS_COLUMNS}, row_number() OVER (PARTITION BY host_id ORDER BY started_at, pid) AS rn
    FROM bi.processes WHERE ${where.join(' AND ')}) ranked WHERE rn <= ${p.add(page.first + 1)} ORDER BY rn, host_id`;
  const { rows } = await db.query<ProcessRow>(sql, p.values);
  const grouped = new Map<string, ProcessRecord[]>();
  for (const row of rows) {
    const record = toProcess(row);
    const list = grouped.get(record.hostId);
    if (list) list.push(record);
    else grouped.set(record.hostId, [record]);
  }
  const pages = new Map<string, Page<ProcessRecord>>();
  for (const [key, list] of grouped) pages.set(key, toPage(list, page.first));
  return pages;
}
