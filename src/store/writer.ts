import type { ConnectionRow, ListeningSocket, NatTranslation, ProcessInfo } from '../domain/connection.js';
import { validateName, type NameObservation } from '../domain/dns.js';
import type { Snapshot } from '../domain/snapshot.js';
import { validateConnection, validateListening, validateNat, validateProcess, validateSnapshotIdentity } from '../domain/validate.js';
import type { Database, Queryable } from './database.js';
import { StoreError } from './errors.js';

/**
 * Writes one snapshot in one transaction. Idempotent: the snapshot's completeness record (host, time) is
 * inserted first and the rows only when it was new, so a replayed snapshot adds nothing. Rows are sent as
 * one array per column through unnest (measured against COPY in bench/), in chunks to bound statement size.
 */
export interface RowRejection {
  readonly table: 'connections' | 'nat_translations' | 'listening_sockets' | 'processes' | 'dns_names';
  readonly index: number;
  readonly reason: string;
}

export interface WriteResult {
  /** false when this snapshot had been written before (a replay): nothing was added. */
  readonly written: boolean;
  readonly connectionRows: number;
  readonly natRows: number;
  readonly listeningRows: number;
  readonly processRows: number;
  readonly nameRows: number;
  readonly rejected: readonly RowRejection[];
}

const CHUNK = 10_000;
const MAX_ERRORS_KEPT = 20;

function partition<T>(rows: readonly T[], table: RowRejection['table'], check: (r: T) => string | null, rejected: RowRejection[]): T[] {
  const ok: T[] = [];
  rows.forEach((row, index) => {
    let reason: string | null;
    try {
      reason = check(row);
    } catch (err) {
      reason = `unreadable row: ${(err as Error).message}`;
    }
    if (reason === null) ok.push(row);
    else rejected.push({ table, index, reason });
  });
  return ok;
}

function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += CHUNK) out.push(rows.slice(i, i + CHUNK));
  return out;
}

export class SnapshotWriter {
  private readonly db: Database;

  constructor(db: Database) {
    this.db = db;
  }

