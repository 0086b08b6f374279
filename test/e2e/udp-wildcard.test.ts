import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { deployConntrail, type Deployment } from './deployment.js';
import { RESOLVE } from './scenario.js';
import { buildTopology, type Topology } from './topology.js';
import { extendTopology, LAB, PROGRAMS, runClient, startServer, type ClientReport } from './workloads.js';

/**
 * Issue 10, item 2 on real hosts: a DNS-like server bound to 0.0.0.0:5353 behind the router's DNAT'd
 * VIP:53, started (and waiting for datagrams) before conntrail, and a client whose unconnected sockets
 * ask the VIP. The API must join both ends through the NAT, with the server's real address and process.
 */
let topology: Topology;
let deployment: Deployment;
let server: { pid: number; stop(): Promise<unknown> };
let client: ClientReport;
let trafficAt: Date;
let doneAt: Date;
let startedAt: Date;

before(async () => {
  startedAt = new Date();
  topology = await buildTopology({ runId: `u${process.pid % 10000}` });
  await extendTopology(topology);
  const inServer = (command: string, args: readonly string[]) => topology.spawnIn(topology.ns.server, command, args);
  const inClient = (command: string, args: readonly string[]) => topology.spawnIn(topology.ns.client, command, args);
  server = await startServer(inServer, PROGRAMS.udpServer, ['--port', String(LAB.ports.udp), '--host', '0.0.0.0', '--title', 'udp-wild-s']);
  deployment = await deployConntrail(topology, { intervalS: 1, source: 'ebpf' }, () => undefined);
  await new Promise((r) => setTimeout(r, 2000));
  trafficAt = new Date();
  client = await runClient(inClient, PROGRAMS.udpClient, ['--host', topology.addr.vip, '--port', String(LAB.udpVipPort), '--sockets', '4',
    '--requests', '10', '--send', '64', '--want', '700', '--pace-ms', '20', '--title', 'udp-wild-c']);
  await new Promise((r) => setTimeout(r, 4000));
  doneAt = new Date();
});

after(async () => {
  await server?.stop().catch(() => undefined);
  await deployment?.dispose();
  await topology?.teardown();
});

const TALKERS = `query ($range: TimeRange!) {
  talkers(range: $range, groupBy: PROCESS, filter: { processName: "udp-wild-c" }, resolution: RAW) {
    edges { match connections bytesSent bytesReceived
      client { host { id } process { pid name } address }
      server { host { id } process { pid name } address port } }
  }
}`;

test('talkers: one NAT-resolved edge from the client to the wildcard-bound server, count exact, bytes within 1%', async () => {
  const range = { from: startedAt.toISOString(), to: new Date(Date.now() + 1000).toISOString() };
  type End = { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port?: number | null };
  const { talkers } = await deployment.graphql<{ talkers: { edges: Array<{ match: string; connections: number; bytesSent: number; bytesReceived: number; client: End; server: End }> } }>(TALKERS, { range });
  assert.equal(talkers.edges.length, 1, JSON.stringify(talkers.edges, null, 2));
  const edge = talkers.edges[0]!;
  assert.ok(['NAT_RESOLVED', 'BOTH_ENDS'].includes(edge.match), edge.match);
  assert.deepEqual(edge.client.process, { pid: client.pid, name: 'udp-wild-c' });
  assert.deepEqual(edge.server.host, { id: 'server' });
  assert.deepEqual(edge.server.process, { pid: server.pid, name: 'udp-wild-s' });
  assert.equal(edge.server.address, topology.addr.server);
  assert.equal(edge.server.port, LAB.ports.udp);
  assert.equal(edge.connections, client.connections);
  assert.ok(Math.abs(edge.bytesSent - client.sent) <= client.sent * 0.01, `sent ${edge.bytesSent} vs ${client.sent}`);
  assert.ok(Math.abs(edge.bytesReceived - client.received) <= client.received * 0.01, `received ${edge.bytesReceived} vs ${client.received}`);
});

test('resolve(VIP, 53): the server host and process behind the DNAT', async () => {
  const at = new Date((trafficAt.getTime() + doneAt.getTime()) / 2).toISOString();
  const { resolve } = await deployment.graphql<{ resolve: { translated: boolean; targets: Array<{ address: string; port: number; host: { id: string } | null; process: { pid: number; name: string } | null }> } }>(
    RESOLVE, { address: topology.addr.vip, port: LAB.udpVipPort, at, client: topology.addr.client });
  assert.equal(resolve.translated, true);
  const target = resolve.targets.find((t) => t.address === topology.addr.server && t.port === LAB.ports.udp);
  assert.ok(target, JSON.stringify(resolve));
  assert.deepEqual(target.host, { id: 'server' });
  assert.deepEqual(target.process, { pid: server.pid, name: 'udp-wild-s' });
});
