/**
 * Names of addresses over time (bi.dns_names). Two readings of "the name an address had":
 * - at a time or over a window (endpoints, `names`): every name a sighting reported up to the window's end, within
 *   NAME_LOOKBACK_MS before its start. A name stays on an address after its TTL: a connection made from a cached
 *   answer, or one that outlives it, keeps the name it was made with (the collector reports names in use again,
 *   see the collector's name table, so a long connection keeps finding them).
 * - the addresses of a name over a window (`addresses`): sightings whose validity [first_seen, last_seen + ttl]
 *   overlaps the window, so a name that moved is answered per time.
 */
import type { Queryable } from '../database.js';
import { Params, epochUs, fromEpochUs, msToUs, num, type TimeRange } from './sql.js';

/** How far back a sighting still names an address (the collector re-reports names in use hourly). */
export const NAME_LOOKBACK_MS = 24 * 3_600_000;

export interface NameKey {
  readonly address: string;
  readonly window: TimeRange;
}

export interface AddressNameRecord {
  readonly hostId: string;
  readonly address: string;
  readonly name: string;
  readonly source: 'snoop' | 'reverse';
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly ttlSeconds: number | null;
  /** The latest receiving process (snoop), when known. */
  readonly pid: number | null;
  readonly processStartedUs: number | null;
}

export function nameKeyOf(k: NameKey): string {
  return `${k.address}|${k.window.fromMs}|${k.window.toMs}`;
}

export interface AddressNames {
  /** Sorted, distinct. */
  readonly names: string[];
  /**
   * The name to show the address by: a name a process asked for (not a CNAME target) before other snooped
   * names, those before reverse names; the latest sighting first, then name order. Null when it has none.
   */
  readonly primary: string | null;
}

const NO_NAMES: AddressNames = Object.freeze({ names: [], primary: null }) as AddressNames;

/** The names of each (address, window), one statement for the whole batch. */
export async function namesForAddresses(db: Queryable, keys: readonly NameKey[]): Promise<AddressNames[]> {
  if (keys.length === 0) return [];
  const p = new Params();
  const addresses = p.add(keys.map((k) => k.address));
  const froms = p.add(keys.map((k) => msToUs(k.window.fromMs - NAME_LOOKBACK_MS)));
  const tos = p.add(keys.map((k) => msToUs(k.window.toMs)));
  const { rows } = await db.query<{ i: number | string; names: string[]; primary_name: string }>(
    `SELECT k.i, array_agg(DISTINCT d.name ORDER BY d.name) AS names,
       (array_agg(d.name ORDER BY d.asked DESC, d.source = 'snoop' DESC, d.last_seen DESC, d.name))[1] AS primary_name
     FROM unnest(${addresses}::inet[], ${froms}::bigint[], ${tos}::bigint[]) WITH ORDINALITY AS k(address, from_us, to_us, i)
     JOIN bi.dns_names d ON d.address = k.address
       AND d.time >= ${fromEpochUs('k.from_us')} AND d.first_seen <= ${fromEpochUs('k.to_us')}
     GROUP BY k.i`,
    p.values,
  );
  const out: AddressNames[] = keys.map(() => NO_NAMES);
  for (const r of rows) out[num(r.i) - 1] = { names: r.names, primary: r.primary_name };
  return out;
}

interface NameRow {
  host_id: string; address: string; name: string; source: 'snoop' | 'reverse'; first_us: number | string; last_us: number | string;
  ttl: number | null; pid: number | null; started_us: number | string | null;
}

const GROUPED = `SELECT host_id, host(address) AS address, name, source, ${epochUs('min(first_seen)')} AS first_us, ${epochUs('max(last_seen)')} AS last_us,
       (array_agg(ttl ORDER BY last_seen DESC))[1] AS ttl,
       (array_agg(pid ORDER BY last_seen DESC) FILTER (WHERE pid IS NOT NULL))[1] AS pid,
       (array_agg(${epochUs('process_started_at')} ORDER BY last_seen DESC) FILTER (WHERE pid IS NOT NULL))[1] AS started_us
     FROM bi.dns_names`;

function toRecord(r: NameRow): AddressNameRecord {
  return {
    hostId: r.host_id, address: r.address, name: r.name, source: r.source, firstSeenMs: num(r.first_us) / 1000, lastSeenMs: num(r.last_us) / 1000,
    ttlSeconds: r.ttl, pid: r.pid, processStartedUs: r.started_us === null ? null : num(r.started_us),
  };
}

/** What `address` was called over the window: one row per host, name and source. */
export async function fetchNamesOf(db: Queryable, address: string, window: TimeRange, limit: number): Promise<AddressNameRecord[]> {
  const p = new Params();
  const { rows } = await db.query<NameRow>(
    `${GROUPED}
     WHERE address = ${p.add(address)}::inet AND time >= ${fromEpochUs(p.add(msToUs(window.fromMs - NAME_LOOKBACK_MS)))}
       AND first_seen <= ${fromEpochUs(p.add(msToUs(window.toMs)))}
     GROUP BY host_id, address, name, source
     ORDER BY name, source, host_id LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map(toRecord);
}

/** The addresses `name` had over the window: one row per host, address and source. */
export async function fetchAddressesOf(db: Queryable, name: string, window: TimeRange, limit: number): Promise<AddressNameRecord[]> {
  const p = new Params();
  const from = fromEpochUs(p.add(msToUs(window.fromMs)));
  const to = fromEpochUs(p.add(msToUs(window.toMs)));
  const { rows } = await db.query<NameRow>(
    `${GROUPED}
     WHERE name = ${p.add(name)} AND first_seen <= ${to}
       AND last_seen + COALESCE(ttl, 0) * interval '1 second' >= ${from}
       AND time >= ${from}::timestamptz - ${p.add(NAME_LOOKBACK_MS / 1000)} * interval '1 second'
     GROUP BY host_id, address, name, source
     ORDER BY address, source, host_id LIMIT ${p.add(limit)}`,
    p.values,
  );
  return rows.map(toRecord);
}
