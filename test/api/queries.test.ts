import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { refreshAggregates } from '../../src/store/index.js';
import { data, expectSqlSnapshot, startHarness, type Harness } from './harness.js';
import { FLEET_PROCESSES, FLEET_T, INTERVAL, PROC, T0, iso } from './scenario.js';

const SNAP = 'queries.sql.json';
// A row's time is the end of its collection interval: the rows stamped T0, T0+60 s and T0+120 s cover
// (T0-60 s, T0+120 s], i.e. exactly this window.
const WINDOW = { from: iso(T0 - INTERVAL), to: iso(T0 + 2 * INTERVAL) };
/** The snapshots' own times (completeness records are instants). */
const STAMPS = { from: iso(T0), to: iso(T0 + 3 * INTERVAL) };
let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

/** Runs an operation over HTTP, checks its SQL against the stored expectation, and returns its data. */
async function run<T>(name: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let result: T | undefined;
  const sql = await h.recordSql(async () => {
    result = data<T>(await h.gql(query, variables));
  });
  expectSqlSnapshot(SNAP, name, sql);
  return result as T;
}

interface EdgeOut {
  match: string; connections: number; bytesSent: number; bytesReceived: number; firstSeen: string; lastSeen: string; protocol: string;
  client: { node: { id: string }; address: string | null; port: number | null; host: { id: string } | null; process: { pid: number; name: string } | null };
  server: { node: { id: string }; address: string | null; port: number | null; host: { id: string } | null; process: { pid: number; name: string } | null };
  nat: { kind: string; host: { id: string } | null; original: Record<string, unknown>; reply: Record<string, unknown>; translations: number }[];
  matches: { match: string; connections: number }[];
}

const EDGE_FIELDS = `match connections bytesSent bytesReceived firstSeen lastSeen protocol
  client { node { id } address port host { id } process { pid name } }
  server { node { id } address port host { id } process { pid name } }
  nat { kind host { id } original { source sourcePort destination destinationPort } reply { source sourcePort destination destinationPort } translations }
  matches { match connections }`;

/** An edge as a compact line: who -> whom, label, figures, NAT kinds. */
function line(e: EdgeOut): string {
  const end = (x: EdgeOut['client']) => (x.process ? `${x.host?.id}/${x.process.name}` : x.host ? x.host.id : x.address);
  return `${end(e.client)} -> ${end(e.server)}:${e.server.port}/${e.protocol} ${e.match} conns=${e.connections} sent=${e.bytesSent} recv=${e.bytesReceived} ${e.firstSeen.slice(11, 19)}..${e.lastSeen.slice(11, 19)} nat=[${e.nat.map((n) => `${n.kind}@${n.host?.id}`).join(',')}]`;
}

