import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import type { ConnectionSource, SourceReading } from '../../src/collector/source.js';
import { AllNetnsConntrackSource } from '../../src/collector/sources/conntrack-all-netns.js';
import { ConntrackSource } from '../../src/collector/sources/conntrack-source.js';
import { EbpfSource } from '../../src/collector/sources/ebpf/ebpf-source.js';
import { Tracker } from '../../src/collector/tracker.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { ensureHelper } from '../collector/ebpf/support.js';
import { freshStore, testLog } from '../helpers/env.js';
import { linkedHosts, netnsInode, type HostPair } from './truth-rig.js';
import { PROGRAMS, runClient, startServer, type ClientReport, type ServerReport, type Spawn } from './workloads.js';

/**
 * Issue 13, items 3 and 4, in real network namespaces (10.82.0.0/16), one collector seeing them all
 * (`--netns all`: eBPF for the sockets, conntrack of every namespace for the translations):
 * - a container-like client namespace whose own iptables DNAT a service address (IPv4 and IPv6) to a server in
 *   another namespace: the edge is NAT_RESOLVED through that namespace's translation (the collector's own
 *   conntrack table never sees it);
 * - an inbound sidecar: the server namespace REDIRECTs :8080 to a proxy on :15006 that forwards to the app on
 *   127.0.0.1:8080;
 * - an outbound sidecar: the client namespace REDIRECTs the app's connects to :9090 to a proxy on 127.0.0.1:15001
 *   that connects to the real destination (its own connects spared by group id, as a mesh spares its proxy).
 * Every figure is checked exactly against what the programs counted themselves.
 */
const HOST = 'scarhost';
const INTERVAL_MS = 1000;
const PROXY = fileURLToPath(new URL('../programs/tcp-proxy.js', import.meta.url));
const PROXY_GID = 1337;

const TALKERS = `query ($range: TimeRange!, $through: Boolean) {
  talkers(range: $range, groupBy: PROCESS, resolution: RAW, throughProxies: $through, limit: 100) {
    edges {
      match connections bytesSent bytesReceived
      client { process { pid } address }
      server { process { pid } address port }
      nat { host { id } netns kind original { source destination destinationPort } reply { source sourcePort } }
      proxies { process { pid } address port }
    }
  }
}`;

interface Edge {
  match: string; connections: number; bytesSent: number; bytesReceived: number;
  client: { process: { pid: number } | null; address: string | null };
  server: { process: { pid: number } | null; address: string | null; port: number | null };
  nat: { host: { id: string } | null; netns: number | null; kind: string; original: { source: string; destination: string; destinationPort: number | null }; reply: { source: string; sourcePort: number | null } }[];
  proxies: { process: { pid: number } | null; address: string; port: number | null }[];
}

function ownNetns(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1]);
}

/** Only this test's namespaces: other people's sockets and translations on this machine are not ours. */
function ofNamespaces(r: SourceReading, netns: ReadonlySet<number>): SourceReading {
  const observations = r.observations.filter((o) => netns.has(o.netns));
  const owners = new Set(observations.map((o) => (o.process === null ? '' : `${o.process.pid}/${o.process.startedAtMs}`)));
  return {
    observations,
    nat: r.nat.filter((n) => netns.has(n.netns)),
    listening: r.listening.filter((l) => netns.has(l.netns)),
    processes: r.processes.filter((p) => owners.has(`${p.pid}/${p.startedAtMs}`)),
    run: r.run,
  };
}

interface OneHostRig {
  tick(): Promise<void>;
  talkers(throughProxies: boolean): Promise<Edge[]>;
  close(): Promise<void>;
}

