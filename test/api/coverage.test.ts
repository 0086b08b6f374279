/**
 * Coverage: "no data" is an answer. Real embedded store, snapshots written through the real writer, the API over
 * real HTTP. Three hosts report every 15 s: "web" (server) throughout, "app" (client) stops after its fourth
 * interval, "edge" has one record whose eBPF source failed and lost events. A record stamped t covers
 * (t - 15 s, t] (README, "Row time"): records T..T+7I cover (T - I, T + 7I].
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import type { ConnectionRow } from '../../src/domain/connection.js';
import type { Snapshot } from '../../src/domain/snapshot.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';
import { connection, snapshot } from '../helpers/snapshots.js';
import { data, expectSqlSnapshot, type GqlResponse } from './harness.js';

const T = Date.UTC(2025, 0, 6, 9, 0, 0);
const I = 15_000;
const iso = (ms: number): string => new Date(ms).toISOString();

const failedEbpf = {
  sources: [
    { name: 'procfs' as const, ok: true, durationMs: 4, skipped: 0, lost: 0, error: null },
    { name: 'ebpf' as const, ok: false, durationMs: 1, skipped: 0, lost: 5, error: 'ring buffer overflow' },
  ],
  eventsLost: 5,
  errors: [],
};

function world(): Snapshot[] {
  const out: Snapshot[] = [];
  for (let k = 0; k < 8; k += 1) {
    const t = T + k * I;
    const server: ConnectionRow[] = k < 4
      ? [connection({ direction: 'incoming', localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 41000 + k, bytesSent: 900, bytesReceived: 90 })]
      : [];
    out.push(snapshot({ hostId: 'web', timeMs: t, intervalMs: I, connections: server }));
    if (k < 4) {
      out.push(snapshot({ hostId: 'app', timeMs: t, intervalMs: I, connections: [connection({ localAddress: '10.0.1.10', localPort: 41000 + k, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 90, bytesReceived: 900 })] }));
    }
    out.push(snapshot({ hostId: 'edge', timeMs: t, intervalMs: I, ...(k === 2 ? { completeness: failedEbpf } : {}) }));
  }
  return out;
}

let api: ApiServer;
let url: string;
let writer: SnapshotWriter;
let dispose: () => Promise<void>;
let recording: string[] | null = null;

before(async () => {
  const fresh = await freshStore({ observer: (sql) => recording?.push(sql.replace(/\s+/g, ' ').trim()) });
  dispose = fresh.dispose;
  writer = new SnapshotWriter(fresh.store.writer);
  for (const s of world()) assert.deepEqual((await writer.write(s)).rejected, []);
  api = createApiServer({ reader: fresh.store.reader, log: testLog, port: 0, env: {} });
  url = (await api.start()).url;
});
after(async () => {
  await api?.stop();
  await dispose?.();
});

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
  return data<T>({ status: res.status, body: await res.json() as GqlResponse['body'] });
}

const COVERAGE = `coverage { range { from to } complete recordsKeptFrom hostsReporting { id }
  hostsWithGaps { host { id } gaps { from to } firstGap { from to } missingIntervals incompleteSnapshots firstIncomplete { from to } } }`;

interface CoverageOut {
  range: { from: string; to: string };
  complete: boolean;
  recordsKeptFrom: string | null;
  hostsReporting: { id: string }[];
  hostsWithGaps: { host: { id: string }; gaps: { from: string; to: string }[]; firstGap: { from: string; to: string } | null; missingIntervals: number | null; incompleteSnapshots: number; firstIncomplete: { from: string; to: string } | null }[];
}

test('resolve at a time no snapshot covers answers NO_DATA with no targets, not SELF', async () => {
  const q = `query($at: DateTime!) { resolve(address: "10.0.2.20", port: 8080, at: $at, withinSeconds: 60) {
    status translated targets { role address port host { id } } ${COVERAGE} } }`;
  type Out = { resolve: { status: string; translated: boolean; targets: { role: string; address: string; port: number; host: { id: string } | null }[]; coverage: CoverageOut } };
  const at = T + 86_400_000;
  const none = await gql<Out>(q, { at: iso(at) });
  assert.equal(none.resolve.status, 'NO_DATA');
  assert.deepEqual(none.resolve.targets, []);
  assert.equal(none.resolve.translated, false);
  assert.equal(none.resolve.coverage.complete, false);
  assert.deepEqual(none.resolve.coverage.hostsReporting, []);
  assert.deepEqual(none.resolve.coverage.range, { from: iso(at - 60_000), to: iso(at + 60_000) });
  // Records exist, just not then: the oldest stored one (stamped T) covers (T - I, T].
  assert.equal(none.resolve.coverage.recordsKeptFrom, iso(T - I));
  // Every known host has no record in at ± 60 s: each is named with the whole stretch missing.
  assert.deepEqual(none.resolve.coverage.hostsWithGaps.map((g) => [g.host.id, g.gaps, g.missingIntervals]),
    ['app', 'edge', 'web'].map((id) => [id, [{ from: iso(at - 60_000), to: iso(at + 60_000) }], 8]));

  // While hosts reported, the same question is answered: the address itself, owned by web.
  const seen = await gql<Out>(q, { at: iso(T + 2 * I) });
  assert.equal(seen.resolve.status, 'OK');
  assert.deepEqual(seen.resolve.targets, [{ role: 'SELF', address: '10.0.2.20', port: 8080, host: { id: 'web' } }]);
  assert.deepEqual(seen.resolve.coverage.hostsReporting.map((h) => h.id), ['app', 'edge', 'web']);
});

test('resolve with no record at that time does not claim the address is itself (old clients asking only targets)', async () => {
  const out = await gql<{ resolve: { targets: { role: string }[] } }>(
    `query($at: DateTime!) { resolve(address: "10.0.2.20", port: 8080, at: $at) { targets { role } } }`, { at: iso(T - 86_400_000) });
  assert.deepEqual(out.resolve.targets, []);
});

test('talkers over a range where a host stopped reporting names it and its gap; a failed source is reported incomplete', async () => {
  const range = { from: iso(T), to: iso(T + 7 * I) };
  const q = `query($range: TimeRange!) { talkers(range: $range, resolution: RAW) { resolution ${COVERAGE} } coverage(range: $range) { complete } }`;
  type Out = { talkers: { resolution: string; coverage: CoverageOut }; coverage: { complete: boolean } };
  recording = [];
  const out = await gql<Out>(q, { range });
  const statements = recording;
  recording = null;
  assert.equal(out.talkers.resolution, 'RAW');
  const c = out.talkers.coverage;
  assert.deepEqual(c.range, range);
  assert.equal(c.complete, false);
  assert.deepEqual(c.hostsReporting.map((h) => h.id), ['app', 'edge', 'web']);
  assert.deepEqual(c.hostsWithGaps, [
    { host: { id: 'app' }, gaps: [{ from: iso(T + 3 * I), to: iso(T + 7 * I) }], firstGap: { from: iso(T + 3 * I), to: iso(T + 7 * I) }, missingIntervals: 4, incompleteSnapshots: 0, firstIncomplete: null },
    { host: { id: 'edge' }, gaps: [], firstGap: null, missingIntervals: 0, incompleteSnapshots: 1, firstIncomplete: { from: iso(T + I), to: iso(T + 2 * I) } },
  ]);
  assert.equal(out.coverage.complete, false);
  // Batched per request: the talkers coverage and the top-level coverage of the same window share one statement.
  assert.equal(statements.filter((s) => /CROSS JOIN bi\.hosts h/.test(s)).length, 1, statements.join('\n'));
});

test('a window every host covered with complete records is complete; asking nothing about coverage reads no snapshots', async () => {
  // (T + 2I, T + 3I]: every host's record stamped T + 3I covers it; edge's failed record (T + 2I) ends at its start.
  const range = { from: iso(T + 2 * I), to: iso(T + 3 * I) };
  const out = await gql<{ connections: { edges: unknown[]; coverage: CoverageOut } }>(
    `query($range: TimeRange!) { connections(range: $range) { edges { cursor } ${COVERAGE} } }`, { range });
  assert.equal(out.connections.edges.length, 2);
  assert.deepEqual(out.connections.coverage.hostsWithGaps, []);
  assert.deepEqual(out.connections.coverage.hostsReporting.map((h) => h.id), ['app', 'edge', 'web']);
  assert.equal(out.connections.coverage.complete, true);

  recording = [];
  await gql(`query($range: TimeRange!) { talkers(range: $range, resolution: RAW) { totalEdges } }`, { range: { from: iso(T), to: iso(T + 8 * I) } });
  const statements = recording;
  recording = null;
  assert.equal(statements.filter((s) => /CROSS JOIN bi\.hosts h/.test(s)).length, 0, statements.join('\n'));
});

test('resolve with withinSeconds 0 at the very stamp of the last record is answered (that record covers the instant)', async () => {
  // app's last record is stamped T + 3I and covers (T + 2I, T + 3I]; web's record of T + 3I has the server row.
  const q = `query($at: DateTime!) { resolve(address: "10.0.2.20", port: 8080, at: $at, withinSeconds: 0) { status coverage { hostsReporting { id } } } }`;
  type Out = { resolve: { status: string; coverage: { hostsReporting: { id: string }[] } } };
  const out = await gql<Out>(q, { at: iso(T + 7 * I) });
  assert.equal(out.resolve.status, 'OK');
  assert.deepEqual(out.resolve.coverage.hostsReporting.map((h) => h.id), ['edge', 'web']);
  const after = await gql<Out>(q, { at: iso(T + 7 * I + 1) });
  assert.equal(after.resolve.status, 'NO_DATA');
});

test('several windows in one request (two talkers, a coverage, a resolve) are judged by one coverage statement', async () => {
  const q = `query($a: TimeRange!, $b: TimeRange!, $c: TimeRange!, $at: DateTime!) {
    lookup: resolve(address: "10.0.2.20", port: 8080, at: $at) { status targets { role } }
    early: talkers(range: $a, resolution: RAW) { coverage { complete hostsWithGaps { host { id } } } }
    late: talkers(range: $b, resolution: RAW) { coverage { complete hostsWithGaps { host { id } missingIntervals } } }
    ledger: coverage(range: $c) { complete hostsReporting { id } } }`;
  type Out = {
    early: { coverage: { complete: boolean; hostsWithGaps: { host: { id: string } }[] } };
    late: { coverage: { complete: boolean; hostsWithGaps: { host: { id: string }; missingIntervals: number }[] } };
    ledger: { complete: boolean; hostsReporting: { id: string }[] };
    lookup: { status: string; targets: { role: string }[] };
  };
  recording = [];
  const out = await gql<Out>(q, {
    a: { from: iso(T - I), to: iso(T + I) },
    b: { from: iso(T + 5 * I), to: iso(T + 7 * I) },
    c: { from: iso(T + 4 * I), to: iso(T + 5 * I) },
    at: iso(T + 86_400_000),
  });
  const statements = recording;
  recording = null;
  assert.deepEqual(out.early.coverage, { complete: true, hostsWithGaps: [] });
  assert.deepEqual(out.late.coverage, { complete: false, hostsWithGaps: [{ host: { id: 'app' }, missingIntervals: 2 }] });
  assert.deepEqual(out.ledger, { complete: false, hostsReporting: [{ id: 'edge' }, { id: 'web' }] });
  assert.deepEqual(out.lookup, { status: 'NO_DATA', targets: [] });
  // Sorted: the four roots run concurrently, so only the set of statements is stable, not their interleaving.
  expectSqlSnapshot('coverage.sql.json', 'two talkers, a coverage and a resolve', [...statements].sort());
  // The talkers plans read the interval from bi.snapshots themselves; the coverage of all four windows is one statement.
  assert.equal(statements.filter((s) => /CROSS JOIN bi\.hosts h/.test(s)).length, 1, statements.join('\n'));
});

test('a window starting before any host reported is judged from each host\'s first record on', async () => {
  // Every host's first record is stamped T and covers (T - I, T]: before that the hosts were unknown, not silent.
  const out = await gql<{ coverage: CoverageOut }>(`query($range: TimeRange!) { ${COVERAGE.replace('coverage {', 'coverage(range: $range) {')} }`,
    { range: { from: iso(T - 3_600_000), to: iso(T + I) } });
  assert.deepEqual(out.coverage.hostsWithGaps, []);
  assert.deepEqual(out.coverage.hostsReporting.map((h) => h.id), ['app', 'edge', 'web']);
  assert.equal(out.coverage.complete, true);
});

test('a host whose spool is replayed after its newer records is expected from its oldest record: its hole is named', async () => {
  // "spool" wrote T + 7I live first, then replayed T and T + I from its spool; (T + I, T + 6I] was never recorded.
  for (const k of [7, 0, 1]) assert.equal((await writer.write(snapshot({ hostId: 'spool', timeMs: T + k * I, intervalMs: I }))).written, true);
  const out = await gql<{ coverage: CoverageOut }>(`query($range: TimeRange!) { ${COVERAGE.replace('coverage {', 'coverage(range: $range) {')} }`,
    { range: { from: iso(T), to: iso(T + 7 * I) } });
  const spool = out.coverage.hostsWithGaps.find((g) => g.host.id === 'spool');
  assert.deepEqual(spool, {
    host: { id: 'spool' }, gaps: [{ from: iso(T + I), to: iso(T + 6 * I) }], firstGap: { from: iso(T + I), to: iso(T + 6 * I) },
    missingIntervals: 5, incompleteSnapshots: 0, firstIncomplete: null,
  });
  const hosts = await gql<{ host: { firstSeen: string } }>(`{ host(id: "spool") { firstSeen } }`);
  assert.equal(hosts.host.firstSeen, iso(T));
});

test('a record whose source ran but lost events is incomplete, in coverage and in Snapshot.degraded alike', async () => {
  const t = T + 20 * I;
  const lossy = { sources: [{ name: 'procfs' as const, ok: true, durationMs: 3, skipped: 0, lost: 0, error: null }, { name: 'conntrack' as const, ok: true, durationMs: 2, skipped: 0, lost: 2, error: null }], eventsLost: 0, errors: [] };
  assert.equal((await writer.write(snapshot({ hostId: 'lossy', timeMs: t, intervalMs: I, completeness: lossy }))).written, true);
  const covered = { from: iso(t - I), to: iso(t) };
  type Out = { coverage: { hostsWithGaps: { host: { id: string }; incompleteSnapshots: number; firstIncomplete: { from: string; to: string } | null }[] }; snapshots: { edges: { node: { degraded: boolean } }[] } };
  const out = await gql<Out>(`query($range: TimeRange!) {
    coverage(range: $range) { hostsWithGaps { host { id } incompleteSnapshots firstIncomplete { from to } } }
    snapshots(host: "lossy", range: $range) { edges { node { degraded } } } }`, { range: { from: iso(t - I), to: iso(t + 1) } });
  assert.deepEqual(out.coverage.hostsWithGaps.find((g) => g.host.id === 'lossy'), { host: { id: 'lossy' }, incompleteSnapshots: 1, firstIncomplete: covered });
  assert.deepEqual(out.snapshots.edges.map((e) => e.node.degraded), [true]);
});
