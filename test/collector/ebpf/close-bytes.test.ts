import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { EbpfSource } from '../../../src/collector/sources/ebpf/ebpf-source.js';
import { Tracker } from '../../../src/collector/tracker.js';
import { createNamespace, type Namespace } from '../../helpers/netns.js';
import { ensureHelper, readUntil, spawnChild, type NodeChild } from './support.js';

/**
 * Bytes of a TCP connection are exact however it ends (issue 10, item 1). Real programs in a fresh network
 * namespace (loopback in a non-root namespace, IPv4 and IPv6, and a DNAT in the namespace's own OUTPUT
 * chain) end their connections by half-close, FIN, reset (SO_LINGER 0) and close with unread data, count
 * their own bytes, and the eBPF source must report exactly those counts on both ends. Before the fix a
 * socket reaching TCP_CLOSE with data still queued (TIME_WAIT after a half-close) had its close record sent
 * and its later reads dropped.
 */
const PROGRAM = fileURLToPath(new URL('../../programs/close-modes.js', import.meta.url));

interface ClientConn { localPort: number; sent: number; read: number }
interface ServerConn { remotePort: number; received: number; sent: number }

let ns: Namespace;
let nsInode: number;
let source: EbpfSource;
const children: NodeChild[] = [];

function inNs(args: readonly string[]): NodeChild {
  const child = spawnChild('ip', ['netns', 'exec', ns.name, process.execPath, PROGRAM, ...args]);
  children.push(child);
  return child;
}

/** Runs a server and a client to completion; returns what each counted, keyed by the client's port. */
async function exchange(host: string, port: number, count: number, clientMode: string, serverMode: string, request: number, reply: number,
  concurrency = 1, connectTo = host, connectPort = port): Promise<{ client: ClientConn[]; server: Map<number, ServerConn> }> {
  const server = inNs(['server', host, String(port), 'cm-server']);
  await server.nextJson<{ pid: number }>();
  const client = inNs(['client', connectTo, String(connectPort), String(count), clientMode, serverMode, String(request), String(reply),
    String(concurrency), 'cm-client']);
  const report = await client.nextJson<{ connections: ClientConn[] }>(120_000);
  const byPort = new Map<number, ServerConn>();
  while (byPort.size < count) {
    const s = await server.nextJson<ServerConn>(30_000);
    byPort.set(s.remotePort, s);
  }
  await client.finish();
  await server.finish();
  return { client: report.connections, server: byPort };
}

function endpointKey(o: SocketObservation): string {
  return `${o.local.port}>${o.remote.port}`;
}

/** Reads the source until every connection has a closed record on both ends; the closed records by endpoint. */
async function closedRecords(serverPort: number, clientPorts: readonly number[]): Promise<Map<string, SocketObservation>> {
  const want = clientPorts.flatMap((p) => [`${p}>${serverPort}`, `${serverPort}>${p}`]);
  const closed = new Map<string, SocketObservation>();
  const collect = (all: SocketObservation[]): boolean => {
    for (const o of all) {
      if (o.netns === nsInode && o.protocol === 'tcp' && o.closedAtMs !== null) closed.set(endpointKey(o), o);
    }
    return want.every((k) => closed.has(k));
  };
  await readUntil(source, collect, 30_000);
  const missing = want.filter((k) => !closed.has(k));
  assert.deepEqual(missing, [], `no close record for ${missing.length} of ${want.length} sockets`);
  return closed;
}

/** Every connection, both ends: exactly the bytes the programs counted. */
function assertExact(closed: Map<string, SocketObservation>, serverPort: number, client: ClientConn[], server: Map<number, ServerConn>,
  clientReceives: (c: ClientConn, s: ServerConn) => number = (_c, s) => s.sent): void {
  const wrong: string[] = [];
  for (const c of client) {
    const s = server.get(c.localPort);
    assert.ok(s, `the server did not report the connection from port ${c.localPort}`);
    const clientSide = closed.get(`${c.localPort}>${serverPort}`) as SocketObservation;
    const serverSide = closed.get(`${serverPort}>${c.localPort}`) as SocketObservation;
    const expected = { clientSent: c.sent, clientReceived: clientReceives(c, s), serverSent: s.sent, serverReceived: s.received };
    const got = { clientSent: clientSide.bytesSent, clientReceived: clientSide.bytesReceived, serverSent: serverSide.bytesSent, serverReceived: serverSide.bytesReceived };
    if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`port ${c.localPort}: got ${JSON.stringify(got)}, the programs counted ${JSON.stringify(expected)}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length} of ${client.length} connections with wrong bytes`);
}