test('talkers (raw rows, by process): both ends joined across hosts, through a DNAT VIP and a masquerade, and one-sided edges', async () => {
  const out = await run<{ talkers: { resolution: string; range: { from: string; to: string }; totalEdges: number; nodes: { id: string; kind: string; name: string }[]; edges: EdgeOut[] } }>(
    'talkers raw by process',
    `query($range: TimeRange!) { talkers(range: $range) { resolution range { from to } totalEdges nodes { id kind name } edges { ${EDGE_FIELDS} } } }`,
    { range: WINDOW },
  );
  const t = out.talkers;
  assert.equal(t.resolution, 'RAW');
  assert.deepEqual(t.range, WINDOW);
  assert.equal(t.totalEdges, 6);
  assert.deepEqual(t.edges.map(line), [
    'client-a/curl -> server-b/nginx:8080/TCP NAT_RESOLVED conns=2 sent=500 recv=50000 12:00:00..12:01:00 nat=[DNAT@router]',
    'client-a/app -> server-b/postgres:5432/TCP BOTH_ENDS conns=1 sent=1500 recv=7500 12:00:00..12:01:00 nat=[]',
    'client-c/wget -> server-b/nginx:8080/TCP NAT_RESOLVED conns=1 sent=700 recv=7000 12:00:00..12:00:00 nat=[SNAT@router]',
    '192.0.2.50 -> server-b/nginx:8080/TCP SERVER_ONLY conns=1 sent=90 recv=900 12:00:00..12:00:00 nat=[]',
    '198.51.100.7 -> server-b/nginx:8080/TCP SERVER_ONLY conns=1 sent=45 recv=450 12:01:00..12:01:00 nat=[SNAT@router]',
    'client-a/curl -> 1.1.1.1:53/UDP CLIENT_ONLY conns=1 sent=60 recv=120 12:00:00..12:00:00 nat=[]',
  ]);
  const [vip, direct, snat, , masq] = t.edges;
  // The VIP edge: both translations summarised, client ports differ so they are null; the server is the real backend.
  assert.deepEqual(vip!.nat, [{
    kind: 'DNAT', host: { id: 'router' }, translations: 2,
    original: { source: '10.0.1.10', sourcePort: null, destination: '10.96.0.10', destinationPort: 80 },
    reply: { source: '10.0.2.20', sourcePort: 8080, destination: '10.0.1.10', destinationPort: null },
  }]);
  assert.deepEqual([vip!.client.address, vip!.client.port, vip!.server.address, vip!.server.port], ['10.0.1.10', null, '10.0.2.20', 8080]);
  // One long-lived connection seen in two intervals counts once.
  assert.deepEqual([direct!.client.port, direct!.connections, direct!.matches], [41000, 1, [{ match: 'BOTH_ENDS', connections: 1 }]]);
  assert.deepEqual(snat!.nat[0]!.reply, { source: '10.0.2.20', sourcePort: 8080, destination: '10.0.2.1', destinationPort: 61000 });
  assert.deepEqual([masq!.client.address, masq!.client.port, masq!.nat[0]!.original.source], ['198.51.100.7', 51000, '198.51.100.7']);
  assert.deepEqual(t.nodes.map((n) => `${n.kind}:${n.name}`), [
    'ADDRESS:1.1.1.1', 'ADDRESS:192.0.2.50', 'ADDRESS:198.51.100.7', 'PROCESS:curl', 'PROCESS:app', 'PROCESS:wget', 'PROCESS:nginx', 'PROCESS:postgres',
  ]);
  assert.equal(vip!.client.node.id, `process:client-a:100:${PROC.curl.startedAtMs * 1000}`);
});

test('talkers grouped by host, container and address; filters; limit keeps the heaviest', async () => {
  const q = `query($range: TimeRange!, $g: Grouping, $f: TalkerFilter, $limit: Int) {
    talkers(range: $range, groupBy: $g, filter: $f, limit: $limit) { totalEdges nodes { id kind } edges { ${EDGE_FIELDS} } } }`;
  type Out = { talkers: { totalEdges: number; nodes: { id: string; kind: string }[]; edges: EdgeOut[] } };
  const byHost = await run<Out>('talkers by host', q, { range: WINDOW, g: 'HOST' });
  assert.deepEqual(byHost.talkers.edges.map((e) => `${e.client.node.id} -> ${e.server.node.id}:${e.server.port} ${e.match} ${e.connections} ${e.bytesSent}/${e.bytesReceived}`), [
    'host:client-a -> host:server-b:8080 NAT_RESOLVED 2 500/50000',
    'host:client-a -> host:server-b:5432 BOTH_ENDS 1 1500/7500',
    'host:client-c -> host:server-b:8080 NAT_RESOLVED 1 700/7000',
    'address:192.0.2.50 -> host:server-b:8080 SERVER_ONLY 1 90/900',
    'address:198.51.100.7 -> host:server-b:8080 SERVER_ONLY 1 45/450',
    'host:client-a -> address:1.1.1.1:53 CLIENT_ONLY 1 60/120',
  ]);
  const byContainer = await run<Out>('talkers by container, tcp only', q, { range: WINDOW, g: 'CONTAINER', f: { protocol: 'TCP', hosts: ['client-a'] } });
  assert.deepEqual(byContainer.talkers.edges.map((e) => `${e.client.node.id} -> ${e.server.node.id}:${e.server.port} ${e.match}`), [
    'host:client-a -> container:c-web:8080 NAT_RESOLVED',
    'container:c-app -> host:server-b:5432 BOTH_ENDS',
  ]);
  const byAddress = await run<Out>('talkers by address, top 2', q, { range: WINDOW, g: 'ADDRESS', limit: 2 });
  assert.equal(byAddress.talkers.totalEdges, 6);
  assert.deepEqual(byAddress.talkers.edges.map((e) => `${e.client.node.id} -> ${e.server.node.id}:${e.server.port}`), [
    'address:10.0.1.10 -> address:10.0.2.20:8080',
    'address:10.0.1.10 -> address:10.0.2.20:5432',
  ]);
  assert.deepEqual(byAddress.talkers.nodes.map((n) => n.id), ['address:10.0.1.10', 'address:10.0.2.20']);
  // A VIP address matches the edges that went through it; match labels filter too.
  const viaVip = await run<Out>('talkers filtered by VIP address', q, { range: WINDOW, f: { address: '10.96.0.10' } });
  assert.deepEqual(viaVip.talkers.edges.map((e) => e.client.process?.name), ['curl']);
  const oneSided = await run<Out>('talkers filtered by match', q, { range: WINDOW, g: 'ADDRESS', f: { match: ['SERVER_ONLY', 'CLIENT_ONLY'] } });
  assert.deepEqual(oneSided.talkers.edges.map((e) => e.match), ['SERVER_ONLY', 'SERVER_ONLY', 'CLIENT_ONLY']);
});

