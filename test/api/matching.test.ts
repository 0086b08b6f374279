import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apportion, matchFlows, type NatGroup, type SideGroup } from '../../src/domain/matching.js';
import { buildTalkerGraph } from '../../src/domain/talker-graph.js';
import { chooseResolution, widenToBuckets, resolutionForStep, HOUR_MS } from '../../src/domain/resolution.js';
import { coverageGaps } from '../../src/domain/coverage.js';

const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
const curl = { pid: 100, startedAtMs: T0 - 1000, name: 'curl', containerId: null };
const nginx = { pid: 200, startedAtMs: T0 - 5000, name: 'nginx', containerId: 'c0ffee' };

function side(partial: Partial<SideGroup> & Pick<SideGroup, 'hostId' | 'role' | 'localAddress' | 'localPort' | 'remoteAddress' | 'remotePort'>): SideGroup {
  return { netns: 1, process: null, protocol: 'tcp', bytesSent: 0, bytesReceived: 0, connections: 1, firstSeenMs: T0, lastSeenMs: T0, ...partial };
}

function nat(partial: Partial<NatGroup> & Pick<NatGroup, 'origSrc' | 'origSrcPort' | 'origDst' | 'origDstPort' | 'replySrc' | 'replySrcPort' | 'replyDst' | 'replyDstPort'>): NatGroup {
  return { hostId: 'router', netns: 1, protocol: 'tcp', kind: 'DNAT', translations: 1, firstSeenMs: T0, lastSeenMs: T0, ...partial };
}

test('apportion splits integers exactly in proportion and always sums to the total', () => {
  assert.deepEqual(apportion(10, [1, 1, 1]), [4, 3, 3]);
  assert.deepEqual(apportion(100, [3, 1]), [75, 25]);
  assert.deepEqual(apportion(7, [0, 0]), [4, 3]);
  assert.deepEqual(apportion(5, []), []);
  assert.equal(apportion(1001, [2, 3, 5, 7]).reduce((a, b) => a + b, 0), 1001);
});

test('a client and a server record on the same 4-tuple join as BOTH_ENDS with the client side figures', () => {
  const client = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40000, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 100, bytesReceived: 2000, connections: 1 });
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 40000, bytesSent: 1990, bytesReceived: 99, connections: 1 });
  const flows = matchFlows([client, server], [], { exact: true, toleranceMs: 0 });
  assert.deepEqual(flows, [{
    match: 'BOTH_ENDS', protocol: 'tcp',
    client: { hostId: 'a', netns: 1, process: curl, address: '10.0.1.10', port: 40000 },
    server: { hostId: 'b', netns: 1, process: nginx, address: '10.0.2.20', port: 8080 },
    bytesSent: 100, bytesReceived: 2000, connections: 1, firstSeenMs: T0, lastSeenMs: T0, nat: [],
  }]);
});

test('records that do not overlap in time do not join (a reused ephemeral port)', () => {
  const client = side({ hostId: 'a', role: 'client', localAddress: '10.0.1.10', localPort: 40000, remoteAddress: '10.0.2.20', remotePort: 8080 });
  const server = side({ hostId: 'b', role: 'server', localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 40000, firstSeenMs: T0 + 600_000, lastSeenMs: T0 + 600_000 });
  const flows = matchFlows([client, server], [], { exact: true, toleranceMs: 60_000 });
  assert.deepEqual(flows.map((f) => f.match), ['CLIENT_ONLY', 'SERVER_ONLY']);
});

test('a DNAT\'d VIP with masquerade joins through the translation as NAT_RESOLVED', () => {
  const client = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40000, remoteAddress: '10.96.0.10', remotePort: 80, bytesSent: 300, bytesReceived: 4000 });
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.2.1', remotePort: 50000, bytesSent: 4000, bytesReceived: 300 });
  const t = nat({ kind: 'BOTH', origSrc: '10.0.1.10', origSrcPort: 40000, origDst: '10.96.0.10', origDstPort: 80, replySrc: '10.0.2.20', replySrcPort: 8080, replyDst: '10.0.2.1', replyDstPort: 50000 });
  const flows = matchFlows([client, server], [t], { exact: true, toleranceMs: 0 });
  assert.equal(flows.length, 1);
  assert.equal(flows[0]!.match, 'NAT_RESOLVED');
  assert.deepEqual(flows[0]!.server, { hostId: 'b', netns: 1, process: nginx, address: '10.0.2.20', port: 8080 });
  assert.deepEqual(flows[0]!.nat, [t]);
  assert.equal(flows[0]!.bytesSent, 300);
});

