import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ListeningSocket, ProcessInfo } from '../../src/domain/connection.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { processInfo, snapshot } from '../helpers/snapshots.js';
import { data, errorCodes, expectSqlSnapshot, startHarness, type Harness } from './harness.js';

/**
 * Listener history on the embedded store. Host db-3 is scanned every 60 s at t(0)..t(9), except t(2) (the collector
 * was down: no record) and t(6) (a record whose listening scan failed). redis (pid 500) listens on 0.0.0.0:6379 at
 * t(0), t(1), t(3) and is gone at t(4); keydb (pid 600) takes the port from t(5) on; a container's redis (pid 700,
 * another netns) listens on 10.1.0.2:6379 at t(3) only; sshd listens on 0.0.0.0:22 and [::]:22 throughout, and
 * an ownerless UDP socket on 0.0.0.0:5353 at t(8) and t(9).
 */
const SNAP = 'listeners.sql.json';
const L0 = Date.UTC(2024, 6, 1, 3, 0, 0);
const STEP = 60_000;
const t = (k: number): number => L0 + k * STEP;
const iso = (ms: number): string => new Date(ms).toISOString();
const HOST_NS = 4026531840;
const CONTAINER_NS = 4026532999;

const P = {
  sshd: processInfo({ pid: 1, startedAtMs: L0 - 86_400_000, name: 'sshd' }),
  redis: processInfo({ pid: 500, startedAtMs: L0 - 3_600_000, name: 'redis-server', cmdline: 'redis-server *:6379' }),
  keydb: processInfo({ pid: 600, startedAtMs: t(4) + 20_000, name: 'keydb-server', cmdline: 'keydb-server *:6379' }),
  boxed: processInfo({ pid: 700, startedAtMs: L0 - 600_000, name: 'redis-server', containerId: 'c-cache' }),
} as const;

function listen(process: ProcessInfo | null, address: string, port: number, over: Partial<ListeningSocket> = {}): ListeningSocket {
  return { netns: HOST_NS, protocol: 'tcp', family: address.includes(':') ? 6 : 4, address, port, process, ...over };
}

function db3(k: number) {
  const rows = [listen(P.sshd, '0.0.0.0', 22), listen(P.sshd, '::', 22)];
  if ([0, 1, 3].includes(k)) rows.push(listen(P.redis, '0.0.0.0', 6379));
  if (k >= 5 && k !== 6) rows.push(listen(P.keydb, '0.0.0.0', 6379));
  if (k === 3) rows.push(listen(P.boxed, '10.1.0.2', 6379, { netns: CONTAINER_NS }));
  if (k >= 8) rows.push(listen(null, '0.0.0.0', 5353, { protocol: 'udp' }));
  const failed = k === 6;
  return snapshot({
    hostId: 'db-3', timeMs: t(k), intervalMs: STEP, listening: failed ? rows.slice(0, 1) : rows,
    processes: Object.values(P).filter((p) => p !== P.keydb || k >= 5),
    ...(failed ? { completeness: { sources: [{ name: 'procfs' as const, ok: false, durationMs: 5, skipped: 0, lost: 0, error: 'listening scan: /proc/net/tcp6: EIO' }], eventsLost: 0, errors: [] } } : {}),
  });
}

let h: Harness;

before(async () => {
  h = await startHarness();
  const writer = new SnapshotWriter(h.store.writer);
  for (const k of [0, 1, 3, 4, 5, 6, 7, 8, 9]) {
    const result = await writer.write(db3(k));
    assert.deepEqual(result.rejected, []);
  }
});
after(async () => {
  await h?.close();
});

async function run<T>(name: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let result: T | undefined;
  const sql = await h.recordSql(async () => {
    result = data<T>(await h.gql(query, variables));
  });
  expectSqlSnapshot(SNAP, name, sql);
  return result as T;
}

interface ListenerOut {
  host: { id: string }; process: { pid: number; name: string } | null; netns: number; protocol: string; family: number; address: string; port: number;
  firstSeen: string; lastSeen: string; sightings: number; openedAfter: string | null; closedBefore: string | null; listeningBefore: boolean; listeningAfter: boolean;
}
const FIELDS = 'host { id } process { pid name } netns protocol family address port firstSeen lastSeen sightings openedAfter closedBefore listeningBefore listeningAfter';
type Page = { edges: { cursor: string; node: ListenerOut }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; endCursor: string | null } };