test('talkers from the hourly aggregate: triple matching with aggregated translations gives the same figures', async () => {
  await refreshAggregates(h.store.admin, T0 - 3_600_000, T0 + 2 * 3_600_000);
  const out = await run<{ talkers: { resolution: string; range: { from: string; to: string }; edges: EdgeOut[] } }>(
    'talkers hourly aggregate',
    `query($range: TimeRange!) { talkers(range: $range, resolution: HOUR) { resolution range { from to } edges { ${EDGE_FIELDS} } } }`,
    { range: { from: iso(T0 - 90 * 60_000), to: iso(T0 + 90 * 60_000) } },
  );
  assert.equal(out.talkers.resolution, 'HOUR');
  // Exactly the range asked: whole hours from the hourly aggregate, minutes and raw rows for the edges.
  assert.deepEqual(out.talkers.range, { from: iso(T0 - 90 * 60_000), to: iso(T0 + 90 * 60_000) });
  // At triple grain the masquerade address 10.0.2.1 carries wget's and 198.51.100.7's connections as one server
  // group: wget's client record claims it, so 198.51.100.7 has no edge of its own here (raw rows tell them apart).
  assert.deepEqual(out.talkers.edges.map(line), [
    'client-a/curl -> server-b/nginx:8080/TCP NAT_RESOLVED conns=2 sent=500 recv=50000 12:00:00..12:01:00 nat=[DNAT@router]',
    'client-a/app -> server-b/postgres:5432/TCP BOTH_ENDS conns=1 sent=1500 recv=7500 12:00:00..12:01:00 nat=[]',
    'client-c/wget -> server-b/nginx:8080/TCP NAT_RESOLVED conns=1 sent=700 recv=7000 12:00:00..12:00:00 nat=[SNAT@router]',
    '192.0.2.50 -> server-b/nginx:8080/TCP SERVER_ONLY conns=1 sent=90 recv=900 12:00:00..12:00:00 nat=[]',
    'client-a/curl -> 1.1.1.1:53/UDP CLIENT_ONLY conns=1 sent=60 recv=120 12:00:00..12:00:00 nat=[]',
  ]);
  assert.deepEqual(out.talkers.edges.map((e) => e.client.port), [null, null, null, null, null]);
  assert.deepEqual(out.talkers.edges[0]!.nat[0]!.translations, 2);
});