test('chained translations (client-side SNAT, then a DNAT) are followed', () => {
  const client = side({ hostId: 'a', role: 'client', localAddress: '192.168.0.5', localPort: 1111, remoteAddress: '10.96.0.10', remotePort: 80 });
  const snat = nat({ hostId: 'edge', kind: 'SNAT', origSrc: '192.168.0.5', origSrcPort: 1111, origDst: '10.96.0.10', origDstPort: 80, replySrc: '10.96.0.10', replySrcPort: 80, replyDst: '172.16.0.1', replyDstPort: 2222 });
  const dnat = nat({ hostId: 'lb', kind: 'DNAT', origSrc: '172.16.0.1', origSrcPort: 2222, origDst: '10.96.0.10', origDstPort: 80, replySrc: '10.0.2.20', replySrcPort: 8080, replyDst: '172.16.0.1', replyDstPort: 2222 });
  const server = side({ hostId: 'b', role: 'server', localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '172.16.0.1', remotePort: 2222 });
  const flows = matchFlows([client, server], [dnat, snat], { exact: true, toleranceMs: 0 });
  assert.deepEqual(flows.map((f) => [f.match, f.nat.map((n) => n.hostId)]), [['NAT_RESOLVED', ['edge', 'lb']]]);
});

test('a translation without a server record still names the real destination (CLIENT_ONLY)', () => {
  const client = side({ hostId: 'a', role: 'client', localAddress: '10.0.1.10', localPort: 40000, remoteAddress: '10.96.0.10', remotePort: 80, bytesSent: 5 });
  const t = nat({ origSrc: '10.0.1.10', origSrcPort: 40000, origDst: '10.96.0.10', origDstPort: 80, replySrc: '10.0.3.30', replySrcPort: 9090, replyDst: '10.0.1.10', replyDstPort: 40000 });
  const [flow] = matchFlows([client], [t], { exact: true, toleranceMs: 0 });
  assert.equal(flow!.match, 'CLIENT_ONLY');
  assert.deepEqual(flow!.server, { hostId: null, process: null, address: '10.0.3.30', port: 9090 });
  assert.deepEqual(flow!.nat, [t]);
});

test('a server record behind a masquerade names the original source (SERVER_ONLY), mirroring its figures', () => {
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.2.1', remotePort: 50001, bytesSent: 700, bytesReceived: 70, connections: 2 });
  const t = nat({ kind: 'SNAT', origSrc: '10.0.9.9', origSrcPort: 3333, origDst: '10.0.2.20', origDstPort: 8080, replySrc: '10.0.2.20', replySrcPort: 8080, replyDst: '10.0.2.1', replyDstPort: 50001 });
  const [flow] = matchFlows([server], [t], { exact: true, toleranceMs: 0 });
  assert.equal(flow!.match, 'SERVER_ONLY');
  assert.deepEqual(flow!.client, { hostId: null, process: null, address: '10.0.9.9', port: 3333 });
  assert.deepEqual([flow!.bytesSent, flow!.bytesReceived, flow!.connections], [70, 700, 2]);
});

test('triple mode: one client group meeting two server processes splits its figures by what each server saw', () => {
  const client = side({ hostId: 'a', role: 'client', localAddress: '10.0.1.10', localPort: null, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 1000, bytesReceived: 10_000, connections: 10 });
  const w1 = side({ hostId: 'b', role: 'server', process: { ...nginx, pid: 201 }, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: null, bytesSent: 3000, bytesReceived: 300 });
  const w2 = side({ hostId: 'b', role: 'server', process: { ...nginx, pid: 202 }, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: null, bytesSent: 1000, bytesReceived: 100 });
  const flows = matchFlows([client, w1, w2], [], { exact: false, toleranceMs: HOUR_MS });
  assert.deepEqual(flows.map((f) => [f.match, f.server.process?.pid, f.bytesSent, f.bytesReceived, f.connections]), [
    ['BOTH_ENDS', 201, 750, 7500, 8],
    ['BOTH_ENDS', 202, 250, 2500, 2],
  ]);
});