/** A listener as a compact line: who, where, seen when (minutes after L0), and the bounds of its start and end. */
function line(l: ListenerOut): string {
  const m = (s: string | null) => (s === null ? '-' : String((Date.parse(s) - L0) / STEP));
  const who = l.process ? `${l.process.name}/${l.process.pid}` : 'unknown';
  const ns = l.netns === HOST_NS ? '' : ` ns=${l.netns}`;
  return `${l.host.id} ${who} ${l.protocol} ${l.address}:${l.port}${ns} seen ${m(l.firstSeen)}..${m(l.lastSeen)} x${l.sightings} after=${m(l.openedAfter)} before=${m(l.closedBefore)}${l.listeningBefore ? ' listening-before' : ''}${l.listeningAfter ? ' listening-after' : ''}`;
}

const Q = `query($range: TimeRange!, $host: ID, $port: Int, $address: String, $protocol: Protocol, $first: Int, $after: String) {
  listeners(range: $range, host: $host, port: $port, address: $address, protocol: $protocol, first: $first, after: $after) {
    edges { cursor node { ${FIELDS} } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`;

test('a port taken over by another process gives both listeners with their times; a gap or a failed scan does not split one', async () => {
  const out = await run<{ listeners: Page }>('listeners on a port', Q, { range: { from: iso(t(0) - STEP), to: iso(t(9)) }, host: 'db-3', port: 6379 });
  assert.deepEqual(out.listeners.edges.map((e) => line(e.node)), [
    // Never seen before t(0) (the host's first scan): when it began is unknown. Gone by t(4).
    'db-3 redis-server/500 TCP 0.0.0.0:6379 seen 0..3 x3 after=- before=4',
    'db-3 redis-server/700 TCP 10.1.0.2:6379 ns=4026532999 seen 3..3 x1 after=1 before=4',
    // Began after the scan at t(4); the failed scan at t(6) says nothing; still listening at the latest scan.
    'db-3 keydb-server/600 TCP 0.0.0.0:6379 seen 5..9 x4 after=4 before=-',
  ]);
  assert.equal(out.listeners.pageInfo.hasNextPage, false);
});

test('a range inside the history: only what listened in it, with whether it listened before and after', async () => {
  // Scans whose interval overlaps [t(3.5), t(6.5)): t(4), t(5), t(7) (t(6) failed). The scan at t(3) is before it, t(8) after it.
  const out = await run<{ listeners: Page }>('listeners in a range', Q, { range: { from: iso(t(3) + 30_000), to: iso(t(6) + 30_000) }, host: 'db-3' });
  assert.deepEqual(out.listeners.edges.map((e) => line(e.node)), [
    'db-3 sshd/1 TCP 0.0.0.0:22 seen 4..7 x3 after=- before=- listening-before listening-after',
    'db-3 sshd/1 TCP :::22 seen 4..7 x3 after=- before=- listening-before listening-after',
    'db-3 keydb-server/600 TCP 0.0.0.0:6379 seen 5..7 x2 after=4 before=- listening-after',
  ]);
  // Exactly the address asked: the wildcard, not the container's own address; and the protocol.
  const exact = await run<{ listeners: Page }>('listeners by address and protocol', Q,
    { range: { from: iso(t(0) - STEP), to: iso(t(9)) }, address: '0.0.0.0', protocol: 'UDP' });
  assert.deepEqual(exact.listeners.edges.map((e) => line(e.node)), ['db-3 unknown UDP 0.0.0.0:5353 seen 8..9 x2 after=7 before=-']);
});

