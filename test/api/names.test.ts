import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NameObservation } from '../../src/domain/dns.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { connection, processInfo, snapshot } from '../helpers/snapshots.js';
import { data, errorCodes, expectSqlSnapshot, startHarness, type Harness } from './harness.js';

/**
 * Names of addresses in the API, on the embedded store. Host web-1 (one snapshot a minute, t(0)..t(5)) runs `shop`,
 * which resolved pay.internal (a CNAME to pay-lb.internal) to 10.5.0.7 at t(0) - 10 s, TTL 30 s, and connected to it
 * at t(0)..t(2); pay.internal moved to 10.5.0.8 at t(3) - 5 s and `shop` connected there at t(3)..t(5). The collector
 * looked up 10.5.0.7 in reverse (node7.dc). 10.5.0.9 (cache) has no name. The SQL each operation issues is
 * snapshotted: names are read with one statement per request, whatever the number of rows.
 */
const SNAP = 'names.sql.json';
const N0 = Date.UTC(2024, 7, 1, 9, 0, 0);
const STEP = 60_000;
const t = (k: number): number => N0 + k * STEP;
const iso = (ms: number): string => new Date(ms).toISOString();
const SHOP = processInfo({ pid: 300, startedAtMs: N0 - 3_600_000, name: 'shop' });
const OLD = '10.5.0.7';
const NEW = '10.5.0.8';
const CACHE = '10.5.0.9';

function named(address: string, name: string, atMs: number, over: Partial<NameObservation> = {}): NameObservation {
  return { source: 'snoop', netns: 4026531840, address, name, asked: name === 'pay.internal', firstSeenMs: atMs, lastSeenMs: atMs, ttlSeconds: 30, pid: SHOP.pid, processStartedAtMs: SHOP.startedAtMs, ...over };
}

function web1(k: number) {
  const server = k < 3 ? OLD : NEW;
  const names: NameObservation[] = [];
  if (k === 0) names.push(named(OLD, 'pay.internal', t(0) - 10_000), named(OLD, 'pay-lb.internal', t(0) - 10_000),
    named(OLD, 'node7.dc', t(0) + 500, { source: 'reverse', netns: null, ttlSeconds: null, pid: null, processStartedAtMs: null }));
  if (k === 3) names.push(named(NEW, 'pay.internal', t(3) - 5_000), named(NEW, 'pay-lb.internal', t(3) - 5_000));
  return snapshot({
    hostId: 'web-1', timeMs: t(k), intervalMs: STEP, processes: [SHOP], names,
    connections: [
      connection({ localAddress: '10.5.0.2', localPort: 41000 + k, remoteAddress: server, remotePort: 443, process: SHOP, bytesSent: 100, bytesReceived: 1000 }),
      connection({ localAddress: '10.5.0.2', localPort: 42000 + k, remoteAddress: CACHE, remotePort: 6379, process: SHOP, bytesSent: 10, bytesReceived: 10 }),
    ],
  });
}

let h: Harness;