test('the graph groups flows per node pair, protocol and server port, keeps the heaviest, and lists only their nodes', () => {
  const c1 = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40000, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 10, bytesReceived: 20 });
  const c2 = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40001, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 1, bytesReceived: 2, firstSeenMs: T0 + 10_000, lastSeenMs: T0 + 20_000 });
  const s1 = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 40000 });
  const lone = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40002, remoteAddress: '1.1.1.1', remotePort: 53, protocol: 'udp', bytesSent: 5, bytesReceived: 5 });
  const flows = matchFlows([c1, c2, s1, lone], [], { exact: true, toleranceMs: 0 });
  const graph = buildTalkerGraph(flows, 'HOST', null, 1);
  assert.equal(graph.totalEdges, 3);
  assert.equal(graph.edges.length, 1);
  const edge = graph.edges[0]!;
  assert.equal(edge.id, 'HOST|host:a>host:b|tcp|8080');
  assert.deepEqual([edge.match, edge.bytesSent, edge.bytesReceived, edge.connections, edge.firstSeenMs, edge.lastSeenMs], ['BOTH_ENDS', 10, 20, 1, T0, T0]);
  assert.deepEqual(graph.nodes.map((n) => n.id), ['host:a', 'host:b']);

  const byAddress = buildTalkerGraph(flows, 'ADDRESS', { protocol: 'tcp' }, 10);
  assert.deepEqual(byAddress.edges.map((e) => [e.id, e.match, e.bytesSent, e.connections, e.client.port, e.server.port]), [
    ['ADDRESS|address:10.0.1.10>address:10.0.2.20|tcp|8080', 'BOTH_ENDS', 11, 2, null, 8080],
  ]);
  assert.deepEqual(byAddress.edges[0]!.matches, [
    { match: 'BOTH_ENDS', connections: 1, bytesSent: 10, bytesReceived: 20 },
    { match: 'CLIENT_ONLY', connections: 1, bytesSent: 1, bytesReceived: 2 },
  ]);
  const unknownServer = buildTalkerGraph(flows, 'PROCESS', { port: 53 }, 10);
  assert.deepEqual(unknownServer.nodes.map((n) => [n.id, n.kind]), [['address:1.1.1.1', 'ADDRESS'], [`process:a:100:${curl.startedAtMs * 1000}`, 'PROCESS']]);
});

test('resolution policy and bucket widening', () => {
  const w = { fromMs: T0, toMs: T0 + HOUR_MS };
  assert.equal(chooseResolution('AUTO', w), 'RAW');
  assert.equal(chooseResolution('AUTO', { fromMs: T0, toMs: T0 + 6 * HOUR_MS }), 'MINUTE');
  assert.equal(chooseResolution('AUTO', { fromMs: T0, toMs: T0 + 24 * HOUR_MS }), 'HOUR');
  assert.equal(chooseResolution('AUTO', { fromMs: T0, toMs: T0 + 7 * 24 * HOUR_MS }), 'DAY');
  assert.equal(chooseResolution('RAW', { fromMs: T0, toMs: T0 + 7 * 24 * HOUR_MS }), 'RAW');
  assert.deepEqual(widenToBuckets({ fromMs: T0 + 90_000, toMs: T0 + 150_000 }, 'MINUTE'), { fromMs: T0 + 60_000, toMs: T0 + 180_000 });
  assert.deepEqual(widenToBuckets({ fromMs: T0, toMs: T0 + HOUR_MS }, 'DAY'), { fromMs: Date.UTC(2024, 4, 1), toMs: Date.UTC(2024, 4, 2) });
  assert.deepEqual([resolutionForStep(86_400_000), resolutionForStep(7_200_000), resolutionForStep(120_000), resolutionForStep(15_000)], ['DAY', 'HOUR', 'MINUTE', 'RAW']);
});

test('coverage gaps: leading, inner and trailing stretches longer than half an interval; none at all means one gap', () => {
  const w = { fromMs: T0, toMs: T0 + 600_000 };
  assert.deepEqual(coverageGaps(w, { firstMs: null, lastEndMs: null, intervalMs: 60_000, inner: [] }), [w]);
  assert.deepEqual(coverageGaps(w, { firstMs: T0 + 120_000, lastEndMs: T0 + 590_000, intervalMs: 60_000, inner: [{ fromMs: T0 + 300_000, toMs: T0 + 420_000 }] }), [
    { fromMs: T0, toMs: T0 + 120_000 },
    { fromMs: T0 + 300_000, toMs: T0 + 420_000 },
  ]);
});

