import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConnectionSource, SourceReading } from '../../src/collector/source.js';
import { EbpfSource } from '../../src/collector/sources/ebpf/ebpf-source.js';
import { ProcfsSource } from '../../src/collector/sources/procfs-source.js';
import { Tracker } from '../../src/collector/tracker.js';
import { createApiServer } from '../../src/api/index.js';
import { SnapshotWriter, refreshAggregates } from '../../src/store/index.js';
import { ensureHelper } from '../collector/ebpf/support.js';
import { freshStore, testLog } from '../helpers/env.js';
import { createNamespace, type Namespace } from '../helpers/netns.js';
import { exchangeWhileTicking, netnsInode, type ExchangeOutcome, type HostPair, type Rig } from './truth-rig.js';

/**
 * Issue 10, item 6: two network namespaces on ONE host (as two containers would be), each with a server on
 * 127.0.0.1:7811 and a client in the same namespace talking to it, with different, self-counted connections
 * and bytes. One collector sees both namespaces. At every resolution (the aggregates included, read over a
 * window of whole days so that every aggregate level is used) each client must be joined only to the server of
 * its own namespace: the address and port are the same, only the namespace tells them apart.
 */
const HOST = 'twinhost';
const ADDRESS = '127.0.0.1';
const PORT = 7811;
const INTERVAL_MS = 1000;
const DAY_MS = 86_400_000;
const RESOLUTIONS = ['RAW', 'MINUTE', 'HOUR', 'DAY', 'AUTO'] as const;

/** Different shapes per namespace, so that a cross-namespace join shows in pids, counts and bytes alike. */
const TWINS = [
  { suffix: 'a', count: 3, request: 300, reply: 120_000 },
  { suffix: 'b', count: 5, request: 900, reply: 310_000 },
] as const;

const TALKERS = `query ($range: TimeRange!, $name: String!, $r: Resolution) {
  talkers(range: $range, groupBy: PROCESS, filter: { processName: $name }, resolution: $r) {
    resolution
    edges {
      match connections bytesSent bytesReceived
      client { host { id } process { pid name } address }
      server { host { id } process { pid name } address port }
    }
  }
}`;

interface Edge {
  match: string; connections: number; bytesSent: number; bytesReceived: number;
  client: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null };
  server: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null };
}

let namespaces: Namespace[] = [];

before(async () => {
  for (const t of TWINS) namespaces.push(await createNamespace(`ctw${t.suffix}`));
});

after(async () => {
  for (const ns of namespaces) await ns.remove();
  namespaces = [];
});

/** Only this test's namespaces: other people's sockets on this machine are not ours to count. */
function ofNamespaces(r: SourceReading, netns: ReadonlySet<number>): SourceReading {
  const observations = r.observations.filter((o) => netns.has(o.netns));
  const owners = new Set(observations.map((o) => (o.process === null ? '' : `${o.process.pid}/${o.process.startedAtMs}`)));
  return {
    observations,
    nat: [],
    listening: r.listening.filter((l) => netns.has(l.netns)),
    processes: r.processes.filter((p) => owners.has(`${p.pid}/${p.startedAtMs}`)),
    run: r.run,
  };
}

/** One collector on one host seeing both namespaces: one tracker, one snapshot per interval. */
async function startOneHostRig(source: ConnectionSource, netns: ReadonlySet<number>) {
  const { store, dispose } = await freshStore();
  const writer = new SnapshotWriter(store.writer);
  const tracker = new Tracker({ hostId: HOST, intervalMs: INTERVAL_MS, elision: null });
  const api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: {}, token: null });
  let lastTimeMs = 0;
  try {
    const { url } = await api.start();
    const rig: Rig & { refresh(fromMs: number, toMs: number): Promise<void> } = {
      async tick() {
        const reading = await source.read(AbortSignal.timeout(30_000));
        const timeMs = Math.max(lastTimeMs + INTERVAL_MS, Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS);
        lastTimeMs = timeMs;
        const result = await writer.write(tracker.build({ timeMs, readings: [ofNamespaces(reading, netns)] }));
        if (result.rejected.length > 0) throw new Error(`rows rejected: ${JSON.stringify(result.rejected)}`);
      },
      async restart() {
        throw new Error('not used here');
      },
      async gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
        const body = (await res.json()) as { data?: T; errors?: unknown[] };
        if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
        return body.data as T;
      },
      refresh: (fromMs, toMs) => refreshAggregates(store.admin, fromMs, toMs),
      async close() {
        await source.close().catch(() => undefined);
        await api.stop();
        await dispose();
      },
    };
    return rig;
  } catch (err) {
    await source.close().catch(() => undefined);
    await api.stop().catch(() => undefined);
    await dispose();
    throw err;
  }
}

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

