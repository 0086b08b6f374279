import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runScenario, type ClientReport, type Scenario } from './scenario.js';

/**
 * Conntrack tells the truth on hosts where it is loaded (every Docker host): client -> router (DNAT VIP +
 * MASQUERADE) -> server, with conntrack also running in the client's and the server's namespaces. One
 * connection lives for more than 60 one-second intervals with traffic in each, 12 short ones come and go (their
 * conntrack entries linger in TIME_WAIT long after the sockets closed), and a second client reaches the server
 * through a REDIRECT on the server host (a local transparent proxy's port). The API must join every interval,
 * count each conntrack entry once at every resolution, and never turn a lingering conntrack entry into a row.
 */
const CLIENT_PROGRAM = fileURLToPath(new URL('./programs/traffic-client.js', import.meta.url));
const LONG_SECONDS = 65;
const SHORT = 12;
const REDIRECT_PORT = 80;

let s: Scenario;
let proxied: ClientReport;
let proxiedAt: Date;

interface Endpoint { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null }
interface Tuple { source: string; sourcePort: number | null; destination: string; destinationPort: number | null }
interface Hop { host: { id: string } | null; kind: string; translations: number; original: Tuple; reply: Tuple }
interface Edge {
  match: string; matches: Array<{ match: string }>; connections: number; bytesSent: number; bytesReceived: number;
  client: Endpoint; server: Endpoint; nat: Hop[];
}

const TALKERS = `query ($range: TimeRange!, $resolution: Resolution) {
  talkers(range: $range, groupBy: PROCESS, resolution: $resolution) {
    edges {
      match matches { match } connections bytesSent bytesReceived
      client { host { id } process { pid name } address port }
      server { host { id } process { pid name } address port }
      nat { host { id } kind translations original { source sourcePort destination destinationPort } reply { source sourcePort destination destinationPort } }
    }
  }
}`;

before(async () => {
  s = await runScenario(() => undefined, {
    longConnections: 1, shortConnections: SHORT, longSeconds: LONG_SECONDS,
    topology: { runId: `k${process.pid % 10000}`, subnet: 93, hostConntrack: true },
  });
  const { ns, addr } = s.topology;
  // The server host redirects its port 80 to the server program's port (as to a local transparent proxy).
  await s.topology.execIn(ns.server, 'iptables', ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', String(REDIRECT_PORT),
    '-j', 'REDIRECT', '--to-ports', String(s.topology.serverPort)]);
  proxiedAt = new Date();
  const out = await s.topology.execIn(ns.client, process.execPath, [CLIENT_PROGRAM, addr.server, String(REDIRECT_PORT), '1', String(SHORT), '3', '12']);
  proxied = JSON.parse(out.trim().split('\n').pop() ?? '{}') as ClientReport;
  await new Promise((r) => setTimeout(r, 4000));
});

after(async () => {
  await s?.dispose();
});

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

async function talkers(fromMs: number, toMs: number, resolution = 'RAW'): Promise<Edge[]> {
  const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  return (await s.graphql<{ talkers: { edges: Edge[] } }>(TALKERS, { range, resolution })).talkers.edges;
}

/** Edges that involve the test's traffic: the server program's port, the VIP's or the redirected port. */
function trafficEdges(edges: Edge[]): Edge[] {
  const ports = new Set([s.topology.serverPort, s.topology.vipPort, REDIRECT_PORT]);
  return edges.filter((e) => e.server.port !== null && ports.has(e.server.port)
    && (e.client.host?.id !== 'router' || e.server.host?.id !== 'router'));
}