test('pages follow one order and a cursor resumes after the last listener', async () => {
  const range = { from: iso(t(0) - STEP), to: iso(t(9)) };
  const all = data<{ listeners: Page }>(await h.gql(Q, { range, host: 'db-3', first: 100 })).listeners.edges.map((e) => line(e.node));
  assert.equal(all.length, 6);
  const seen: string[] = [];
  let after: string | null = null;
  for (let i = 0; i < 10; i++) {
    const page: Page = data<{ listeners: Page }>(await h.gql(Q, { range, host: 'db-3', first: 4, after })).listeners;
    seen.push(...page.edges.map((e) => line(e.node)));
    assert.equal(page.pageInfo.hasPreviousPage, after !== null);
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  assert.deepEqual(seen, all);
});

test('Host.listeners and Process.listeners are read with one statement each, however many parents', async () => {
  const range = { from: iso(t(0) - STEP), to: iso(t(9)) };
  const out = await run<{ hosts: { id: string; listeners: { edges: { node: { port: number; process: { pid: number; listeners: { edges: { node: { address: string; port: number; firstSeen: string } }[] } } | null } }[] } }[] }>(
    'nested host and process listeners',
    `query($range: TimeRange!) { hosts { id listeners(range: $range, first: 10) { edges { node { port process { pid
      listeners(range: $range, first: 5) { edges { node { address port firstSeen } } } } } } } } }`,
    { range },
  );
  const db = out.hosts.find((x) => x.id === 'db-3')!;
  assert.deepEqual(db.listeners.edges.map((e) => [e.node.port, e.node.process?.pid ?? null]), [[22, 1], [6379, 500], [22, 1], [6379, 700], [6379, 600], [5353, null]]);
  const keydb = db.listeners.edges.find((e) => e.node.process?.pid === 600)!.node.process!;
  assert.deepEqual(keydb.listeners.edges.map((e) => e.node), [{ address: '0.0.0.0', port: 6379, firstSeen: iso(t(5)) }]);
  // Same first sighting: ordered by address, then port.
  const sshd = db.listeners.edges[0]!.node.process!;
  assert.deepEqual(sshd.listeners.edges.map((e) => e.node.address), ['0.0.0.0', '::']);
  // Every other host of the scenario has no listener in this range.
  for (const other of out.hosts.filter((x) => x.id !== 'db-3')) assert.deepEqual(other.listeners.edges, []);
  // The stored SQL expectation holds three statements: hosts, every host's listeners, every process's listeners.
});

test('out-of-range arguments are refused with stable codes before the store is read', async () => {
  const ok = { from: iso(t(0)), to: iso(t(9)) };
  const cases: [Record<string, unknown>, string][] = [
    [{ range: { from: iso(t(0)), to: iso(t(0) + 32 * 86_400_000) } }, 'RANGE_TOO_LARGE'],
    [{ range: { from: iso(t(9)), to: iso(t(0)) } }, 'BAD_USER_INPUT'],
    [{ range: ok, port: 70_000 }, 'BAD_USER_INPUT'],
    [{ range: ok, port: -1 }, 'BAD_USER_INPUT'],
    [{ range: ok, address: 'db-3' }, 'BAD_USER_INPUT'],
    [{ range: ok, first: 5000 }, 'PAGE_TOO_LARGE'],
    [{ range: ok, first: -1 }, 'BAD_USER_INPUT'],
    [{ range: ok, after: 'not-a-cursor' }, 'BAD_USER_INPUT'],
  ];
  for (const [variables, code] of cases) {
    const sql = await h.recordSql(async () => {
      const res = await h.gql(Q, variables);
      assert.deepEqual(errorCodes(res), [code], JSON.stringify(variables));
    });
    assert.deepEqual(sql, [], `no statement for ${JSON.stringify(variables)}`);
  }
  // A cursor of another list is refused too.
  const conn = data<{ connections: { pageInfo: { endCursor: string | null } } }>(await h.gql(
    'query($r: TimeRange!) { connections(range: $r, first: 1) { pageInfo { endCursor } } }', { r: { from: '2024-05-01T11:00:00Z', to: '2024-05-01T13:00:00Z' } }));
  assert.ok(conn.connections.pageInfo.endCursor);
  assert.deepEqual(errorCodes(await h.gql(Q, { range: ok, after: conn.connections.pageInfo.endCursor })), ['BAD_USER_INPUT']);
  const nested = await h.gql('query($r: TimeRange!) { host(id: "db-3") { listeners(range: $r, port: 65536) { edges { cursor } } } }', { r: ok });
  assert.deepEqual(errorCodes(nested), ['BAD_USER_INPUT']);
});

test('bi.listeners holds the same stretches over the whole history, for BI tools (read as the reader role)', async () => {
  const { rows } = await h.store.reader.query<{ process_name: string | null; address: string; port: number; first_seen: Date; last_seen: Date; sightings: string | number; opened_after: Date | null; closed_before: Date | null }>(
    `SELECT process_name, host(address) AS address, port, first_seen, last_seen, sightings, opened_after, closed_before
     FROM bi.listeners WHERE host_id = $1 AND port = $2 ORDER BY first_seen, netns, pid`, ['db-3', 6379]);
  const m = (d: Date | null) => (d === null ? '-' : String((d.getTime() - L0) / STEP));
  assert.deepEqual(rows.map((r) => `${r.process_name} ${r.address}:${r.port} ${m(r.first_seen)}..${m(r.last_seen)} x${Number(r.sightings)} after=${m(r.opened_after)} before=${m(r.closed_before)}`), [
    'redis-server 0.0.0.0:6379 0..3 x3 after=- before=4',
    'redis-server 10.1.0.2:6379 3..3 x1 after=1 before=4',
    'keydb-server 0.0.0.0:6379 5..9 x4 after=4 before=-',
  ]);
});

