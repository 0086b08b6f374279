import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import { SnapshotWriter, refreshAggregates, type Store } from '../../src/store/index.js';
import type { ConnectionRow, ProcessInfo } from '../../src/domain/connection.js';
import { freshStore, testLog } from '../helpers/env.js';
import { connection, processInfo, snapshot } from '../helpers/snapshots.js';

/**
 * Issue 10, items 7 and 10: every resolution answers exactly the range asked, and a connection is in a window
 * exactly when its life (within the interval its row covers, which ends at the row's time) overlaps it.
 */
const INTERVAL = 15_000;
const DAY0 = Date.UTC(2025, 2, 3, 0, 0, 0);
const client = processInfo({ pid: 500, startedAtMs: DAY0 - 86_400_000, name: 'wt-client' });
const server = processInfo({ pid: 600, startedAtMs: DAY0 - 86_400_000, name: 'wt-server' });

let store: Store;
let dispose: () => Promise<void>;
let api: ApiServer;
let url: string;

async function gql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  const body = await res.json() as { data?: T; errors?: unknown[] };
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data as T;
}

/** One connection per stamp: a fresh client port, both ends recorded, bytes that differ per stamp. */
function pair(t: number, i: number, over: Partial<ConnectionRow> = {}): { c: ConnectionRow; s: ConnectionRow } {
  const port = 30_000 + i;
  const base = { protocol: 'tcp' as const, bytesSent: 100 + i, bytesReceived: 1000 + 7 * i, newCount: 1, ...over };
  return {
    c: connection({ ...base, direction: 'outgoing', process: client, localAddress: '10.9.0.1', localPort: port, remoteAddress: '10.9.0.2', remotePort: 8443 }),
    s: connection({ ...base, direction: 'incoming', process: server, localAddress: '10.9.0.2', localPort: 8443, remoteAddress: '10.9.0.1', remotePort: port,
      bytesSent: base.bytesReceived, bytesReceived: base.bytesSent }),
  };
}

async function write(times: readonly number[], rows: (t: number, i: number) => { c: ConnectionRow; s: ConnectionRow }): Promise<void> {
  const writer = new SnapshotWriter(store.writer);
  const processes: ProcessInfo[] = [client, server];
  for (const [i, t] of times.entries()) {
    const { c, s } = rows(t, i);
    await writer.write(snapshot({ hostId: 'wt-a', timeMs: t, intervalMs: INTERVAL, connections: [c], processes: [processes[0]!] }));
    await writer.write(snapshot({ hostId: 'wt-b', timeMs: t, intervalMs: INTERVAL, connections: [s], processes: [processes[1]!] }));
  }
}

before(async () => {
  ({ store, dispose } = await freshStore());
  // Stamps spread over three days, several near the edges of the window asked below (every 15 s there).
  const from = DAY0 + 7 * 60_000 + 13_000;
  const to = from + 48 * 3_600_000 + 46 * 60_000;
  const stamps = new Set<number>();
  for (const edge of [from, to]) for (let k = -6; k <= 6; k++) stamps.add(Math.floor(edge / INTERVAL) * INTERVAL + k * INTERVAL);
  for (let h = -1; h < 52; h += 3) stamps.add(DAY0 + h * 3_600_000 + 37 * 60_000 + 45_000);
  await write([...stamps].sort((a, b) => a - b), (t, i) => pair(t, i));
  await refreshAggregates(store.admin, DAY0 - 2 * 86_400_000, DAY0 + 4 * 86_400_000);
  api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: {} });
  url = (await api.start()).url;
});

after(async () => {
  await api?.stop();
  await dispose?.();
});

interface Edge { client: { node: { id: string } }; server: { node: { id: string } }; match: string; connections: number; bytesSent: number; bytesReceived: number }
const TALKERS = `query($range: TimeRange!, $r: Resolution) { talkers(range: $range, resolution: $r) { resolution range { from to }
  edges { client { node { id } } server { node { id } } match connections bytesSent bytesReceived } } }`;

function summary(edges: readonly Edge[]): string[] {
  return edges.map((e) => `${e.client.node.id} -> ${e.server.node.id} ${e.match} ${e.connections} ${e.bytesSent}/${e.bytesReceived}`).sort();
}