  async write(snapshot: Snapshot): Promise<WriteResult> {
    const identityProblem = validateSnapshotIdentity(snapshot);
    if (identityProblem) throw new StoreError('INVALID_ROW', `snapshot rejected: ${identityProblem}`, { hostId: snapshot.hostId, timeMs: snapshot.timeMs });
    const rejected: RowRejection[] = [];
    const connections = partition(snapshot.connections, 'connections', validateConnection, rejected);
    const nat = partition(snapshot.nat, 'nat_translations', validateNat, rejected);
    const listening = partition(snapshot.listening, 'listening_sockets', validateListening, rejected);
    const names = partition(snapshot.names ?? [], 'dns_names', validateName, rejected);
    const processes = dedupeProcesses(partition(snapshot.processes, 'processes', validateProcess, rejected));
    const errors = [...snapshot.completeness.errors, ...rejected.slice(0, MAX_ERRORS_KEPT).map((r) => `${r.table}[${r.index}]: ${r.reason}`)];

    const written = await this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO conntrail.hosts (host_id, first_seen, last_seen) VALUES ($1, to_timestamp($2 / 1000.0), to_timestamp($2 / 1000.0))
         ON CONFLICT (host_id) DO UPDATE SET first_seen = LEAST(conntrail.hosts.first_seen, EXCLUDED.first_seen),
           last_seen = GREATEST(conntrail.hosts.last_seen, EXCLUDED.last_seen)`,
        [snapshot.hostId, snapshot.timeMs],
      );
      const fresh = await tx.query(
        `INSERT INTO conntrail.snapshots (time, host_id, interval_seconds, sources, connection_rows, nat_rows, listening_rows, rows_rejected, events_lost, errors)
         VALUES (to_timestamp($1 / 1000.0), $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10::jsonb)
         ON CONFLICT (host_id, time) DO NOTHING RETURNING 1 AS fresh`,
        [snapshot.timeMs, snapshot.hostId, snapshot.intervalMs / 1000, JSON.stringify(snapshot.completeness.sources),
          connections.length, nat.length, listening.length, rejected.length,
          snapshot.completeness.eventsLost + snapshot.completeness.sources.reduce((sum, s) => sum + s.lost, 0), JSON.stringify(errors)],
      );
      if (fresh.rowCount === 0) return false;
      // A write older than the aggregate policies' look-back (a spool replay, a backfill) is noted for the
      // refresh_late_writes job, which refreshes every aggregate over it (migration 008).
      await tx.query(
        `INSERT INTO conntrail.late_writes (from_time, to_time)
         SELECT to_timestamp($1 / 1000.0) - $2 * interval '1 second', to_timestamp($1 / 1000.0) + $2 * interval '1 second'
         WHERE to_timestamp($1 / 1000.0) < now() - conntrail.late_after()`,
        [snapshot.timeMs, snapshot.intervalMs / 1000],
      );
      for (const part of chunks(processes)) await insertProcesses(tx, snapshot, part);
      for (const part of chunks(connections)) await insertConnections(tx, snapshot, part);
      for (const part of chunks(nat)) await insertNat(tx, snapshot, part);
      for (const part of chunks(listening)) await insertListening(tx, snapshot, part);
      for (const part of chunks(names)) await insertNames(tx, snapshot, part);
      return true;
    });
    return {
      written,
      connectionRows: written ? connections.length : 0,
      natRows: written ? nat.length : 0,
      listeningRows: written ? listening.length : 0,
      processRows: written ? processes.length : 0,
      nameRows: written ? names.length : 0,
      rejected,
    };
  }
}

function dedupeProcesses(rows: ProcessInfo[]): ProcessInfo[] {
  const byKey = new Map<string, ProcessInfo>();
  for (const p of rows) byKey.set(`${p.pid}/${p.startedAtMs}`, p);
  return [...byKey.values()];
}

// A known identity field is never replaced by an unknown one: a process seen last through an eBPF hint
// (pid, start, name only, after it exited) keeps the cmdline, exe, uid, cgroup an earlier snapshot recorded.
async function insertProcesses(tx: Queryable, s: Snapshot, rows: ProcessInfo[]): Promise<void> {
  await tx.query(
    `INSERT INTO conntrail.processes (host_id, pid, started_at, name, exe, cmdline, uid, cgroup, container_id, first_seen, last_seen)
     SELECT $1, u.pid, to_timestamp(u.started / 1000.0), u.name, u.exe, u.cmdline, u.uid, u.cgroup, u.container_id,
            to_timestamp($2 / 1000.0), to_timestamp($2 / 1000.0)
     FROM unnest($3::int[], $4::float8[], $5::text[], $6::text[], $7::text[], $8::int[], $9::text[], $10::text[])
          AS u(pid, started, name, exe, cmdline, uid, cgroup, container_id)
     ON CONFLICT (host_id, pid, started_at) DO UPDATE SET
       last_seen = GREATEST(conntrail.processes.last_seen, EXCLUDED.last_seen),
       first_seen = LEAST(conntrail.processes.first_seen, EXCLUDED.first_seen),
       name = COALESCE(NULLIF(EXCLUDED.name, ''), conntrail.processes.name), exe = COALESCE(EXCLUDED.exe, conntrail.processes.exe),
       cmdline = COALESCE(NULLIF(EXCLUDED.cmdline, ''), conntrail.processes.cmdline),
       uid = COALESCE(EXCLUDED.uid, conntrail.processes.uid), cgroup = COALESCE(EXCLUDED.cgroup, conntrail.processes.cgroup),
       container_id = COALESCE(EXCLUDED.container_id, conntrail.processes.container_id)`,
    [s.hostId, s.timeMs, rows.map((r) => r.pid), rows.map((r) => r.startedAtMs), rows.map((r) => r.name), rows.map((r) => r.exe),
      rows.map((r) => r.cmdline), rows.map((r) => r.uid), rows.map((r) => r.cgroup), rows.map((r) => r.containerId)],
  );
}

async function insertConnections(tx: Queryable, s: Snapshot, rows: ConnectionRow[]): Promise<void> {
  await tx.query(
    `INSERT INTO conntrail.connections (time, host_id, netns, protocol, family, direction, local_addr, local_port, remote_addr, remote_port,
       pid, process_started_at, state, opened_at, closed_at, bytes_sent, bytes_received, retransmits, rtt_us, source, conn_count, new_count)
     SELECT to_timestamp($1 / 1000.0), $2, u.netns, u.protocol, u.family, u.direction, u.local_addr, u.local_port, u.remote_addr, u.remote_port,
       u.pid, to_timestamp(u.started / 1000.0), u.state, to_timestamp(u.opened / 1000.0), to_timestamp(u.closed / 1000.0),
       u.bytes_sent, u.bytes_received, u.retransmits, u.rtt_us, u.source, u.conn_count, u.new_count
     FROM unnest($3::bigint[], $4::text[], $5::smallint[], $6::text[], $7::inet[], $8::int[], $9::inet[], $10::int[],
                 $11::int[], $12::float8[], $13::text[], $14::float8[], $15::float8[], $16::bigint[], $17::bigint[], $18::int[],
                 $19::int[], $20::text[], $21::int[], $22::int[])
       AS u(netns, protocol, family, direction, local_addr, local_port, remote_addr, remote_port, pid, started, state, opened, closed,
            bytes_sent, bytes_received, retransmits, rtt_us, source, conn_count, new_count)`,
    [s.timeMs, s.hostId, rows.map((r) => r.netns), rows.map((r) => r.protocol), rows.map((r) => r.family), rows.map((r) => r.direction),
      rows.map((r) => r.localAddress), rows.map((r) => r.localPort), rows.map((r) => r.remoteAddress), rows.map((r) => r.remotePort),
      rows.map((r) => r.process?.pid ?? null), rows.map((r) => r.process?.startedAtMs ?? null), rows.map((r) => r.state),
      rows.map((r) => r.openedAtMs), rows.map((r) => r.closedAtMs), rows.map((r) => r.bytesSent), rows.map((r) => r.bytesReceived),
      rows.map((r) => r.retransmits), rows.map((r) => r.rttUs), rows.map((r) => r.source), rows.map((r) => r.count), rows.map((r) => r.newCount)],
  );
}

async function insertNat(tx: Queryable, s: Snapshot, rows: NatTranslation[]): Promise<void> {
  await tx.query(
    `INSERT INTO conntrail.nat_translations (time, host_id, netns, protocol, conntrack_id, orig_src, orig_dst, orig_sport, orig_dport,
       reply_src, reply_dst, reply_sport, reply_dport, kind, first_seen, last_seen, new_count)
     SELECT to_timestamp($1 / 1000.0), $2, u.netns, u.protocol, u.ct_id, u.orig_src, u.orig_dst, u.orig_sport, u.orig_dport,
       u.reply_src, u.reply_dst, u.reply_sport, u.reply_dport, u.kind, to_timestamp(u.first_seen / 1000.0), to_timestamp(u.last_seen / 1000.0), u.new_count
     FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::inet[], $7::inet[], $8::int[], $9::int[], $10::inet[], $11::inet[], $12::int[],
                 $13::int[], $14::text[], $15::float8[], $16::float8[], $17::smallint[])
       AS u(netns, protocol, ct_id, orig_src, orig_dst, orig_sport, orig_dport, reply_src, reply_dst, reply_sport, reply_dport, kind, first_seen, last_seen, new_count)`,
    [s.timeMs, s.hostId, rows.map((r) => r.netns), rows.map((r) => r.protocol), rows.map((r) => r.conntrackId),
      rows.map((r) => r.original.src), rows.map((r) => r.original.dst), rows.map((r) => r.original.srcPort), rows.map((r) => r.original.dstPort),
      rows.map((r) => r.reply.src), rows.map((r) => r.reply.dst), rows.map((r) => r.reply.srcPort), rows.map((r) => r.reply.dstPort),
      rows.map((r) => r.kind), rows.map((r) => r.firstSeenMs), rows.map((r) => r.lastSeenMs), rows.map((r) => r.newCount ?? null)],
  );
}

async function insertListening(tx: Queryable, s: Snapshot, rows: ListeningSocket[]): Promise<void> {
  await tx.query(
    `INSERT INTO conntrail.listening_sockets (time, host_id, netns, protocol, family, address, port, pid, process_started_at)
     SELECT to_timestamp($1 / 1000.0), $2, u.netns, u.protocol, u.family, u.address, u.port, u.pid, to_timestamp(u.started / 1000.0)
     FROM unnest($3::bigint[], $4::text[], $5::smallint[], $6::inet[], $7::int[], $8::int[], $9::float8[])
       AS u(netns, protocol, family, address, port, pid, started)`,
    [s.timeMs, s.hostId, rows.map((r) => r.netns), rows.map((r) => r.protocol), rows.map((r) => r.family), rows.map((r) => r.address),
      rows.map((r) => r.port), rows.map((r) => r.process?.pid ?? null), rows.map((r) => r.process?.startedAtMs ?? null)],
  );
}

async function insertNames(tx: Queryable, s: Snapshot, rows: NameObservation[]): Promise<void> {
  await tx.query(
    `INSERT INTO conntrail.dns_names (time, host_id, netns, address, name, source, asked, first_seen, last_seen, ttl, pid, process_started_at)
     SELECT to_timestamp($1 / 1000.0), $2, u.netns, u.address, u.name, u.source, u.asked, to_timestamp(u.first_seen / 1000.0),
            to_timestamp(u.last_seen / 1000.0), u.ttl, u.pid, to_timestamp(u.started / 1000.0)
     FROM unnest($3::bigint[], $4::inet[], $5::text[], $6::text[], $7::float8[], $8::float8[], $9::int[], $10::int[], $11::float8[], $12::boolean[])
       AS u(netns, address, name, source, first_seen, last_seen, ttl, pid, started, asked)`,
    [s.timeMs, s.hostId, rows.map((r) => r.netns), rows.map((r) => r.address), rows.map((r) => r.name), rows.map((r) => r.source),
      rows.map((r) => r.firstSeenMs), rows.map((r) => r.lastSeenMs), rows.map((r) => r.ttlSeconds), rows.map((r) => r.pid),
      rows.map((r) => r.processStartedAtMs), rows.map((r) => r.asked)],
  );
}