/** One collector of one host, sources read in turn each tick as the collector's loop does, one snapshot per tick. */
async function startOneHostRig(sources: readonly ConnectionSource[], netns: ReadonlySet<number>): Promise<OneHostRig> {
  const { store, dispose } = await freshStore();
  const writer = new SnapshotWriter(store.writer);
  const tracker = new Tracker({ hostId: HOST, intervalMs: INTERVAL_MS, elision: null });
  let api: ApiServer | null = null;
  const startedMs = Date.now();
  let lastTimeMs = 0;
  try {
    api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: {}, token: null });
    const { url } = await api.start();
    const started = api;
    return {
      async tick() {
        const readings = await Promise.all(sources.map((s) => s.read(AbortSignal.timeout(30_000))));
        const timeMs = Math.max(lastTimeMs + INTERVAL_MS, Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS);
        lastTimeMs = timeMs;
        const result = await writer.write(tracker.build({ timeMs, readings: readings.map((r) => ofNamespaces(r, netns)) }));
        if (result.rejected.length > 0) throw new Error(`rows rejected: ${JSON.stringify(result.rejected)}`);
      },
      async talkers(throughProxies) {
        const range = { from: new Date(startedMs - 60_000).toISOString(), to: new Date(Date.now() + 60_000).toISOString() };
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: TALKERS, variables: { range, through: throughProxies } }) });
        const body = (await res.json()) as { data?: { talkers: { edges: Edge[] } }; errors?: unknown[] };
        if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
        return body.data!.talkers.edges;
      },
      async close() {
        for (const s of sources) await s.close().catch(() => undefined);
        await started.stop();
        await dispose();
      },
    };
  } catch (err) {
    for (const s of sources) await s.close().catch(() => undefined);
    await api?.stop().catch(() => undefined);
    await dispose();
    throw err;
  }
}

/** Runs `work` while the rig ticks once a second, then ticks a few more times so closes are recorded. */
async function whileTicking<T>(rig: OneHostRig, work: () => Promise<T>): Promise<T> {
  let done = false;
  const all = work().finally(() => { done = true; });
  all.catch(() => undefined);
  while (!done) {
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    await rig.tick();
  }
  const result = await all;
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, INTERVAL_MS));
    await rig.tick();
  }
  return result;
}

const spawnIn = (pair: HostPair, side: 'client' | 'server'): Spawn => (command, args) => pair[side].spawn(command, args);
const clientArgs = (host: string, port: number, title: string): string[] =>
  ['--host', host, '--port', String(port), '--connections', '3', '--concurrency', '3', '--rounds', '2', '--send', '1500', '--want', '7000', '--title', title];

function edgeOf(edges: readonly Edge[], clientPid: number, serverPid: number): Edge {
  const found = edges.filter((e) => e.client.process?.pid === clientPid && e.server.process?.pid === serverPid);
  assert.equal(found.length, 1, `one edge ${clientPid} -> ${serverPid} expected, got ${JSON.stringify(edges.filter((e) => e.client.process?.pid === clientPid || e.server.process?.pid === serverPid))}`);
  return found[0]!;
}

function assertFigures(edge: Edge, client: ClientReport, what: string): void {
  assert.deepEqual(
    { connections: edge.connections, bytesSent: edge.bytesSent, bytesReceived: edge.bytesReceived },
    { connections: client.connections, bytesSent: client.sent, bytesReceived: client.received },
    `${what}: the edge's figures are what the client counted`,
  );
}

let pairs: HostPair[] = [];
let dnat: HostPair;
let inbound: HostPair;
let outbound: HostPair;
let rig: OneHostRig;

before(async () => {
  dnat = await linkedHosts('xsd', '10.82.1', 'fd82:1');
  pairs.push(dnat);
  inbound = await linkedHosts('xsi', '10.82.2', 'fd82:2');
  pairs.push(inbound);
  outbound = await linkedHosts('xso', '10.82.3', 'fd82:3');
  pairs.push(outbound);
  // The container's own service translations (kube-proxy in the pod's namespace, say), IPv4 and IPv6.
  await dnat.client.exec('ip', ['route', 'add', 'default', 'via', '10.82.1.2']);
  await dnat.client.exec('ip', ['-6', 'route', 'add', 'default', 'via', 'fd82:1::2']);
  await dnat.client.exec('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.82.9.9', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.82.1.2:8080']);
  await dnat.client.exec('ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd82:9::9', '--dport', '80', '-j', 'DNAT', '--to-destination', '[fd82:1::2]:8081']);
  // Inbound sidecar: whatever arrives for :8080 goes to the proxy's :15006.
  await inbound.server.exec('iptables', ['-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '--dport', '8080', '-j', 'REDIRECT', '--to-ports', '15006']);
  // Outbound sidecar: the app's connects to :9090 go to the proxy's :15001, the proxy's own (its group) do not.
  await outbound.client.exec('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9090', '-m', 'owner', '!', '--gid-owner', String(PROXY_GID), '-j', 'REDIRECT', '--to-ports', '15001']);
  const netns = new Set(pairs.flatMap((p) => [netnsInode(p.client.name), netnsInode(p.server.name)]));
  const own = ownNetns();
  const conntrack = new AllNetnsConntrackSource(new ConntrackSource({ logger: testLog, netns: own }), { logger: testLog, ownNetns: own });
  const ebpf = await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog });
  rig = await startOneHostRig([ebpf, conntrack], netns);
  await rig.tick();
});