describe('two namespaces on one host reusing 127.0.0.1:7811, asked at every resolution', () => {
  for (const mode of ['ebpf', 'procfs'] as const) {
    it(`${mode}: each client is joined only to the server of its own namespace`, async () => {
      const source: ConnectionSource = mode === 'ebpf'
        ? await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog })
        : new ProcfsSource({ netns: 'all', logger: testLog });
      const rig = await startOneHostRig(source, new Set(namespaces.map((ns) => netnsInode(ns.name))));
      try {
        await rig.tick();
        const tag = mode === 'ebpf' ? 'twe' : 'twp';
        // Both namespaces at once: their connections share the same intervals (and so the same aggregate buckets).
        const outcomes = await Promise.all(TWINS.map((t, i) => {
          const ns = namespaces[i] as Namespace;
          const pair: HostPair = { client: ns, server: ns, hosts: new Map(), remove: async () => undefined };
          return exchangeWhileTicking(rig, pair, [{
            server: ADDRESS, port: PORT, count: t.count, clientMode: 'halfclose', serverMode: 'slow', request: t.request,
            reply: t.reply, concurrency: t.count, clientName: `${tag}c${t.suffix}`, serverName: `${tag}s${t.suffix}`,
          }]).then((o) => o[0] as ExchangeOutcome);
        }));
        // A window of whole days around the traffic: every aggregate level has whole buckets inside it.
        const fromMs = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
        const toMs = fromMs + 3 * DAY_MS;
        await rig.refresh(fromMs, toMs);
        const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
        const pids = new Set(outcomes.flatMap((o) => [o.clientPid, o.serverPid]));
        for (const o of outcomes) {
          assert.equal(o.client.length, o.spec.count, 'every connection was made');
          assert.ok(o.client.every((c) => c.read === o.spec.reply), 'the clients read every byte');
          for (const resolution of RESOLUTIONS) {
            const answer = (await rig.gql<{ talkers: { resolution: string; edges: Edge[] } }>(TALKERS, { range, name: o.spec.clientName, r: resolution })).talkers;
            // Only edges touching this test's processes (the filter already keeps to the client's name).
            const edges = answer.edges.filter((e) => pids.has(e.client.process?.pid ?? -1) || pids.has(e.server.process?.pid ?? -1));
            const what = `${mode} ${resolution} (answered at ${answer.resolution}) ${o.spec.clientName}`;
            // The aggregates really answer: a window of whole days is never read from raw rows alone but at RAW.
            if (resolution === 'AUTO') assert.notEqual(answer.resolution, 'RAW', what);
            else assert.equal(answer.resolution, resolution, what);
            assert.equal(edges.length, 1, `${what}: ${JSON.stringify(edges, null, 2)}`);
            const edge = edges[0] as Edge;
            assert.equal(edge.match, 'BOTH_ENDS', what);
            assert.deepEqual(edge.client.host, { id: HOST }, what);
            assert.deepEqual(edge.client.process, { pid: o.clientPid, name: o.spec.clientName }, what);
            assert.deepEqual(edge.server.host, { id: HOST }, what);
            assert.deepEqual(edge.server.process, { pid: o.serverPid, name: o.spec.serverName }, what);
            assert.equal(edge.server.address, ADDRESS, what);
            assert.equal(edge.server.port, PORT, what);
            assert.equal(edge.connections, o.spec.count, what);
            if (mode === 'ebpf') {
              within1pct(edge.bytesSent, o.client.reduce((n, c) => n + c.sent, 0), `${what}: bytes sent by the client`);
              within1pct(edge.bytesReceived, o.server.reduce((n, s) => n + s.sent, 0), `${what}: bytes received by the client`);
            }
          }
        }
      } finally {
        await rig.close();
      }
    });
  }
});