test('two namespaces of one host each using 127.0.0.1:7811 are never cross-joined, at triple grain too', () => {
  const ns = (netns: number, name: string, role: 'client' | 'server', bytes: number) => side({
    hostId: 'h', netns, role, process: { pid: netns * 10 + (role === 'client' ? 1 : 2), startedAtMs: T0, name, containerId: null },
    localAddress: '127.0.0.1', localPort: role === 'server' ? 7811 : null, remoteAddress: '127.0.0.1', remotePort: role === 'client' ? 7811 : null,
    bytesSent: bytes, bytesReceived: bytes * 2,
  });
  const groups = [ns(1, 'cli-a', 'client', 100), ns(2, 'cli-b', 'client', 5000), ns(1, 'srv-a', 'server', 200), ns(2, 'srv-b', 'server', 10_000)];
  for (const exact of [false]) {
    const flows = matchFlows(groups, [], { exact, toleranceMs: 60_000 });
    assert.deepEqual(flows.map((f) => `${f.client.process?.name} -> ${f.server.process?.name} ${f.match} ${f.bytesSent}`), [
      'cli-a -> srv-a BOTH_ENDS 100',
      'cli-b -> srv-b BOTH_ENDS 5000',
    ]);
  }
});

/*
 * Elision: each host folds the connections of its own interval, and the two hosts' intervals differ, so a
 * connection can keep its own row on one end and be folded into the row of another client port on the
 * other (seen with 10 short half-closing connections: 5 client rows of their own, one server row of 3).
 */
test('client rows of their own whose connections the server folded into one elided row all join that server', () => {
  const clients = [40001, 40002, 40003].map((port) => side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: port,
    remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 100, bytesReceived: 1000, connections: 1 }));
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10',
    remotePort: 40002, bytesSent: 3000, bytesReceived: 300, connections: 3, elided: true });
  const flows = matchFlows([...clients, server], [], { exact: true, toleranceMs: 60_000 });
  assert.deepEqual(flows.map((f) => [f.match, f.client.port, f.server.process?.pid ?? null, f.connections, f.bytesReceived]), [
    ['BOTH_ENDS', 40001, 200, 1, 1000], ['BOTH_ENDS', 40002, 200, 1, 1000], ['BOTH_ENDS', 40003, 200, 1, 1000],
  ]);
});

test('server rows of their own whose connections the client folded into one elided row are not server-only edges', () => {
  const client = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40002, remoteAddress: '10.0.2.20',
    remotePort: 8080, bytesSent: 300, bytesReceived: 3000, connections: 3, elided: true });
  const servers = [40001, 40002, 40003].map((port) => side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080,
    remoteAddress: '10.0.1.10', remotePort: port, bytesSent: 1000, bytesReceived: 100, connections: 1 }));
  const flows = matchFlows([client, ...servers], [], { exact: true, toleranceMs: 60_000 });
  assert.deepEqual(flows.map((f) => [f.match, f.client.port, f.server.process?.pid ?? null, f.connections, f.bytesReceived]), [
    ['BOTH_ENDS', 40002, 200, 3, 3000],
  ]);
});

test('through a DNAT and masquerade, a client row whose translation leads to a folded server port joins the elided server row', () => {
  const clients = [40001, 40002, 40003].map((port) => side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: port,
    remoteAddress: '10.96.0.10', remotePort: 80, bytesSent: 100, bytesReceived: 1000 }));
  const translations = [40001, 40002, 40003].map((port) => nat({ kind: 'BOTH', origSrc: '10.0.1.10', origSrcPort: port, origDst: '10.96.0.10', origDstPort: 80,
    replySrc: '10.0.2.20', replySrcPort: 8080, replyDst: '10.0.2.1', replyDstPort: port + 10_000 }));
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.2.1',
    remotePort: 50002, bytesSent: 3000, bytesReceived: 300, connections: 3, elided: true });
  const flows = matchFlows([...clients, server], translations, { exact: true, toleranceMs: 60_000 });
  assert.deepEqual(flows.map((f) => [f.match, f.client.port, f.server.process?.pid ?? null, f.connections]), [
    ['NAT_RESOLVED', 40001, 200, 1], ['NAT_RESOLVED', 40002, 200, 1], ['NAT_RESOLVED', 40003, 200, 1],
  ]);
});

test('without elision, records whose 4-tuples do not meet are not joined by their triple', () => {
  const client = side({ hostId: 'a', role: 'client', process: curl, localAddress: '10.0.1.10', localPort: 40001, remoteAddress: '10.0.2.20', remotePort: 8080 });
  const server = side({ hostId: 'b', role: 'server', process: nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 40002 });
  const flows = matchFlows([client, server], [], { exact: true, toleranceMs: 60_000 });
  assert.deepEqual(flows.map((f) => f.match), ['CLIENT_ONLY', 'SERVER_ONLY']);
});