before(async () => {
  h = await startHarness();
  const writer = new SnapshotWriter(h.store.writer);
  for (let k = 0; k <= 5; k++) {
    const result = await writer.write(web1(k));
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

const ALL = { from: iso(t(0) - STEP), to: iso(t(5)) };

test('connections carry the names their remote address had at their time (one statement for every row)', async () => {
  const out = await run<{ connections: { edges: { node: { time: string; remoteAddress: string; remoteNames: string[]; localNames: string[] } }[] } }>(
    'connections with names',
    `query($r: TimeRange!) { connections(range: $r, first: 100) { edges { node { time remoteAddress remoteNames localNames } } } }`, { r: ALL });
  const rows = out.connections.edges.map((e) => [e.node.time, e.node.remoteAddress, e.node.remoteNames.join(','), e.node.localNames.length]);
  assert.deepEqual(rows.filter((r) => r[1] !== CACHE), [
    // The reverse name came after this row's time.
    [iso(t(0)), OLD, 'pay-lb.internal,pay.internal', 0],
    [iso(t(1)), OLD, 'node7.dc,pay-lb.internal,pay.internal', 0],
    [iso(t(2)), OLD, 'node7.dc,pay-lb.internal,pay.internal', 0],
    [iso(t(3)), NEW, 'pay-lb.internal,pay.internal', 0],
    [iso(t(4)), NEW, 'pay-lb.internal,pay.internal', 0],
    [iso(t(5)), NEW, 'pay-lb.internal,pay.internal', 0],
  ]);
  assert.ok(rows.filter((r) => r[1] === CACHE).every((r) => r[2] === ''), 'an address without a name has none');
});

test('talkers group by NAME (both addresses of pay.internal in one node) and filter by a name suffix', async () => {
  const out = await run<{ talkers: { edges: { client: { node: { kind: string; name: string } }; server: { node: { kind: string; name: string }; addresses: string[]; names: string[] }; connections: number }[] } }>(
    'talkers by name',
    `query($r: TimeRange!) { talkers(range: $r, groupBy: NAME) { edges { connections client { node { kind name } } server { node { kind name } addresses names } } } }`, { r: ALL });
  // Both addresses group under the name `shop` asked for (not the CNAME target, not the reverse name); the client
  // has no name and falls back to its host, the cache to its address.
  assert.deepEqual(out.talkers.edges.map((e) => [e.client.node.kind, e.client.node.name, e.server.node.kind, e.server.node.name, e.server.addresses, e.server.names, e.connections]), [
    ['HOST', 'web-1', 'NAME', 'pay.internal', [OLD, NEW], ['node7.dc', 'pay-lb.internal', 'pay.internal'], 6],
    ['HOST', 'web-1', 'ADDRESS', CACHE, [CACHE], [], 6],
  ]);
  const filtered = await run<{ talkers: { edges: { server: { addresses: string[] } }[] } }>(
    'talkers filtered by name',
    `query($r: TimeRange!) { talkers(range: $r, filter: { name: "Internal" }) { edges { server { addresses } } } }`, { r: ALL });
  assert.deepEqual(filtered.talkers.edges.map((e) => e.server.addresses).sort(), [[OLD], [NEW]]);
});

test('names(address) and addresses(name): what an address was called, which addresses a name had, per time', async () => {
  const names = await run<{ names: { name: string; source: string; host: { id: string }; ttl: number | null; process: { pid: number; name: string } | null; firstSeen: string }[] }>(
    'names of an address',
    `query($r: TimeRange!) { names(address: "${OLD}", range: $r) { name source host { id } ttl process { pid name } firstSeen } }`, { r: { from: iso(t(1)), to: iso(t(2)) } });
  assert.deepEqual(names.names, [
    { name: 'node7.dc', source: 'REVERSE', host: { id: 'web-1' }, ttl: null, process: null, firstSeen: iso(t(0) + 500) },
    { name: 'pay-lb.internal', source: 'SNOOP', host: { id: 'web-1' }, ttl: 30, process: { pid: 300, name: 'shop' }, firstSeen: iso(t(0) - 10_000) },
    { name: 'pay.internal', source: 'SNOOP', host: { id: 'web-1' }, ttl: 30, process: { pid: 300, name: 'shop' }, firstSeen: iso(t(0) - 10_000) },
  ]);
  const before = await run<{ addresses: { address: string }[] }>('addresses before the move',
    `query($r: TimeRange!) { addresses(name: "PAY.internal.", range: $r) { address } }`, { r: { from: iso(t(0) - 20_000), to: iso(t(1)) } });
  const afterMove = await run<{ addresses: { address: string }[] }>('addresses after the move',
    `query($r: TimeRange!) { addresses(name: "pay.internal", range: $r) { address } }`, { r: { from: iso(t(3)), to: iso(t(5)) } });
  assert.deepEqual([before.addresses.map((a) => a.address), afterMove.addresses.map((a) => a.address)], [[OLD], [NEW]]);
});

test('bad arguments are refused with BAD_USER_INPUT before the store is asked', async () => {
  const sql = await h.recordSql(async () => {
    assert.deepEqual(errorCodes(await h.gql(`{ names(address: "pay.internal", range: { from: "${iso(t(0))}", to: "${iso(t(1))}" }) { name } }`)), ['BAD_USER_INPUT']);
    assert.deepEqual(errorCodes(await h.gql(`{ addresses(name: "a..b", range: { from: "${iso(t(0))}", to: "${iso(t(1))}" }) { address } }`)), ['BAD_USER_INPUT']);
  });
  assert.deepEqual(sql, []);
});
