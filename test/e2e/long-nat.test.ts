import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runScenario, type Scenario } from './scenario.js';

/**
 * Issue 10, item 5: a long-lived connection through the router's DNAT (VIP) and MASQUERADE, with traffic in
 * every interval, stays joined in every interval of its life: each one-second window holds one NAT_RESOLVED
 * edge from the client program to the server program, and no SERVER_ONLY edge from a bare address carrying
 * bytes already counted. Conntrack runs on the router only (no Docker-like conntrack on the hosts), under each
 * source mode of the collectors; the whole run's bytes are what the client counted (eBPF).
 */
const LONG_SECONDS = 40;

interface Endpoint { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null }
interface Edge { match: string; connections: number; bytesSent: number; bytesReceived: number; client: Endpoint; server: Endpoint }

const TALKERS = `query ($range: TimeRange!) {
  talkers(range: $range, groupBy: PROCESS, resolution: RAW) {
    edges {
      match connections bytesSent bytesReceived
      client { host { id } process { pid name } address port }
      server { host { id } process { pid name } address port }
    }
  }
}`;

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

async function trafficEdges(s: Scenario, fromMs: number, toMs: number): Promise<Edge[]> {
  const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  const { edges } = (await s.graphql<{ talkers: { edges: Edge[] } }>(TALKERS, { range })).talkers;
  // The scenario's traffic: to the VIP's port or the server program's (the collectors' own writes go to the router).
  const ports = new Set([s.topology.serverPort, s.topology.vipPort]);
  return edges.filter((e) => e.server.port !== null && ports.has(e.server.port) && e.server.host?.id !== 'router');
}

describe('a long-lived connection through DNAT + MASQUERADE', () => {
  for (const [i, source] of (['ebpf', 'procfs'] as const).entries()) {
    it(`${source}: joined in every interval of its life`, async () => {
      const s = await runScenario(() => undefined, {
        longConnections: 1, shortConnections: 0, longSeconds: LONG_SECONDS, source,
        topology: { runId: `l${i}${process.pid % 1000}`, subnet: 141 + i },
      });
      try {
        const whole = await trafficEdges(s, s.startedAt.getTime(), Date.now() + 1000);
        assert.equal(whole.length, 1, JSON.stringify(whole, null, 2));
        const edge = whole[0] as Edge;
        assert.equal(edge.match, 'NAT_RESOLVED');
        assert.equal(edge.client.process?.pid, s.client.pid);
        assert.equal(edge.server.process?.pid, s.serverPid);
        assert.equal(edge.connections, 1);
        if (source === 'ebpf') {
          within1pct(edge.bytesSent, s.client.sent, 'bytes sent');
          within1pct(edge.bytesReceived, s.client.received, 'bytes received');
        }

        // Whole one-second windows inside the connection's life, each covered by a snapshot of all three hosts (a
        // window without one cannot say whether the ends were joined; a loaded machine may skip a tick). The
        // snapshot stamped t + 1 s covers the window [t, t + 1 s).
        const first = Math.ceil(s.trafficAt.getTime() / 1000) * 1000 + 2000;
        const last = s.trafficAt.getTime() + (LONG_SECONDS - 2) * 1000;
        const covered = new Set((await s.sqlAsReader<{ t: string }>(
          `SELECT (extract(epoch from time) * 1000)::bigint::text AS t FROM bi.snapshots
           WHERE host_id IN ('client', 'server', 'router') AND time >= $1 AND time < $2 GROUP BY time HAVING count(DISTINCT host_id) = 3`,
          [new Date(first + 1000).toISOString(), new Date(last + 1000).toISOString()])).map((r) => Number(r.t)));
        let windows = 0;
        for (let t = first; t + 1000 <= last; t += 1000) {
          if (!covered.has(t + 1000)) continue;
          const at = new Date(t).toISOString();
          const edges = await trafficEdges(s, t, t + 1000);
          assert.equal(edges.length, 1, `${at}: ${JSON.stringify(edges, null, 2)}`);
          assert.equal(edges[0]!.match, 'NAT_RESOLVED', `${at}: ${JSON.stringify(edges, null, 2)}`);
          assert.equal(edges[0]!.client.process?.pid, s.client.pid, at);
          assert.equal(edges[0]!.server.process?.pid, s.serverPid, at);
          if (source === 'ebpf') assert.ok(edges[0]!.bytesSent > 0, `${at}: the connection sends in every interval`);
          windows++;
        }
        assert.ok(windows >= LONG_SECONDS / 2, `only ${windows} windows had a snapshot of every host`);
      } finally {
        await s.dispose();
      }
    });
  }
});
