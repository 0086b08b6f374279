import { createApiServer } from '../src/api/index.js';
import { matchFlows } from '../src/domain/matching.js';
import { buildTalkerGraph } from '../src/domain/talker-graph.js';
import { HOUR_MS, DAY_MS } from '../src/domain/resolution.js';
import type { Database, Store } from '../src/store/index.js';
import { fetchLongestIntervalMs, fetchNatGroups, fetchSideGroups, fetchTripleSideGroups, refreshTalkerAggregates } from '../src/store/queries/index.js';
import { silentLog } from './log.js';
import { benchTargets, optionValue, sideBySide, stringOptions } from './targets.js';

/**
 * talkers: latency through HTTP against the same SQL run directly (goal <= 1.2x), and talkers over 24 h and 7 d
 * of a generated history, from the continuous aggregates against the same answer computed from raw rows
 * (goal p50 <= 100 ms and >= 20x faster). The history is generated in SQL (INSERT ... SELECT generate_series):
 * clients on many hosts talk to servers, directly or through a DNAT'd VIP, one row per side per connection.
 * Row count: options.rows (--rows), else CONNTRAIL_BENCH_API_ROWS, else 10,000,000; timed runs: --runs (20).
 * Embedded, on a server, or both side by side: see bench/targets.ts.
 */
export interface ApiTalkersOptions {
  /** Connection rows to generate (half client side, half server side). */
  readonly rows?: number;
  /** Timed runs per fast measurement (raw scans run fewer). */
  readonly runs?: number;
}

const START = Date.UTC(2024, 4, 1);
const DAYS = 7;
const INTERVAL_S = 60;
/** Collection intervals in the history: connection i starts in interval floor(i * INTERVALS / connections). */
const INTERVALS = (DAYS * 86_400) / INTERVAL_S;
const CLIENT_HOSTS = 100;
const SERVERS = 20;
/** Connections per INSERT statement (two connection rows each). */
const BATCH = 250_000;

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