test('a window aligned to no bucket gets the raw-row answer at every resolution, and says which range it answered', async () => {
  const from = DAY0 + 7 * 60_000 + 13_000;
  const range = { from: new Date(from).toISOString(), to: new Date(from + 48 * 3_600_000 + 46 * 60_000).toISOString() };
  type Out = { talkers: { resolution: string; range: { from: string; to: string }; edges: Edge[] } };
  const raw = await gql<Out>(TALKERS, { range, r: 'RAW' });
  assert.equal(raw.talkers.edges.length, 1);
  assert.equal(raw.talkers.edges[0]!.match, 'BOTH_ENDS');
  for (const r of ['MINUTE', 'HOUR', 'DAY', 'AUTO']) {
    const out = await gql<Out>(TALKERS, { range, r });
    assert.deepEqual(out.talkers.range, { from: range.from, to: range.to }, `${r}: answered range`);
    assert.deepEqual(summary(out.talkers.edges), summary(raw.talkers.edges), `${r} differs from raw rows`);
  }
  // traffic: the series adds up to the same totals whatever step (hence source) answers.
  type T = { traffic: { time: string; bytesSent: number; connections: number }[] };
  const totals = async (step: number): Promise<[number, number]> => {
    const out = await gql<T>(`query($range: TimeRange!, $step: Int!) { traffic(range: $range, step: $step, filter: { direction: OUTGOING }) { time bytesSent connections } }`, { range, step });
    assert.ok(out.traffic.every((p) => Date.parse(p.time) + step * 1000 > from && Date.parse(p.time) < Date.parse(range.to)), `step ${step}: a point outside the range`);
    return [out.traffic.reduce((a, p) => a + p.bytesSent, 0), out.traffic.reduce((a, p) => a + p.connections, 0)];
  };
  const expected: [number, number] = [raw.talkers.edges[0]!.bytesSent, raw.talkers.edges[0]!.connections];
  for (const step of [30, 60, 3600, 86_400]) assert.deepEqual(await totals(step), expected, `traffic step ${step}`);
});

test('row time: a connection is in a window exactly when its life within its interval overlaps it', async () => {
  // Interval (14:02:00, 14:02:15]: closed at 14:02:05. (14:02:15, 14:02:30]: long-lived. (14:02:30, 14:02:45]: one
  // opened at 14:02:35, one at 14:02:42. Asked: [14:02:10, 14:02:40).
  const at = (s: number): number => DAY0 + 5 * 86_400_000 + 14 * 3_600_000 + 2 * 60_000 + s * 1000;
  const rows: { t: number; over: Partial<ConnectionRow> }[] = [
    { t: at(15), over: { closedAtMs: at(5), state: 'CLOSE', bytesSent: 1 } },
    { t: at(30), over: { bytesSent: 10 } },
    { t: at(45), over: { openedAtMs: at(35), bytesSent: 100 } },
    { t: at(45), over: { openedAtMs: at(42), bytesSent: 1000 } },
  ];
  const writer = new SnapshotWriter(store.writer);
  for (const t of [...new Set(rows.map((r) => r.t))]) {
    const mine = rows.map((r, i) => ({ r, i })).filter((x) => x.r.t === t).map(({ r, i }) => pair(t, 900 + i, r.over));
    await writer.write(snapshot({ hostId: 'wt-a', timeMs: t, intervalMs: INTERVAL, connections: mine.map((m) => m.c), processes: [client] }));
    await writer.write(snapshot({ hostId: 'wt-b', timeMs: t, intervalMs: INTERVAL, connections: mine.map((m) => m.s), processes: [server] }));
  }
  const range = { from: new Date(at(10)).toISOString(), to: new Date(at(40)).toISOString() };
  type Out = { talkers: { edges: Edge[] } };
  const out = await gql<Out>(TALKERS, { range, r: 'RAW' });
  assert.deepEqual(out.talkers.edges.map((e) => [e.match, e.bytesSent]), [['BOTH_ENDS', 110]]);
  type C = { connections: { edges: { node: { time: string; bytesSent: number } }[] } };
  const conns = await gql<C>(`query($range: TimeRange!) { connections(range: $range, filter: { direction: OUTGOING }) { edges { node { time bytesSent } } } }`, { range });
  assert.deepEqual(conns.connections.edges.map((e) => [e.node.time, e.node.bytesSent]), [[new Date(at(30)).toISOString(), 10], [new Date(at(45)).toISOString(), 100]]);
});