test('the whole run: one NAT_RESOLVED edge per client program, counts exact, one translation per conntrack entry', async () => {
  const edges = trafficEdges(await talkers(s.startedAt.getTime(), Date.now() + 1000));
  const { addr } = s.topology;
  const main = edges.filter((e) => e.client.process?.pid === s.client.pid);
  const viaProxy = edges.filter((e) => e.client.process?.pid === proxied.pid);
  // Nothing else: no edge from a bare address, none from a lingering conntrack entry, none claimed by the server host.
  assert.deepEqual(edges.filter((e) => !main.includes(e) && !viaProxy.includes(e)), []);
  assert.equal(main.length, 1, JSON.stringify(edges, null, 2));

  const edge = main[0]!;
  assert.equal(edge.match, 'NAT_RESOLVED');
  assert.deepEqual(edge.matches.map((m) => m.match), ['NAT_RESOLVED']);
  assert.deepEqual(edge.server.process, { pid: s.serverPid, name: 'traffic-server' });
  assert.equal(edge.connections, 1 + SHORT);
  within1pct(edge.bytesSent, s.client.sent, 'bytes sent');
  within1pct(edge.bytesReceived, s.client.received, 'bytes received');
  assert.deepEqual(edge.nat.map((h) => ({ host: h.host?.id, kind: h.kind, translations: h.translations, from: h.original.destination, to: h.reply.source })),
    [{ host: 'router', kind: 'BOTH', translations: 1 + SHORT, from: addr.vip, to: addr.server }]);

  // Through the REDIRECT: every connection counted once, no empty edge, the joined part through both hops with
  // one translation per connection. (The whole is NAT_RESOLVED unless the server host's collector lost data,
  // which a loaded machine can do: that is the completeness record's business, not conntrack's.)
  assert.equal(viaProxy.reduce((n, e) => n + e.connections, 0), 1 + SHORT, JSON.stringify(viaProxy, null, 2));
  within1pct(viaProxy.reduce((n, e) => n + e.bytesSent, 0), proxied.sent, 'proxied bytes sent');
  within1pct(viaProxy.reduce((n, e) => n + e.bytesReceived, 0), proxied.received, 'proxied bytes received');
  for (const e of viaProxy) {
    assert.ok(e.connections > 0, JSON.stringify(e));
    assert.deepEqual(e.client.host, { id: 'client' });
    assert.equal(e.client.address, addr.client);
  }
  const p = viaProxy.find((e) => e.match === 'NAT_RESOLVED');
  assert.ok(p, JSON.stringify(viaProxy, null, 2));
  assert.deepEqual(p.server.host, { id: 'server' });
  assert.deepEqual(p.server.process, { pid: s.serverPid, name: 'traffic-server' });
  assert.equal(p.server.port, s.topology.serverPort);
  const hops = p.nat.map((h) => ({ host: h.host?.id, kind: h.kind, translations: h.translations })).sort((a, b) => String(a.host).localeCompare(String(b.host)));
  assert.deepEqual(hops, [{ host: 'router', kind: 'SNAT', translations: p.connections }, { host: 'server', kind: 'DNAT', translations: p.connections }]);
});

test('the long connection stays joined in every interval of its life', async () => {
  // Whole one-second windows inside the long connection's life (it started at trafficAt and lived LONG_SECONDS).
  const first = Math.ceil(s.trafficAt.getTime() / 1000) * 1000 + 2000;
  const last = s.trafficAt.getTime() + (LONG_SECONDS - 2) * 1000;
  // A window without a snapshot from both ends cannot say whether they were joined (a loaded machine may skip one).
  // The snapshot stamped t + 1 s covers the window [t, t + 1 s).
  const covered = new Set((await s.sqlAsReader<{ t: string }>(
    `SELECT (extract(epoch from time) * 1000)::bigint::text AS t FROM bi.snapshots
     WHERE host_id IN ('client', 'server', 'router') AND time >= $1 AND time < $2 GROUP BY time HAVING count(DISTINCT host_id) = 3`,
    [new Date(first + 1000).toISOString(), new Date(last + 1000).toISOString()])).map((r) => Number(r.t)));
  let windows = 0;
  for (let t = first; t + 1000 <= last; t += 1000) {
    if (!covered.has(t + 1000)) continue;
    const edges = trafficEdges(await talkers(t, t + 1000)).filter((e) => e.client.host?.id !== 'client' || e.client.process?.pid !== proxied.pid);
    const at = new Date(t).toISOString();
    assert.equal(edges.length, 1, `${at}: ${JSON.stringify(edges, null, 2)}`);
    assert.equal(edges[0]!.match, 'NAT_RESOLVED', `${at}: ${JSON.stringify(edges, null, 2)}`);
    assert.equal(edges[0]!.client.process?.pid, s.client.pid, at);
    assert.ok(edges[0]!.bytesSent > 0, `${at}: the long connection sends in every interval`);
    windows++;
  }
  // Most windows have all three snapshots even on a loaded machine.
  assert.ok(windows >= LONG_SECONDS / 2, `only ${windows} windows`);
});

