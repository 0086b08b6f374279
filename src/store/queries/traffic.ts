/**
 * Traffic time series: bytes and new connections per step, from the coarsest source the step allows.
 */
import type { Direction, Protocol } from '../../domain/connection.js';
import type { Resolution } from '../../domain/resolution.js';
import type { Queryable } from '../database.js';
import { Params, isoOf, num, toMs, type TimeWindow } from './sql.js';

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
  readonly time: string;
  readonly serverPort: string;
  readonly connections: string;
}

/** Fixed whitelist of sources; the raw one derives the server port as the aggregates do. */
const SOURCES: Record<Resolution, Source> = {
  RAW: {
    view: 'bi.connections', time: 'time', connections: 'new_count',
    serverPort: `CASE direction WHEN 'incoming' THEN local_port WHEN 'outgoing' THEN remote_port ELSE LEAST(local_port, remote_port) END`,
  },
  MINUTE: { view: 'bi.traffic_1m', time: 'bucket', serverPort: 'server_port', connections: 'connections' },
  HOUR: { view: 'bi.traffic_1h', time: 'bucket', serverPort: 'server_port', connections: 'connections' },
  DAY: { view: 'bi.traffic_1d', time: 'bucket', serverPort: 'server_port', connections: 'connections' },
};

interface Row { t: Date; bytes_sent: number | string; bytes_received: number | string; connections: number | string }

/** Buckets of `stepMs` (aligned as time_bucket aligns them); buckets without rows are absent, not zero. */
export async function fetchTraffic(db: Queryable, window: TimeWindow, stepMs: number, resolution: Resolution, filter: TrafficFilter | null): Promise<TrafficPoint[]> {
  const s = SOURCES[resolution];
  const p = new Params();
  const step = p.add(stepMs / 1000);
  const where = [`${s.time} >= ${p.add(isoOf(window.fromMs))}`, `${s.time} < ${p.add(isoOf(window.toMs))}`];
  if (filter?.hosts && filter.hosts.length > 0) where.push(`host_id = ANY(${p.add(filter.hosts)}::text[])`);
  if (filter?.processName != null) where.push(`process_name = ${p.add(filter.processName)}`);
  if (filter?.direction != null) where.push(`direction = ${p.add(filter.direction)}`);
  if (filter?.protocol != null) where.push(`protocol = ${p.add(filter.protocol)}`);
  if (filter?.address != null) {
    const a = p.add(filter.address);
    where.push(`(local_addr = ${a}::inet OR remote_addr = ${a}::inet)`);
  }
  if (filter?.port != null) where.push(`${s.serverPort} = ${p.add(filter.port)}`);
  const sql = `SELECT time_bucket(make_interval(secs => ${step}::float8), ${s.time}) AS t,
      sum(bytes_sent)::bigint AS bytes_sent, sum(bytes_received)::bigint AS bytes_received, sum(${s.connections})::bigint AS connections
    FROM ${s.view} WHERE ${where.join(' AND ')} GROUP BY 1 ORDER BY 1`;
  const { rows } = await db.query<Row>(sql, p.values);
  return rows.map((r) => ({ timeMs: toMs(r.t), bytesSent: num(r.bytes_sent), bytesReceived: num(r.bytes_received), connections: num(r.connections) }));
}
