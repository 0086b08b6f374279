import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { EDGES, RESOLVE, TALKERS, runScenario, type Scenario } from './scenario.js';

/**
 * The proof that conntrail does its job: a client on one host talks to a server on another through a
 * router's VIP and masquerade; the API (over HTTP) and the BI views (over SQL, read-only role) must tell
 * exactly who talked to whom, through which NAT, how much and when.
 */
let s: Scenario;

interface Endpoint { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null }
interface Tuple { source: string; sourcePort: number | null; destination: string; destinationPort: number | null }
interface TalkerEdge {
  match: string; connections: number; bytesSent: number; bytesReceived: number; firstSeen: string; lastSeen: string;
  client: Endpoint; server: Endpoint; nat: Array<{ host: { id: string } | null; kind: string; original: Tuple; reply: Tuple }>;
}

before(async () => {
  s = await runScenario(() => undefined);
});

after(async () => {
  await s?.dispose();
});

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

test('talkers: one edge from the client program to the server program, NAT resolved, bytes and count exact', async () => {
  const range = { from: s.startedAt.toISOString(), to: new Date(Date.now() + 1000).toISOString() };
  const { talkers } = await s.graphql<{ talkers: { edges: TalkerEdge[] } }>(TALKERS, { range });
  const edges = talkers.edges.filter((e) => e.server.host?.id === 'server');
  assert.equal(edges.length, 1, JSON.stringify(talkers.edges, null, 2));
  const edge = edges[0]!;
  const { addr } = s.topology;
  assert.ok(['NAT_RESOLVED', 'BOTH_ENDS'].includes(edge.match), edge.match);
  assert.deepEqual(edge.client.host, { id: 'client' });
  assert.deepEqual(edge.client.process, { pid: s.client.pid, name: 'traffic-client' });
  assert.equal(edge.client.address, addr.client);
  assert.deepEqual(edge.server.host, { id: 'server' });
  assert.deepEqual(edge.server.process, { pid: s.serverPid, name: 'traffic-server' });
  assert.equal(edge.server.address, addr.server);
  assert.equal(edge.server.port, s.topology.serverPort);
  assert.equal(edge.connections, s.client.connections);
  within1pct(edge.bytesSent, s.client.sent, 'bytes sent by the client');
  within1pct(edge.bytesReceived, s.client.received, 'bytes received by the client');
  // The translation: VIP:80 -> server:8080 (DNAT) and client -> the router's masquerade address (SNAT).
  assert.ok(edge.nat.length >= 1);
  for (const hop of edge.nat) {
    assert.deepEqual(hop.host, { id: 'router' });
    assert.equal(hop.kind, 'BOTH');
    assert.equal(hop.original.source, addr.client);
    assert.equal(hop.original.destination, addr.vip);
    assert.equal(hop.original.destinationPort, s.topology.vipPort);
    assert.equal(hop.reply.source, addr.server);
    assert.equal(hop.reply.sourcePort, s.topology.serverPort);
    assert.equal(hop.reply.destination, addr.routerServerSide);
  }
  const natPorts = new Set(edge.nat.map((h) => h.original.sourcePort));
  for (const p of s.client.localPorts) assert.ok(natPorts.has(p) || edge.nat.some((h) => h.original.sourcePort === null), `no translation for client port ${p}`);
});

test('resolve: the VIP reached the server program at that time, for that client', async () => {
  const at = new Date((s.trafficAt.getTime() + s.finishedAt.getTime()) / 2).toISOString();
  const { resolve } = await s.graphql<{ resolve: { translated: boolean; targets: Array<{ role: string; address: string; port: number; host: { id: string } | null; process: { pid: number; name: string } | null }> } }>(
    RESOLVE, { address: s.topology.addr.vip, port: s.topology.vipPort, at, client: s.topology.addr.client });
  assert.equal(resolve.translated, true);
  assert.deepEqual(resolve.targets.map((t) => ({ ...t })), [{
    role: 'BACKEND', address: s.topology.addr.server, port: s.topology.serverPort, host: { id: 'server' }, process: { pid: s.serverPid, name: 'traffic-server' },
  }]);
});

test('edges since the start of the test: the new edge is in the ledger', async () => {
  const range = { from: new Date(s.startedAt.getTime() - 3_600_000).toISOString(), to: new Date(Date.now() + 1000).toISOString() };
  const { edges } = await s.graphql<{ edges: Array<{ match: string; connections: number; firstSeen: string; client: { host: { id: string } | null; process: { name: string } | null }; server: { host: { id: string } | null; process: { name: string } | null; port: number | null } }> }>(
    EDGES, { range, since: s.trafficAt.toISOString() });
  const edge = edges.find((e) => e.client.process?.name === 'traffic-client' && e.server.process?.name === 'traffic-server');
  assert.ok(edge, JSON.stringify(edges, null, 2));
  assert.equal(edge.client.host?.id, 'client');
  assert.equal(edge.server.host?.id, 'server');
  assert.ok(Date.parse(edge.firstSeen) >= s.trafficAt.getTime() - 1000);
});

test('the BI views tell the same story over SQL, as the read-only role', async () => {
  const { addr } = s.topology;
  const clientSide = await s.sqlAsReader<{ n: number; sent: string; received: string; pid: number; name: string }>(
    `SELECT sum(new_count)::int AS n, sum(bytes_sent)::text AS sent, sum(bytes_received)::text AS received, min(pid) AS pid, min(process_name) AS name
     FROM bi.connections WHERE host_id = 'client' AND direction = 'outgoing' AND remote_addr = $1 AND remote_port = $2`, [addr.vip, s.topology.vipPort]);
  assert.equal(clientSide[0]?.n, s.client.connections);
  within1pct(Number(clientSide[0]?.sent), s.client.sent, 'bi.connections bytes_sent');
  within1pct(Number(clientSide[0]?.received), s.client.received, 'bi.connections bytes_received');
  assert.equal(clientSide[0]?.pid, s.client.pid);
  assert.equal(clientSide[0]?.name, 'traffic-client');
  const serverSide = await s.sqlAsReader<{ n: number; name: string }>(
    `SELECT sum(new_count)::int AS n, min(process_name) AS name FROM bi.connections
     WHERE host_id = 'server' AND direction = 'incoming' AND local_port = $1 AND remote_addr = $2`, [s.topology.serverPort, addr.routerServerSide]);
  assert.deepEqual(serverSide[0], { n: s.client.connections, name: 'traffic-server' });
  const nat = await s.sqlAsReader<{ ports: number }>(
    `SELECT count(DISTINCT orig_sport)::int AS ports FROM bi.nat_translations
     WHERE host_id = 'router' AND orig_src = $1 AND orig_dst = $2 AND orig_dport = $3 AND reply_src = $4 AND reply_sport = $5 AND reply_dst = $6`,
    [addr.client, addr.vip, s.topology.vipPort, addr.server, s.topology.serverPort, addr.routerServerSide]);
  assert.equal(nat[0]?.ports, s.client.connections);
  // Refused by the endpoint's statement classifier before the engine's own grants would refuse it.
  await assert.rejects(s.sqlAsReader(`INSERT INTO conntrail.hosts VALUES ('x', now(), now())`), /not allowed for the reader login|permission denied/);
});