async function timed(runs: number, fn: () => Promise<unknown>, warmUp = true): Promise<{ p50: number; p95: number }> {
  if (warmUp) await fn(); // plans, caches, JIT
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

const fmt = (ms: number): string => `${ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)} ms`;

// Connection i lasts one interval. Client host c = i % 100 (one client process each) uses 2 of the 20 services;
// every fifth service is reached only through its VIP 10.96.0.x:80+, DNAT'd by the router to 10.2.0.x:8000+.
const SERVICE = `((i % ${CLIENT_HOSTS}) * 3 + (i / ${CLIENT_HOSTS}) % 2) % ${SERVERS}`;
const GENERATE = `
WITH g AS (
  SELECT i, $1::timestamptz + ((i * ${INTERVALS}) / $2::bigint * ${INTERVAL_S}) * interval '1 second' AS t,
         (i % ${CLIENT_HOSTS})::int AS c, (${SERVICE})::int AS s,
         (10000 + (i / ${CLIENT_HOSTS}) % 50000)::int AS cport, (i * 37 % 100000)::bigint AS bytes
  FROM generate_series($3::bigint, $4::bigint - 1) AS i
), rows AS (
  SELECT t, 'client-' || c AS host_id, 'outgoing' AS direction, ('10.1.0.' || (c + 1))::inet AS local_addr, cport AS local_port,
         CASE WHEN s % 5 = 0 THEN ('10.96.0.' || (s + 1))::inet ELSE ('10.2.0.' || (s + 1))::inet END AS remote_addr,
         CASE WHEN s % 5 = 0 THEN 80 + s % 4 ELSE 8000 + s % 4 END AS remote_port,
         1000 AS pid, bytes AS sent, bytes * 3 AS received
  FROM g
  UNION ALL
  SELECT t, 'server-' || s, 'incoming', ('10.2.0.' || (s + 1))::inet, 8000 + s % 4, ('10.1.0.' || (c + 1))::inet, cport,
         2000 + s % 4, bytes * 3, bytes
  FROM g
)
INSERT INTO conntrail.connections (time, host_id, netns, protocol, family, direction, local_addr, local_port, remote_addr, remote_port,
  pid, process_started_at, state, bytes_sent, bytes_received, source, conn_count, new_count)
SELECT t, host_id, 0, 'tcp', 4, direction, local_addr, local_port, remote_addr, remote_port, pid, $1::timestamptz - interval '1 day',
       'ESTABLISHED', sent, received, 'procfs', 1, 1
FROM rows`;

const GENERATE_NAT = `
INSERT INTO conntrail.nat_translations (time, host_id, netns, protocol, conntrack_id, orig_src, orig_dst, orig_sport, orig_dport,
  reply_src, reply_dst, reply_sport, reply_dport, kind, first_seen, last_seen)
SELECT t, 'router', 0, 'tcp', i, client, ('10.96.0.' || (s + 1))::inet, cport, 80 + s % 4, ('10.2.0.' || (s + 1))::inet, client, 8000 + s % 4, cport,
       'DNAT', t, t
FROM (
  SELECT i, $1::timestamptz + ((i * ${INTERVALS}) / $2::bigint * ${INTERVAL_S}) * interval '1 second' AS t, (${SERVICE})::int AS s,
         ('10.1.0.' || (i % ${CLIENT_HOSTS} + 1))::inet AS client, (10000 + (i / ${CLIENT_HOSTS}) % 50000)::int AS cport
  FROM generate_series($3::bigint, $4::bigint - 1) AS i
) g WHERE s % 5 = 0`;

const HOSTS = `
INSERT INTO conntrail.hosts (host_id, first_seen, last_seen)
SELECT h, $1::timestamptz, $2::timestamptz FROM (
  SELECT 'client-' || c AS h FROM generate_series(0, ${CLIENT_HOSTS - 1}) c UNION ALL SELECT 'server-' || s FROM generate_series(0, ${SERVERS - 1}) s UNION ALL SELECT 'router'
) hosts`;
const PROCESSES = `
INSERT INTO conntrail.processes (host_id, pid, started_at, name, cmdline, first_seen, last_seen)
SELECT 'client-' || c, 1000, $1::timestamptz - interval '1 day', 'client', 'client --id ' || c, $1::timestamptz, $2::timestamptz
FROM generate_series(0, ${CLIENT_HOSTS - 1}) c
UNION ALL
SELECT 'server-' || s, 2000 + s % 4, $1::timestamptz - interval '1 day', 'server' || s % 4, 'server --id ' || s, $1::timestamptz, $2::timestamptz
FROM generate_series(0, ${SERVERS - 1}) s`;

export async function generate(admin: Database, rows: number, report: (line: string) => void): Promise<void> {
  const connections = Math.ceil(rows / 2);
  const from = new Date(START).toISOString();
  const to = new Date(START + DAYS * DAY_MS).toISOString();
  await admin.query(HOSTS, [from, to]);
  await admin.query(PROCESSES, [from, to]);
  const started = Date.now();
  for (let a = 0; a < connections; a += BATCH) {
    const b = Math.min(connections, a + BATCH);
    await admin.query(GENERATE, [from, connections, a, b]);
    await admin.query(GENERATE_NAT, [from, connections, a, b]);
    const seconds = (Date.now() - started) / 1000;
    report(`  generated ${(2 * b).toLocaleString('en-US')} / ${(2 * connections).toLocaleString('en-US')} rows (${Math.round((2 * b) / seconds).toLocaleString('en-US')} rows/s)`);
  }
}

/** The talkers answer from raw rows at the aggregates' grain: what the aggregates save. */
async function talkersFromRaw(db: Database, fromMs: number, toMs: number): Promise<number> {
  const window = { fromMs, toMs };
  const [groups, nat] = await Promise.all([fetchTripleSideGroups(db, window, 'RAW'), fetchNatGroups(db, window, 'RAW')]);
  return buildTalkerGraph(matchFlows(groups, nat, { exact: false, toleranceMs: HOUR_MS }), 'PROCESS', null, 200).totalEdges;
}

async function measure(store: Store, rows: number, runs: number, report: (line: string) => void): Promise<Map<string, string>> {
  const figures = new Map<string, string>();
  const api = createApiServer({ reader: store.reader, log: silentLog, port: 0, token: null, production: false });
  try {
    report(`api-talkers (${store.mode}): generating ${rows.toLocaleString('en-US')} connection rows over ${DAYS} days (${CLIENT_HOSTS} client hosts using 2 of ${SERVERS} services each, 1 in 5 services behind a DNAT'd VIP)`);
    await generate(store.admin, rows, report);
    // Materialise what the measured queries read, a day at a time: the hourly aggregate (rolled up from the
    // minute aggregate's real-time view, so that one need not be materialised here), then NAT and the days.
    const t = Date.now();
    for (let day = 0; day < DAYS; day++) {
      await store.admin.query(`CALL refresh_continuous_aggregate('conntrail.traffic_1h', $1::timestamptz, $2::timestamptz)`,
        [new Date(START + day * DAY_MS).toISOString(), new Date(START + (day + 1) * DAY_MS).toISOString()]);
      report(`  hourly aggregate: day ${day + 1}/${DAYS} refreshed (${((Date.now() - t) / 1000).toFixed(0)} s)`);
    }
    await refreshTalkerAggregates(store.admin, START, START + DAYS * DAY_MS);
    // The embedded engine has no autovacuum: without statistics the planner misjudges every aggregate.
    await store.admin.query('ANALYZE');
    report(`  aggregates refreshed and analysed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const { url } = await api.start();
    const talkers = async (fromMs: number, toMs: number, resolution: string): Promise<number> => {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: `query($r: TimeRange!, $res: Resolution) { talkers(range: $r, resolution: $res) { totalEdges edges { match connections bytesSent bytesReceived client { address host { id } process { pid name } } server { address port host { id } } nat { kind } } } }`,
          variables: { r: { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() }, res: resolution },
        }),
      });
      const body = await res.json() as { data?: { talkers: { totalEdges: number } }; errors?: unknown };
      if (!body.data) throw new Error(`talkers failed: ${JSON.stringify(body.errors)}`);
      return body.data.talkers.totalEdges;
    };
    const end = START + DAYS * DAY_MS;

    // 1. HTTP overhead: the whole API path against the SQL the resolver issues, run directly on the reader.
    // The two alternate run by run so that load from elsewhere on the machine hits both alike.
    for (const [label, fromMs, resolution] of [['1 h, raw rows', end - HOUR_MS, 'RAW'], ['24 h, hourly aggregate', end - DAY_MS, 'HOUR'], ['7 d, daily aggregate', end - DAYS * DAY_MS, 'DAY']] as const) {
      const window = { fromMs, toMs: end };
      const sqlOnly = async () => {
        const longest = await fetchLongestIntervalMs(store.reader, window);
        return Promise.all([fetchSideGroups(store.reader, window, resolution, longest), fetchNatGroups(store.reader, window, resolution === 'RAW' ? 'EXACT' : resolution, longest)]);
      };
      await talkers(fromMs, end, resolution);
      await sqlOnly();
      const http: number[] = [];
      const sql: number[] = [];
      for (let i = 0; i < runs; i++) {
        let t0 = process.hrtime.bigint();
        await talkers(fromMs, end, resolution);
        http.push(Number(process.hrtime.bigint() - t0) / 1e6);
        t0 = process.hrtime.bigint();
        await sqlOnly();
        sql.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      const [h50, h95, s50, s95] = [percentile(http, 50), percentile(http, 95), percentile(sql, 50), percentile(sql, 95)];
      report(`  talkers ${label}: HTTP p50 ${fmt(h50)} p95 ${fmt(h95)} | same SQL direct p50 ${fmt(s50)} p95 ${fmt(s95)} | HTTP/SQL p50 ${(h50 / s50).toFixed(2)}x (goal <= 1.2x)`);
      figures.set(`talkers ${label}: HTTP p50 vs SQL p50`, `${fmt(h50)} vs ${fmt(s50)} (${(h50 / s50).toFixed(2)}x)`);
    }

    // 2. Aggregates against raw rows for the same answer.
    for (const [label, span] of [['24 h', DAY_MS], ['7 d', DAYS * DAY_MS]] as const) {
      const fromMs = end - span;
      const edgesAgg = await talkers(fromMs, end, 'AUTO');
      const agg = await timed(runs, () => talkers(fromMs, end, 'AUTO'));
      figures.set(`talkers ${label} AUTO (HTTP) p50`, fmt(agg.p50));
      let edgesRaw = 0;
      try {
        // Raw scans are slow: fewer runs, no separate warm-up (the first run pays for the cold cache, as it would).
        const raw = await timed(Math.max(1, Math.min(3, Math.floor(runs / 5))), async () => { edgesRaw = await talkersFromRaw(store.reader, fromMs, end); }, false);
        const speedup = raw.p50 / agg.p50;
        report(`  talkers ${label}: aggregates (HTTP) p50 ${fmt(agg.p50)} p95 ${fmt(agg.p95)} [${edgesAgg} edges] | raw scan p50 ${fmt(raw.p50)} [${edgesRaw} edges] | ${speedup.toFixed(0)}x faster (goal p50 <= 100 ms: ${agg.p50 <= 100 ? 'met' : 'NOT met'}; >= 20x: ${speedup >= 20 ? 'met' : 'NOT met'})`);
      } catch (err) {
        // The comparison scan of every raw row can exceed what the embedded engine holds; the aggregates' figure stands.
        report(`  talkers ${label}: aggregates (HTTP) p50 ${fmt(agg.p50)} p95 ${fmt(agg.p95)} [${edgesAgg} edges] | raw scan failed: ${(err as Error).message}`);
      }
    }
    const counts = (await store.admin.query<{ raw: number; nat: number; h: number; d: number }>(
      `SELECT (SELECT count(*) FROM conntrail.connections) AS raw, (SELECT count(*) FROM conntrail.nat_translations) AS nat,
              (SELECT count(*) FROM conntrail.traffic_1h) AS h, (SELECT count(*) FROM conntrail.traffic_1d) AS d`)).rows[0];
    report(`  rows: ${Number(counts?.raw).toLocaleString('en-US')} connection rows, ${Number(counts?.nat).toLocaleString('en-US')} NAT rows; aggregate rows: ${Number(counts?.h).toLocaleString('en-US')} hourly, ${Number(counts?.d).toLocaleString('en-US')} daily`);
    return figures;
  } finally {
    await api.stop();
  }
}

/**
 * Runs on the embedded store, on a TimescaleDB server (see bench/targets.ts), or on both, and prints the
 * engines' figures side by side.
 */
export async function run(report: (line: string) => void, options: ApiTalkersOptions | readonly string[] = {}): Promise<void> {
  const args = stringOptions(options);
  const given = Array.isArray(options) ? {} : options as ApiTalkersOptions;
  const rows = given.rows ?? (Number(optionValue(args, 'rows')) || Number(process.env.CONNTRAIL_BENCH_API_ROWS) || 10_000_000);
  const runs = given.runs ?? (Number(optionValue(args, 'runs')) || 20);
  const targets = benchTargets(args);
  const all: Map<string, string>[] = [];
  for (const target of targets) {
    const { store, dispose } = await target.open();
    try {
      all.push(await measure(store, rows, runs, report));
    } finally {
      await dispose();
    }
  }
  if (targets.length > 1) sideBySide(report, targets.map((t) => t.name), all);
}