test('translations count distinct conntrack entries at every resolution', async () => {
  for (const resolution of ['MINUTE', 'HOUR', 'DAY']) {
    const edges = trafficEdges(await talkers(s.startedAt.getTime(), Date.now() + 1000, resolution))
      .filter((e) => e.server.host?.id === 'server' && e.client.host?.id === 'client' && e.nat.some((h) => h.original.destination === s.topology.addr.vip));
    const hops = edges.flatMap((e) => e.nat).filter((h) => h.host?.id === 'router' && h.original.destination === s.topology.addr.vip);
    assert.ok(hops.length >= 1, `${resolution}: ${JSON.stringify(edges, null, 2)}`);
    // One mapping per router at triple grain: the same hop may sit on several edges, each counting all of it.
    for (const h of hops) assert.equal(h.translations, 1 + SHORT, `${resolution}: ${JSON.stringify(h)}`);
  }
});

test('closed connections are not reported again, and conntrack adds no row for a socket another source reports', async () => {
  const { addr } = s.topology;
  const rows = await s.sqlAsReader<{ host_id: string; local: string; remote: string; state: string; source: string; closed: boolean; t: string }>(
    `SELECT host_id, host(local_addr) || ':' || local_port AS local, host(remote_addr) || ':' || remote_port AS remote, state, source,
            closed_at IS NOT NULL AS closed, time::text AS t
     FROM bi.connections
     WHERE host_id IN ('client', 'server') AND time >= $1
       AND (remote_port IN ($2, $3) OR local_port = $4 OR host(local_addr) = $5 OR host(remote_addr) = $5)
     ORDER BY host_id, local, remote, time`,
    [s.startedAt.toISOString(), s.topology.vipPort, REDIRECT_PORT, s.topology.serverPort, addr.client]);
  const traffic = rows.filter((r) => !r.remote.endsWith(':5433') && !r.local.endsWith(':5433'));
  assert.ok(traffic.length > 0);
  if (process.env.CT_DEBUG) for (const r of traffic) process.stderr.write(`${JSON.stringify(r)}\n`);
  assert.deepEqual(traffic.filter((r) => r.state === 'SYN_SENT'), [], 'no SYN_SENT rows');
  assert.deepEqual(traffic.filter((r) => r.source === 'conntrack'), [], 'eBPF or /proc reports every socket here');
  // On the server host, nothing claims the client's address as its own.
  assert.deepEqual(traffic.filter((r) => r.host_id === 'server' && r.local.startsWith(`${addr.client}:`)), []);
  const closedAt = new Map<string, string>();
  const afterClose: typeof traffic = [];
  for (const r of traffic) {
    const key = `${r.host_id} ${r.local} ${r.remote}`;
    if (closedAt.has(key)) afterClose.push(r);
    else if (r.closed) closedAt.set(key, r.t);
  }
  assert.deepEqual(afterClose, [], 'rows after the closing row');
  assert.ok(closedAt.size > 0, 'closing rows');
});
