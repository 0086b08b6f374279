/**
 * Traffic time series: bytes and new connections per step over exactly the range asked, from the coarsest
 * aggregate the step allows for whole buckets, finer data for the edges.
 */
import type { Direction, Protocol } from '../../domain/connection.js';
import type { Resolution } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, isoOf, num, toMs, type TimeRange } from './sql.js';
import { TRAFFIC_LEVELS, bucketRows, planFor, rawConnectionRows } from './window.js';

export interface TrafficFilter {
  readonly hosts?: readonly string[] | null;
  readonly processName?: string | null;
  readonly direction?: Direction | null;
  readonly protocol?: Protocol | null;
  readonly address?: string | null;
  /** The server port. */
  readonly port?: number | null;
}

export interface TrafficPoint {
  readonly timeMs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly connections: number;
}

interface Source {
  readonly view: string;
  readonly serverPort: string;
}

/** Fixed whitelist of aggregates; raw rows derive the server port as the aggregates do. */
const AGGREGATES: Record<'MINUTE' | 'HOUR' | 'DAY', Source> = {
  MINUTE: { view: 'bi.traffic_1m', serverPort: 'server_port' },
  HOUR: { view: 'bi.traffic_1h', serverPort: 'server_port' },
  DAY: { view: 'bi.traffic_1d', serverPort: 'server_port' },
};
const RAW_SERVER_PORT = `CASE direction WHEN 'incoming' THEN local_port WHEN 'outgoing' THEN remote_port ELSE LEAST(local_port, remote_port) END`;

interface Row { t: Date; bytes_sent: number | string; bytes_received: number | string; connections: number | string }

function filterConditions(p: Params, serverPort: string, filter: TrafficFilter | null): string[] {
  const where: string[] = [];
  if (filter?.hosts && filter.hosts.length > 0) where.push(`host_id = ANY(${p.add(filter.hosts)}::text[])`);
  if (filter?.processName != null) where.push(`process_name = ${p.add(filter.processName)}`);
  if (filter?.direction != null) where.push(`direction = ${p.add(filter.direction)}`);
  if (filter?.protocol != null) where.push(`protocol = ${p.add(filter.protocol)}`);
  if (filter?.address != null) {
    const a = p.add(filter.address);
    where.push(`(local_addr = ${a}::inet OR remote_addr = ${a}::inet)`);
  }
  if (filter?.port != null) where.push(`${serverPort} = ${p.add(filter.port)}`);
  return where;
}

/**
 * Buckets of `stepMs` (aligned as time_bucket aligns them) over exactly the window: the rows whose life overlaps
 * it, each in the step holding its time (a row stamped after the window's end, whose interval began inside it,
 * counts in the last step). Whole aggregate buckets inside the window come from the aggregate the step allows,
 * the edges from finer data. Buckets without rows are absent, not zero.
 */
export async function fetchTraffic(db: Queryable, window: TimeRange, stepMs: number, resolution: Resolution, filter: TrafficFilter | null): Promise<TrafficPoint[]> {
  const plan = await planFor(db, window, resolution, TRAFFIC_LEVELS);
  const p = new Params();
  const step = p.add(stepMs / 1000);
  const last = p.add(isoOf(window.toMs - 1));
  const rawWhere = [rawConnectionRows(p, plan), ...filterConditions(p, RAW_SERVER_PORT, filter)];
  const parts = [`SELECT LEAST(time, ${last}::timestamptz) AS t, bytes_sent, bytes_received, new_count AS connections
    FROM bi.connections WHERE ${rawWhere.join(' AND ')}`];
  for (const piece of plan.aggregates) {
    const s = AGGREGATES[piece.source];
    const where = [bucketRows(p, piece.fromMs, piece.toMs), ...filterConditions(p, s.serverPort, filter)];
    parts.push(`SELECT bucket AS t, bytes_sent, bytes_received, connections FROM ${s.view} WHERE ${where.join(' AND ')}`);
  }
  const sql = `SELECT time_bucket(make_interval(secs => ${step}::float8), t) AS t,
      sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(connections)::bigint AS connections
    FROM (${parts.join(' UNION ALL ')}) pieces GROUP BY 1 ORDER BY 1`;
  const { rows } = await db.query<Row>(sql, p.values);
  return rows.map((r) => ({ timeMs: toMs(r.t), bytesSent: num(r.bytes_sent), bytesReceived: num(r.bytes_received), connections: num(r.connections) }));
}
