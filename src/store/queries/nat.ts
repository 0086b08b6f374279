/**
 * NAT translations: pages of raw translations touching an address, and the lookups behind `resolve` (which
 * translations applied to an address:port at an instant, and who owned an address:port then).
 */
import type { Protocol } from '../../domain/connection.js';
import type { NatGroup } from '../../domain/matching.js';
import type { Queryable } from '../database.js';
import { Params, epochUs, fromEpochUs, isStringOrNumberArray, isoOf, num, toMs, toPage, type Page, type PageRequest, type TimeRange } from './sql.js';

/** Position in the total order: time (µs), host, netns, protocol, then both tuples. */
export type NatKey = [number, string, number, string, string, number, string, number, string, number, string, number];

export interface NatTuple {
  readonly source: string;
  readonly sourcePort: number;
  readonly destination: string;
  readonly destinationPort: number;
}

export interface NatRecord {
  readonly key: NatKey;
  readonly timeMs: number;
  readonly hostId: string;
  readonly netns: number;
  readonly protocol: Protocol;
  readonly conntrackId: number | null;
  readonly kind: 'DNAT' | 'SNAT' | 'BOTH';
  readonly original: NatTuple;
  readonly reply: NatTuple;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

export interface ResolveLookup {
  readonly address: string;
  readonly port: number;
  readonly atMs: number;
  readonly withinMs: number;
  readonly client: string | null;
  readonly protocol: Protocol | null;
}

/** forward: the address was the destination that got rewritten (VIP); reverse: it was the rewritten source (masquerade). */
export interface ResolveTranslations {
  readonly forward: NatGroup[];
  readonly reverse: NatGroup[];
}

export interface OwnerQuery {
  readonly address: string;
  readonly port: number;
  /** server: who accepted on address:port; client: who connected from it. */
  readonly role: 'server' | 'client';
}

export interface Owner {
  readonly hostId: string;
  readonly pid: number | null;
  readonly startedUs: number | null;
  readonly processName: string | null;
}

interface NatRow {
  time_us: number | string; time: Date; host_id: string; netns: number | string; protocol: Protocol; conntrack_id: number | string | null;
  kind: 'DNAT' | 'SNAT' | 'BOTH'; orig_src: string; orig_sport: number; orig_dst: string; orig_dport: number;
  reply_src: string; reply_sport: number; reply_dst: string; reply_dport: number; first_seen: Date; last_seen: Date;
}

interface ResolveRow extends Omit<NatRow, 'time_us' | 'time' | 'conntrack_id'> {
  forward: boolean;
  translations: number | string;
}

interface OwnerRow { i: number | string; host_id: string; pid: number | null; started_us: number | string | null; process_name: string | null }

const ORDER = 'time, host_id, netns, protocol, orig_src, orig_sport, orig_dst, orig_dport, reply_src, reply_sport, reply_dst, reply_dport';

/** How far before `at` rows may start and still cover it (a collection interval is far shorter). */
const LOOKBACK_MS = 3_600_000;

export function isNatKey(value: unknown): value is NatKey {
  return isStringOrNumberArray(value, 12) && typeof value[0] === 'number' && [2, 5, 7, 9, 11].every((i) => typeof value[i] === 'number');
}

function toRecord(r: NatRow): NatRecord {
  const timeUs = num(r.time_us);
  const netns = num(r.netns);
  return {
    key: [timeUs, r.host_id, netns, r.protocol, r.orig_src, r.orig_sport, r.orig_dst, r.orig_dport, r.reply_src, r.reply_sport, r.reply_dst, r.reply_dport],
    timeMs: toMs(r.time), hostId: r.host_id, netns, protocol: r.protocol, conntrackId: r.conntrack_id === null ? null : num(r.conntrack_id), kind: r.kind,
    original: { source: r.orig_src, sourcePort: r.orig_sport, destination: r.orig_dst, destinationPort: r.orig_dport },
    reply: { source: r.reply_src, sourcePort: r.reply_sport, destination: r.reply_dst, destinationPort: r.reply_dport },
    firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  };
}

/** Translations seen in the window with `address` (and `port` on the same side) anywhere in either tuple. */
export async function fetchNatPage(db: Queryable, window: TimeRange, address: string, port: number | null, page: PageRequest<NatKey>): Promise<Page<NatRecord>> {
  const p = new Params();
  const a = p.add(address);
  const portParam = port === null ? null : p.add(port);
  const side = (addr: string, prt: string) => (portParam === null ? `${addr} = ${a}::inet` : `(${addr} = ${a}::inet AND ${prt} = ${portParam})`);
  const where = [
    `time >= ${p.add(isoOf(window.fromMs))}`, `time < ${p.add(isoOf(window.toMs))}`,
    `(${side('orig_src', 'orig_sport')} OR ${side('orig_dst', 'orig_dport')} OR ${side('reply_src', 'reply_sport')} OR ${side('reply_dst', 'reply_dport')})`,
  ];
  if (page.after) {
    const k = page.after;
    where.push(`(${ORDER}) > (${fromEpochUs(p.add(k[0]))}, ${p.add(k[1])}::text, ${p.add(k[2])}::bigint, ${p.add(k[3])}::text,
      ${p.add(k[4])}::inet, ${p.add(k[5])}::int, ${p.add(k[6])}::inet, ${p.add(k[7])}::int, ${p.add(k[8])}::inet, ${p.add(k[9])}::int, ${p.add(k[10])}::inet, ${p.add(k[11])}::int)`);
  }
  const sql = `SELECT ${epochUs('time')} AS time_us, time, host_id, netns, protocol, conntrack_id, kind,
      host(orig_src) AS orig_src, orig_sport, host(orig_dst) AS orig_dst, orig_dport,
      host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst, reply_dport, first_seen, last_seen
    FROM bi.nat_translations WHERE ${where.join(' AND ')} ORDER BY ${ORDER} LIMIT ${p.add(page.first + 1)}`;
  const { rows } = await db.query<NatRow>(sql, p.values);
  return toPage(rows.map(toRecord), page.first);
}

/**
 * The translations alive within `withinMs` of `atMs` that rewrote `address:port`: as a destination (forward: a VIP
 * or port forward) or as a source (reverse: a masquerade). One statement for both.
 */
export async function fetchResolveTranslations(db: Queryable, q: ResolveLookup): Promise<ResolveTranslations> {
  const p = new Params();
  const a = p.add(q.address);
  const port = p.add(q.port);
  const where = [
    `time >= ${p.add(isoOf(q.atMs - q.withinMs - LOOKBACK_MS))}`, `time <= ${p.add(isoOf(q.atMs + q.withinMs))}`,
    `first_seen <= ${p.add(isoOf(q.atMs + q.withinMs))}`, `last_seen >= ${p.add(isoOf(q.atMs - q.withinMs))}`,
    `((orig_dst = ${a}::inet AND orig_dport = ${port} AND (reply_src <> orig_dst OR reply_sport <> orig_dport))
      OR (reply_dst = ${a}::inet AND reply_dport = ${port} AND (reply_dst <> orig_src OR reply_dport <> orig_sport)))`,
  ];
  if (q.client !== null) where.push(`orig_src = ${p.add(q.client)}::inet`);
  if (q.protocol !== null) where.push(`protocol = ${p.add(q.protocol)}`);
  const sql = `SELECT (orig_dst = ${a}::inet AND orig_dport = ${port}) AS forward, host_id, netns, protocol, kind,
      host(orig_src) AS orig_src, orig_sport, host(orig_dst) AS orig_dst, orig_dport,
      host(reply_src) AS reply_src, reply_sport, host(reply_dst) AS reply_dst, reply_dport,
      GREATEST(count(DISTINCT conntrack_id), 1) AS translations, min(first_seen) AS first_seen, max(last_seen) AS last_seen
    FROM bi.nat_translations WHERE ${where.join(' AND ')}
    GROUP BY 1, host_id, netns, protocol, kind, orig_src, orig_sport, orig_dst, orig_dport, reply_src, reply_sport, reply_dst, reply_dport
    ORDER BY host_id, orig_src, orig_sport, reply_src, reply_sport`;
  const { rows } = await db.query<ResolveRow>(sql, p.values);
  const toGroup = (r: ResolveRow): NatGroup => ({
    hostId: r.host_id, netns: num(r.netns), protocol: r.protocol, kind: r.kind,
    origSrc: r.orig_src, origSrcPort: r.orig_sport, origDst: r.orig_dst, origDstPort: r.orig_dport,
    replySrc: r.reply_src, replySrcPort: r.reply_sport, replyDst: r.reply_dst, replyDstPort: r.reply_dport,
    translations: num(r.translations), firstSeenMs: toMs(r.first_seen), lastSeenMs: toMs(r.last_seen),
  });
  return { forward: rows.filter((r) => r.forward).map(toGroup), reverse: rows.filter((r) => !r.forward).map(toGroup) };
}

/**
 * Who owned each address:port closest to `atMs`: a connection record of that role first, a listening socket on
 * exactly that address next. One statement for all; the result is indexed like the input.
 */
export async function fetchOwners(db: Queryable, queries: readonly OwnerQuery[], atMs: number, withinMs: number): Promise<(Owner | null)[]> {
  if (queries.length === 0) return [];
  const p = new Params();
  const addrs = p.add(queries.map((q) => q.address));
  const ports = p.add(queries.map((q) => q.port));
  const dirs = p.add(queries.map((q) => (q.role === 'server' ? 'incoming' : 'outgoing')));
  const from = p.add(isoOf(atMs - withinMs - LOOKBACK_MS));
  const to = p.add(isoOf(atMs + withinMs));
  const at = p.add(isoOf(atMs));
  const sql = `WITH u AS (SELECT * FROM unnest(${addrs}::inet[], ${ports}::int[], ${dirs}::text[]) WITH ORDINALITY AS u(a, p, d, i))
    SELECT DISTINCT ON (i) i, host_id, pid, started_us, process_name FROM (
      SELECT u.i, c.host_id, c.pid, ${epochUs('c.process_started_at')} AS started_us, c.process_name, 0 AS prio,
             abs(extract(epoch from c.time - ${at}::timestamptz)) AS distance
      FROM u JOIN bi.connections c ON c.local_addr = u.a AND c.local_port = u.p AND c.direction = u.d
      WHERE c.time >= ${from} AND c.time <= ${to}
      UNION ALL
      SELECT u.i, l.host_id, l.pid, ${epochUs('l.process_started_at')}, l.process_name, 1,
             abs(extract(epoch from l.time - ${at}::timestamptz))
      FROM u JOIN bi.listening_sockets l ON l.address = u.a AND l.port = u.p
      WHERE u.d = 'incoming' AND l.time >= ${from} AND l.time <= ${to}
    ) found ORDER BY i, prio, distance, host_id, pid`;
  const { rows } = await db.query<OwnerRow>(sql, p.values);
  const owners: (Owner | null)[] = queries.map(() => null);
  for (const r of rows) {
    owners[num(r.i) - 1] = { hostId: r.host_id, pid: r.pid, startedUs: r.started_us === null ? null : num(r.started_us), processName: r.process_name };
  }
  return owners;
}