test('edges: the dependency ledger by process name, and only edges first seen since a time', async () => {
  const q = `query($range: TimeRange!, $since: DateTime) { edges(range: $range, since: $since) { client { node { id } } server { node { id } port } firstSeen lastSeen match } }`;
  type Out = { edges: { client: { node: { id: string } }; server: { node: { id: string }; port: number }; firstSeen: string; lastSeen: string; match: string }[] };
  const all = await run<Out>('edges ledger', q, { range: WINDOW });
  assert.deepEqual(all.edges.map((e) => `${e.client.node.id} -> ${e.server.node.id}:${e.server.port}`), [
    'pname:client-a:curl -> pname:server-b:nginx:8080',
    'pname:client-a:app -> pname:server-b:postgres:5432',
    'pname:client-c:wget -> pname:server-b:nginx:8080',
    'address:192.0.2.50 -> pname:server-b:nginx:8080',
    'address:198.51.100.7 -> pname:server-b:nginx:8080',
    'pname:client-a:curl -> address:1.1.1.1:53',
  ]);
  const fresh = await run<Out>('edges since', q, { range: WINDOW, since: iso(T0 + INTERVAL) });
  assert.deepEqual(fresh.edges, [{
    client: { node: { id: 'address:198.51.100.7' } }, server: { node: { id: 'pname:server-b:nginx' }, port: 8080 },
    firstSeen: iso(T0 + INTERVAL), lastSeen: iso(T0 + INTERVAL), match: 'SERVER_ONLY',
  }]);
});

test('connections: cursor pages walk every row once in a stable order; filters; host and process resolved', async () => {
  const q = `query($range: TimeRange!, $first: Int, $after: String, $f: ConnectionFilter) {
    connections(range: $range, first: $first, after: $after, filter: $f) {
      edges { cursor node { id time host { id } process { pid name } direction protocol localAddress localPort remoteAddress remotePort state bytesSent bytesReceived newCount source } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`;
  type Node = { id: string; time: string; host: { id: string }; process: { pid: number; name: string } | null; direction: string; protocol: string; localAddress: string; localPort: number; remoteAddress: string; remotePort: number; state: string; bytesSent: number; bytesReceived: number; newCount: number; source: string };
  type Out = { connections: { edges: { cursor: string; node: Node }[]; pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null } } };
  const seen: Node[] = [];
  let cursor: string | null = null;
  const pages: number[] = [];
  for (let i = 0; i < 10; i++) {
    const page: Out = await run<Out>(i === 0 ? 'connections first page' : 'connections next page', q, { range: WINDOW, first: 5, after: cursor });
    pages.push(page.connections.edges.length);
    seen.push(...page.connections.edges.map((e) => e.node));
    assert.equal(page.connections.pageInfo.hasPreviousPage, cursor !== null);
    if (!page.connections.pageInfo.hasNextPage) break;
    cursor = page.connections.pageInfo.endCursor;
  }
  assert.deepEqual(pages, [5, 5, 3]);
  assert.equal(new Set(seen.map((n) => n.id)).size, 13);
  assert.deepEqual(seen.map((n) => `${n.time.slice(11, 19)} ${n.host.id} ${n.localPort}`), [
    '12:00:00 client-a 41000', '12:00:00 client-a 42000', '12:00:00 client-a 53000', '12:00:00 client-c 43000',
    '12:00:00 server-b 5432', '12:00:00 server-b 8080', '12:00:00 server-b 8080', '12:00:00 server-b 8080',
    '12:01:00 client-a 41000', '12:01:00 client-a 42001', '12:01:00 server-b 5432', '12:01:00 server-b 8080', '12:01:00 server-b 8080',
  ]);
  assert.deepEqual(seen[1], {
    id: seen[1]!.id, time: iso(T0), host: { id: 'client-a' }, process: { pid: 100, name: 'curl' }, direction: 'OUTGOING', protocol: 'TCP',
    localAddress: '10.0.1.10', localPort: 42000, remoteAddress: '10.96.0.10', remotePort: 80, state: 'ESTABLISHED',
    bytesSent: 300, bytesReceived: 40_000, newCount: 1, source: 'ebpf',
  });
  const nginx = await run<Out>('connections filtered', q, { range: WINDOW, first: 100, f: { hosts: ['server-b'], port: 8080, direction: 'INCOMING' } });
  assert.deepEqual(nginx.connections.edges.map((e) => `${e.node.remoteAddress}:${e.node.remotePort}`), ['10.0.1.10:42000', '10.0.2.1:61000', '192.0.2.50:50000', '10.0.1.10:42001', '10.0.2.1:61001']);
  assert.equal(nginx.connections.pageInfo.hasNextPage, false);
});