before(async () => {
  ensureHelper();
  ns = await createNamespace('cttcb');
  nsInode = statSync(`/run/netns/${ns.name}`).ino;
  // A second address and a kube-proxy style DNAT in the namespace's own OUTPUT chain: VIP 10.89.1.1:80 -> 10.89.0.1:7408.
  // (A veth pair inside the namespace: the dummy driver is not everywhere.)
  await ns.exec('ip', ['link', 'add', 'ctd0', 'type', 'veth', 'peer', 'name', 'ctd1']);
  await ns.exec('ip', ['addr', 'add', '10.89.0.1/24', 'dev', 'ctd0']);
  await ns.exec('ip', ['link', 'set', 'ctd0', 'up']);
  await ns.exec('ip', ['link', 'set', 'ctd1', 'up']);
  await ns.exec('ip', ['route', 'add', '10.89.1.0/24', 'dev', 'ctd0']);
  await ns.exec('iptables', ['-t', 'nat', '-A', 'OUTPUT', '-d', '10.89.1.1', '-p', 'tcp', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.89.0.1:7408']);
  source = await EbpfSource.start({ helperPath: ensureHelper() });
});

after(async () => {
  for (const c of children) await c.finish(2_000).catch(() => undefined);
  await source?.close();
  await ns?.remove();
});

describe('eBPF bytes of TCP connections however they end (real programs in a network namespace)', () => {
  for (const [family, host, port] of [['IPv4', '127.0.0.1', 7401], ['IPv6', '::1', 7402]] as const) {
    it(`half-closing HTTP/1.0-style clients, ${family}: the reply read after the half-close is counted (2 MB each)`, async () => {
      const { client, server } = await exchange(host, port, 5, 'halfclose', 'close', 200, 2_000_000);
      assert.ok(client.every((c) => c.read === 2_000_000), 'the clients read every byte themselves');
      const closed = await closedRecords(port, client.map((c) => c.localPort));
      assertExact(closed, port, client, server);
    });
  }

  it('a server that resets after its reply (SO_LINGER 0): both ends exact', async () => {
    const { client, server } = await exchange('127.0.0.1', 7403, 3, 'normal', 'reset', 300, 100_000);
    const closed = await closedRecords(7403, client.map((c) => c.localPort));
    assertExact(closed, 7403, client, server);
  });

  it('a client that closes with the reply unread (RST): what arrived counts, though the program read none of it', async () => {
    const { client, server } = await exchange('127.0.0.1', 7404, 3, 'unread', 'wait', 300, 50_000);
    assert.ok(client.every((c) => c.read === 0), 'the clients read nothing');
    const closed = await closedRecords(7404, client.map((c) => c.localPort));
    assertExact(closed, 7404, client, server);
  });

  it('a reset with the reply in flight: the sender counts what reached the peer, not what it handed to its socket', async () => {
    // 16 MB toward a client that never reads: the client's receive buffer fills, megabytes wait in the
    // server's socket, and the client's close resets the connection. The server's close record must say
    // what the client's kernel took (its own close record), as the kernel's counters do.
    const { client } = await exchange('127.0.0.1', 7409, 2, 'unread', 'wait', 300, 16_000_000);
    const closed = await closedRecords(7409, client.map((c) => c.localPort));
    const wrong: string[] = [];
    for (const c of client) {
      const clientSide = closed.get(`${c.localPort}>7409`) as SocketObservation;
      const serverSide = closed.get(`7409>${c.localPort}`) as SocketObservation;
      const got = { serverSent: serverSide.bytesSent, serverReceived: serverSide.bytesReceived };
      const expected = { serverSent: clientSide.bytesReceived, serverReceived: c.sent };
      if (JSON.stringify(got) !== JSON.stringify(expected)) wrong.push(`port ${c.localPort}: server got ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
      assert.ok((clientSide.bytesReceived ?? 0) < 16_000_000, 'the reply did not all arrive (the case under test)');
      assert.equal(clientSide.bytesSent, c.sent);
    }
    assert.deepEqual(wrong, []);
  });

  it('200 short half-closing connections on loopback in a non-root namespace: none loses its reply', async () => {
    const { client, server } = await exchange('127.0.0.1', 7405, 200, 'halfclose', 'close', 100, 100, 10);
    const closed = await closedRecords(7405, client.map((c) => c.localPort));
    assertExact(closed, 7405, client, server);
  });

  it('200 short half-closing connections through a DNAT in the client\'s OUTPUT chain: both ends exact', async () => {
    const { client, server } = await exchange('10.89.0.1', 7408, 200, 'halfclose', 'close', 100, 300, 10, '10.89.1.1', 80);
    // The client's socket names the VIP; the server's names the client's address.
    const want = new Set(client.map((c) => c.localPort));
    const closed = new Map<string, SocketObservation>();
    await readUntil(source, (all) => {
      for (const o of all) {
        if (o.netns !== nsInode || o.protocol !== 'tcp' || o.closedAtMs === null) continue;
        if (o.remote.address === '10.89.1.1' && o.remote.port === 80 && want.has(o.local.port)) closed.set(`${o.local.port}>7408`, o);
        if (o.local.port === 7408 && want.has(o.remote.port)) closed.set(`7408>${o.remote.port}`, o);
      }
      return closed.size === 2 * want.size;
    }, 30_000);
    assert.equal(closed.size, 2 * want.size, 'a close record for every socket');
    assertExact(closed, 7408, client, server);
  });

  it('a connection that lives several intervals: per-interval deltas are not zero while it talks, and sum to the programs\' counts', async () => {
    const tracker = new Tracker({ hostId: 'tcp-truth', intervalMs: 1000, elision: null });
    const server = inNs(['server', '127.0.0.1', '7406', 'cm-server']);
    await server.nextJson();
    const client = inNs(['client', '127.0.0.1', '7406', '1', 'long', 'echo', '50000', '0', '1', 'cm-client']);
    const sums = { sent: 0, received: 0 };
    const perInterval: number[] = [];
    let report: { connections: ClientConn[] } | null = null;
    void client.nextJson<{ connections: ClientConn[] }>(60_000).then((r) => { report = r; });
    let closedSeen = false;
    for (let i = 0; i < 60 && !closedSeen; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const reading = await source.read(AbortSignal.timeout(15_000));
      const snapshot = tracker.build({ timeMs: Date.now(), readings: [reading] });
      let interval = 0;
      for (const row of snapshot.connections) {
        if (row.netns !== nsInode || row.protocol !== 'tcp' || row.remotePort !== 7406) continue;
        sums.sent += row.bytesSent ?? 0;
        sums.received += row.bytesReceived ?? 0;
        interval += (row.bytesSent ?? 0) + (row.bytesReceived ?? 0);
        if (row.closedAtMs !== null) closedSeen = true;
      }
      perInterval.push(interval);
    }
    assert.ok(closedSeen, 'the connection\'s close was reported');
    await new Promise((r) => setTimeout(r, 200));
    const conn = (report as { connections: ClientConn[] } | null)?.connections[0];
    assert.ok(conn, 'the client reported its connection');
    assert.equal(conn.sent, 12 * 50_000 + '0 echo 50000\n'.length);
    assert.deepEqual(sums, { sent: conn.sent, received: conn.read });
    // About 5 s of traffic read every second: most intervals carry some of it, none carries it all.
    assert.ok(perInterval.filter((b) => b > 0).length >= 3, `bytes per interval: ${perInterval.join(', ')}`);
    await client.finish();
    await server.finish();
  });
});