after(async () => {
  await rig?.close();
  for (const p of pairs) await p.remove();
  pairs = [];
});

describe('conntrack of every namespace, and sidecar proxies, through the API', () => {
  it('resolves a DNAT made in a container-like namespace (IPv4 and IPv6), tagged with that namespace', async () => {
    const server4 = await startServer(spawnIn(dnat, 'server'), PROGRAMS.tcpServer, ['--host', '0.0.0.0', '--port', '8080', '--title', 'nsd-server4']);
    const server6 = await startServer(spawnIn(dnat, 'server'), PROGRAMS.tcpServer, ['--host', '::', '--port', '8081', '--title', 'nsd-server6']);
    let c4: ClientReport, c6: ClientReport, s4: ServerReport, s6: ServerReport;
    try {
      [c4, c6] = await whileTicking(rig, () => Promise.all([
        runClient(spawnIn(dnat, 'client'), PROGRAMS.tcpClient, clientArgs('10.82.9.9', 80, 'nsd-client4')),
        runClient(spawnIn(dnat, 'client'), PROGRAMS.tcpClient, clientArgs('fd82:9::9', 80, 'nsd-client6')),
      ]));
    } finally {
      s4 = await server4.stop();
      s6 = await server6.stop();
    }
    assert.deepEqual([s4.received, s4.sent, s6.received, s6.sent], [c4.sent, c4.received, c6.sent, c6.received], 'the programs agree');
    const edges = await rig.talkers(false);
    const clientNetns = netnsInode(dnat.client.name);
    for (const [client, server, vip, backend, port] of [[c4, s4, '10.82.9.9', '10.82.1.2', 8080], [c6, s6, 'fd82:9::9', 'fd82:1::2', 8081]] as const) {
      const edge = edgeOf(edges, client.pid, server.pid);
      assert.equal(edge.match, 'NAT_RESOLVED');
      assertFigures(edge, client, `DNAT to ${backend}`);
      assert.deepEqual(edge.server, { process: { pid: server.pid }, address: backend, port });
      assert.deepEqual(edge.nat.map((n) => [n.host?.id, n.netns, n.kind, n.original.destination, n.original.destinationPort, n.reply.source, n.reply.sourcePort]),
        [[HOST, clientNetns, 'DNAT', vip, 80, backend, port]], 'the translation of the client namespace\'s own table');
    }
  });

  it('inbound sidecar: client -> proxy through the REDIRECT, proxy -> app on loopback, and client -> app through the proxy', async () => {
    const app = await startServer(spawnIn(inbound, 'server'), PROGRAMS.tcpServer, ['--host', '127.0.0.1', '--port', '8080', '--title', 'nsi-app']);
    const proxy = await startServer(spawnIn(inbound, 'server'), PROXY, ['--host', '0.0.0.0', '--port', '15006', '--to-host', '127.0.0.1', '--to-port', '8080', '--title', 'nsi-proxy']);
    let client: ClientReport, appReport: ServerReport, proxyReport: { pid: number; connections: number; fromClients: number; toClients: number };
    try {
      client = await whileTicking(rig, () => runClient(spawnIn(inbound, 'client'), PROGRAMS.tcpClient, clientArgs('10.82.2.2', 8080, 'nsi-client')));
    } finally {
      appReport = await app.stop();
      proxyReport = await proxy.stop() as unknown as typeof proxyReport;
    }
    assert.deepEqual([proxyReport.fromClients, proxyReport.toClients, appReport.received, appReport.sent], [client.sent, client.received, client.sent, client.received], 'the programs agree');

    const plain = await rig.talkers(false);
    const toProxy = edgeOf(plain, client.pid, proxyReport.pid);
    assert.equal(toProxy.match, 'NAT_RESOLVED');
    assertFigures(toProxy, client, 'client -> proxy');
    assert.deepEqual(toProxy.server, { process: { pid: proxyReport.pid }, address: '10.82.2.2', port: 15006 });
    assert.deepEqual(toProxy.nat.map((n) => [n.netns, n.kind, n.original.destination, n.original.destinationPort, n.reply.source, n.reply.sourcePort]),
      [[netnsInode(inbound.server.name), 'DNAT', '10.82.2.2', 8080, '10.82.2.2', 15006]], 'the REDIRECT, from the server namespace\'s table');
    const toApp = edgeOf(plain, proxyReport.pid, appReport.pid);
    assert.equal(toApp.match, 'BOTH_ENDS');
    assert.deepEqual([toApp.connections, toApp.bytesSent, toApp.bytesReceived, toApp.server.address, toApp.server.port],
      [proxyReport.connections, proxyReport.fromClients, proxyReport.toClients, '127.0.0.1', 8080]);
    assert.deepEqual(toProxy.proxies, []);

    const through = await rig.talkers(true);
    const joined = edgeOf(through, client.pid, appReport.pid);
    assert.equal(joined.match, 'NAT_RESOLVED');
    assertFigures(joined, client, 'client -> app through the proxy');
    assert.deepEqual(joined.proxies, [{ process: { pid: proxyReport.pid }, address: '10.82.2.2', port: 15006 }]);
    assert.equal(joined.nat.length, 1);
    assert.equal(through.filter((e) => e.client.process?.pid === proxyReport.pid || e.server.process?.pid === proxyReport.pid).length, 0,
      'the proxy\'s legs are shown through it, not beside it');
  });

  it('outbound sidecar: app -> proxy through the REDIRECT, proxy -> real destination, and app -> server through the proxy', async () => {
    const server = await startServer(spawnIn(outbound, 'server'), PROGRAMS.tcpServer, ['--host', '0.0.0.0', '--port', '9090', '--title', 'nso-server']);
    const proxy = await startServer(spawnIn(outbound, 'client'), PROXY,
      ['--host', '127.0.0.1', '--port', '15001', '--to-host', '10.82.3.2', '--to-port', '9090', '--gid', String(PROXY_GID), '--title', 'nso-proxy']);
    let app: ClientReport, serverReport: ServerReport, proxyReport: { pid: number; connections: number; fromClients: number; toClients: number };
    try {
      app = await whileTicking(rig, () => runClient(spawnIn(outbound, 'client'), PROGRAMS.tcpClient, clientArgs('10.82.3.2', 9090, 'nso-app')));
    } finally {
      serverReport = await server.stop();
      proxyReport = await proxy.stop() as unknown as typeof proxyReport;
    }
    assert.deepEqual([proxyReport.fromClients, proxyReport.toClients, serverReport.received, serverReport.sent], [app.sent, app.received, app.sent, app.received], 'the programs agree');

    const plain = await rig.talkers(false);
    const toProxy = edgeOf(plain, app.pid, proxyReport.pid);
    assert.equal(toProxy.match, 'NAT_RESOLVED');
    assertFigures(toProxy, app, 'app -> proxy');
    assert.deepEqual(toProxy.server, { process: { pid: proxyReport.pid }, address: '127.0.0.1', port: 15001 });
    assert.deepEqual(toProxy.nat.map((n) => [n.netns, n.kind, n.original.destination, n.original.destinationPort, n.reply.source, n.reply.sourcePort]),
      [[netnsInode(outbound.client.name), 'DNAT', '10.82.3.2', 9090, '127.0.0.1', 15001]], 'the REDIRECT, from the app namespace\'s table');
    const toServer = edgeOf(plain, proxyReport.pid, serverReport.pid);
    assert.equal(toServer.match, 'BOTH_ENDS');
    assert.deepEqual([toServer.connections, toServer.bytesSent, toServer.bytesReceived, toServer.server.address, toServer.server.port],
      [proxyReport.connections, proxyReport.fromClients, proxyReport.toClients, '10.82.3.2', 9090]);

    const through = await rig.talkers(true);
    const joined = edgeOf(through, app.pid, serverReport.pid);
    assert.equal(joined.match, 'NAT_RESOLVED');
    assertFigures(joined, app, 'app -> server through the proxy');
    assert.deepEqual(joined.proxies, [{ process: { pid: proxyReport.pid }, address: '127.0.0.1', port: 15001 }]);
    assert.equal(through.filter((e) => e.client.process?.pid === proxyReport.pid || e.server.process?.pid === proxyReport.pid).length, 0,
      'the proxy\'s legs are shown through it, not beside it');
  });
});