test('nat: translations touching an address (and port), both tuples, paged', async () => {
  const q = `query($range: TimeRange!, $a: String!, $p: Int, $first: Int, $after: String) { nat(range: $range, address: $a, port: $p, first: $first, after: $after) {
    edges { node { time host { id } kind protocol conntrackId original { source sourcePort destination destinationPort } reply { source sourcePort destination destinationPort } firstSeen lastSeen } }
    pageInfo { hasNextPage endCursor } } }`;
  type Out = { nat: { edges: { node: { time: string; host: { id: string }; kind: string; protocol: string; conntrackId: number; original: Record<string, unknown>; reply: Record<string, unknown>; firstSeen: string; lastSeen: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } };
  const masq = await run<Out>('nat by masquerade address', q, { range: WINDOW, a: '10.0.2.1', first: 1 });
  assert.equal(masq.nat.pageInfo.hasNextPage, true);
  assert.deepEqual(masq.nat.edges.map((e) => e.node), [{
    time: iso(T0), host: { id: 'router' }, kind: 'SNAT', protocol: 'TCP', conntrackId: 12,
    original: { source: '10.0.3.30', sourcePort: 43000, destination: '10.0.2.20', destinationPort: 8080 },
    reply: { source: '10.0.2.20', sourcePort: 8080, destination: '10.0.2.1', destinationPort: 61000 },
    firstSeen: iso(T0), lastSeen: iso(T0 + 30_000),
  }]);
  const rest = await run<Out>('nat next page', q, { range: WINDOW, a: '10.0.2.1', first: 1, after: masq.nat.pageInfo.endCursor });
  assert.deepEqual(rest.nat.edges.map((e) => e.node.conntrackId), [14]);
  const vip = await run<Out>('nat by VIP and port', q, { range: WINDOW, a: '10.96.0.10', p: 80 });
  assert.deepEqual(vip.nat.edges.map((e) => [e.node.conntrackId, e.node.original.sourcePort]), [[11, 42000], [13, 42001]]);
  const none = await run<Out>('nat by port on the wrong side', q, { range: WINDOW, a: '10.96.0.10', p: 8080 });
  assert.deepEqual(none.nat.edges, []);
});

test('resolve: a VIP to its backend, a masquerade port to its original source, a plain address to itself', async () => {
  const q = `query($a: String!, $p: Int!, $at: DateTime!, $c: String) { resolve(address: $a, port: $p, at: $at, client: $c) {
    address port at translated targets { role address port host { id } process { pid name } via { kind host { id } translations original { source sourcePort destination destinationPort } } } } }`;
  type Out = { resolve: { address: string; port: number; at: string; translated: boolean; targets: { role: string; address: string; port: number; host: { id: string } | null; process: { pid: number; name: string } | null; via: { kind: string; host: { id: string }; translations: number; original: Record<string, unknown> }[] }[] } };
  const vip = await run<Out>('resolve VIP', q, { a: '10.96.0.10', p: 80, at: iso(T0 + 30_000) });
  assert.deepEqual(vip.resolve, {
    address: '10.96.0.10', port: 80, at: iso(T0 + 30_000), translated: true,
    targets: [{
      role: 'BACKEND', address: '10.0.2.20', port: 8080, host: { id: 'server-b' }, process: { pid: 200, name: 'nginx' },
      via: [{ kind: 'DNAT', host: { id: 'router' }, translations: 2, original: { source: '10.0.1.10', sourcePort: null, destination: '10.96.0.10', destinationPort: 80 } }],
    }],
  });
  const otherClient = await run<Out>('resolve VIP for another client', q, { a: '10.96.0.10', p: 80, at: iso(T0 + 30_000), c: '10.0.3.30' });
  assert.deepEqual(otherClient.resolve.targets, [{ role: 'SELF', address: '10.96.0.10', port: 80, host: null, process: null, via: [] }]);
  assert.equal(otherClient.resolve.translated, false);
  const masq = await run<Out>('resolve masquerade', q, { a: '10.0.2.1', p: 61000, at: iso(T0) });
  assert.deepEqual(masq.resolve.targets.map((t) => [t.role, t.address, t.port, t.host?.id, t.process?.name, t.via[0]?.kind]), [['ORIGINAL_SOURCE', '10.0.3.30', 43000, 'client-c', 'wget', 'SNAT']]);
  const outside = await run<Out>('resolve masquerade of an outside client', q, { a: '10.0.2.1', p: 61001, at: iso(T0 + INTERVAL) });
  assert.deepEqual(outside.resolve.targets.map((t) => [t.role, t.address, t.port, t.host]), [['ORIGINAL_SOURCE', '198.51.100.7', 51000, null]]);
  const plain = await run<Out>('resolve plain address', q, { a: '10.0.2.20', p: 5432, at: iso(T0) });
  assert.deepEqual(plain.resolve.targets, [{ role: 'SELF', address: '10.0.2.20', port: 5432, host: { id: 'server-b' }, process: { pid: 300, name: 'postgres' }, via: [] }]);
});

test('traffic: the same series from the 1-minute aggregate and from raw rows', async () => {
  const q = `query($range: TimeRange!, $step: Int!, $f: TrafficFilter) { traffic(range: $range, step: $step, filter: $f) { time bytesSent bytesReceived connections } }`;
  type Out = { traffic: { time: string; bytesSent: number; bytesReceived: number; connections: number }[] };
  const expected = [
    { time: iso(T0), bytesSent: 2060, bytesReceived: 52_120, connections: 4 },
    { time: iso(T0 + INTERVAL), bytesSent: 700, bytesReceived: 12_500, connections: 1 },
  ];
  const minute = await run<Out>('traffic per minute (aggregate)', q, { range: WINDOW, step: 60, f: { direction: 'OUTGOING' } });
  assert.deepEqual(minute.traffic, expected);
  const raw = await run<Out>('traffic per 30 s (raw)', q, { range: WINDOW, step: 30, f: { direction: 'OUTGOING' } });
  assert.deepEqual(raw.traffic, expected);
  const daily = await run<Out>('traffic per day (aggregate, widened to the day)', q, { range: { from: iso(T0 - 3_600_000), to: iso(T0 + 3_600_000) }, step: 86_400, f: { direction: 'OUTGOING' } });
  assert.deepEqual(daily.traffic, [{ time: iso(Date.UTC(2024, 4, 1)), bytesSent: 2760, bytesReceived: 64_620, connections: 5 }]);
  const postgres = await run<Out>('traffic filtered by server port', q, { range: WINDOW, step: 60, f: { port: 5432, hosts: ['server-b'] } });
  assert.deepEqual(postgres.traffic.map((p) => [p.bytesSent, p.bytesReceived, p.connections]), [[5000, 1000, 1], [2500, 500, 0]]);
});

test('hosts, host, process at a time', async () => {
  const out = await run<{ hosts: { id: string; firstSeen: string; lastSeen: string }[]; host: { id: string } | null; nobody: null; process: { pid: number; name: string; startedAt: string; cmdline: string; containerId: string; exe: string | null; host: { id: string } } }>(
    'hosts and a process',
    `query($at: DateTime!) { hosts { id firstSeen lastSeen } host(id: "router") { id } nobody: host(id: "nope") { id }
      process(host: "server-b", pid: 200, at: $at) { pid name startedAt cmdline containerId exe host { id } } }`,
    { at: iso(T0) },
  );
  assert.deepEqual(out.hosts.map((x) => [x.id, x.firstSeen, x.lastSeen]), [
    ['client-a', iso(T0), iso(T0 + 2 * INTERVAL)], ['client-c', iso(T0), iso(T0 + 2 * INTERVAL)], ['fleet', iso(FLEET_T), iso(FLEET_T)],
    ['router', iso(T0), iso(T0 + 2 * INTERVAL)], ['server-b', iso(T0), iso(T0 + 2 * INTERVAL)],
  ]);
  assert.deepEqual(out.host, { id: 'router' });
  assert.equal(out.nobody, null);
  assert.deepEqual(out.process, { pid: 200, name: 'nginx', startedAt: iso(PROC.nginx.startedAtMs), cmdline: 'nginx: worker process', containerId: 'c-web', exe: null, host: { id: 'server-b' } });
});

test('snapshots: records, gaps (no data) and degraded records', async () => {
  const q = `query($h: ID!, $range: TimeRange!) { snapshots(host: $h, range: $range) { recorded gaps { from to }
    edges { node { time intervalSeconds connectionRows natRows degraded errors sources { name ok lost error } } } } }`;
  type Out = { snapshots: { recorded: number; gaps: { from: string; to: string }[]; edges: { node: { time: string; intervalSeconds: number; connectionRows: number; natRows: number; degraded: boolean; errors: string[]; sources: { name: string; ok: boolean; lost: number; error: string | null }[] } }[] } };
  const c = await run<Out>('snapshots with a gap', q, { h: 'client-c', range: STAMPS });
  assert.equal(c.snapshots.recorded, 2);
  assert.deepEqual(c.snapshots.gaps, [{ from: iso(T0 + INTERVAL), to: iso(T0 + 2 * INTERVAL) }]);
  assert.deepEqual(c.snapshots.edges.map((e) => [e.node.time, e.node.connectionRows, e.node.degraded]), [[iso(T0), 1, false], [iso(T0 + 2 * INTERVAL), 0, false]]);
  const r = await run<Out>('snapshots degraded', q, { h: 'router', range: { from: iso(T0 - 2 * INTERVAL), to: iso(T0 + 3 * INTERVAL) } });
  assert.deepEqual(r.snapshots.gaps, [{ from: iso(T0 - 2 * INTERVAL), to: iso(T0) }]);
  assert.deepEqual(r.snapshots.edges.map((e) => [e.node.natRows, e.node.degraded]), [[2, false], [2, false], [0, true]]);
  assert.deepEqual(r.snapshots.edges[2]!.node.sources, [{ name: 'procfs', ok: true, lost: 0, error: null }, { name: 'conntrack', ok: false, lost: 3, error: 'netlink: no buffer space' }]);
  assert.deepEqual(r.snapshots.edges[2]!.node.errors, ['conntrack dump failed']);
  const none = await run<Out>('snapshots of an unknown host', q, { h: 'nope', range: STAMPS });
  assert.deepEqual(none.snapshots, { recorded: 0, gaps: [STAMPS], edges: [] });
});

test('a nested query over 100 processes and their connections issues a bounded number of statements', async () => {
  // The rows stamped FLEET_T cover the interval before it.
  const fleetWindow = { from: iso(FLEET_T - INTERVAL), to: iso(FLEET_T) };
  let out: { host: { processes: { edges: { node: { pid: number; name: string; cmdline: string; connections: { edges: { node: { remotePort: number; bytesReceived: number; process: { name: string; cmdline: string; firstSeen: string }; host: { id: string; firstSeen: string } } }[] } } }[] } } } | undefined;
  const sql = await h.recordSql(async () => {
    out = data(await h.gql(
      `query($range: TimeRange!) { host(id: "fleet") { processes(first: 100) { edges { node { pid name cmdline
        connections(range: $range, first: 5) { edges { node { remotePort bytesReceived process { name cmdline firstSeen } host { id firstSeen } } } } } } } } }`,
      { range: fleetWindow },
    ));
  });
  const nodes = out!.host.processes.edges.map((e) => e.node);
  assert.equal(nodes.length, 100);
  // Processes come ordered by start time: the fixture starts worker i at FLEET_T - 60 s - i ms, so the last is first.
  assert.deepEqual(nodes.slice(0, 2).map((n) => n.pid), [1099, 1098]);
  for (const n of nodes) {
    const i = n.pid - 1000;
    assert.equal(n.name, FLEET_PROCESSES[i]!.name);
    assert.deepEqual(n.connections.edges.map((e) => e.node), [{
      remotePort: 9000, bytesReceived: 2 * i,
      process: { name: n.name, cmdline: `worker --id ${i}`, firstSeen: iso(FLEET_T) }, host: { id: 'fleet', firstSeen: iso(FLEET_T) },
    }]);
  }
  assert.ok(sql.length <= 5, `expected at most 5 statements, got ${sql.length}`);
  expectSqlSnapshot(SNAP, 'nested 100 processes', sql);
});
