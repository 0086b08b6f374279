import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConnectionSource } from '../../src/collector/source.js';
import { EbpfSource } from '../../src/collector/sources/ebpf/ebpf-source.js';
import { ProcfsSource } from '../../src/collector/sources/procfs-source.js';
import { ensureHelper } from '../collector/ebpf/support.js';
import { testLog } from '../helpers/env.js';
import {
  exchangeWhileTicking, linkedHosts, startRig, TALKERS_RAW, type ExchangeOutcome, type HostPair, type Rig, type TalkerEdge,
} from './truth-rig.js';

/**
 * Half-closing HTTP/1.0-style clients (request, shutdown(SHUT_WR), then read the reply) on one host talking
 * to servers on another, over IPv4 and IPv6, asked through the API (issue 10, item 1). Each program counts
 * its own bytes; the edge must have exactly their connections, bytes within 1% (eBPF), and both ends.
 * /proc has no byte counters: in that mode the connections and both ends must still be right.
 */
const FAMILIES = [
  { family: 'IPv4', server: '10.91.0.2', port: 7501 },
  { family: 'IPv6', server: 'fd91::2', port: 7502 },
] as const;

let pair: HostPair;

before(async () => {
  pair = await linkedHosts('ctt', '10.91.0', 'fd91');
});

after(async () => {
  await pair?.remove();
});

async function edgesOf(rig: Rig, name: string, from: Date): Promise<TalkerEdge[]> {
  const range = { from: new Date(from.getTime() - 5000).toISOString(), to: new Date(Date.now() + 5000).toISOString() };
  return (await rig.gql<{ talkers: { edges: TalkerEdge[] } }>(TALKERS_RAW, { range, name })).talkers.edges;
}

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

function assertEdge(edges: TalkerEdge[], o: ExchangeOutcome): TalkerEdge {
  assert.equal(edges.length, 1, JSON.stringify(edges, null, 2));
  const edge = edges[0] as TalkerEdge;
  assert.equal(edge.match, 'BOTH_ENDS');
  assert.deepEqual(edge.client.host, { id: 'cttclient' });
  assert.deepEqual(edge.client.process, { pid: o.clientPid, name: o.spec.clientName });
  assert.deepEqual(edge.server.host, { id: 'cttserver' });
  assert.deepEqual(edge.server.process, { pid: o.serverPid, name: o.spec.serverName });
  assert.equal(edge.server.address, o.spec.server);
  assert.equal(edge.server.port, o.spec.port);
  assert.equal(edge.connections, o.client.length);
  return edge;
}

describe('half-closing HTTP/1.0-style clients across two hosts, asked through the API', () => {
  for (const mode of ['ebpf', 'procfs'] as const) {
    it(`${mode}: one edge per family, both ends, every connection${mode === 'ebpf' ? ', bytes within 1%' : ''}`, async () => {
      const source: ConnectionSource = mode === 'ebpf'
        ? await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog })
        : new ProcfsSource({ netns: 'all', logger: testLog });
      const rig = await startRig(source, pair.hosts);
      try {
        await rig.tick();
        const from = new Date();
        const tag = mode === 'ebpf' ? 'hce' : 'hcp';
        const reply = mode === 'ebpf' ? 1_000_000 : 2000;
        // The server answers 2.5 s after the request, so that a /proc scan sees the connections too.
        const outcomes = await exchangeWhileTicking(rig, pair, FAMILIES.map((f, i) => ({
          server: f.server, port: f.port, count: 4, clientMode: 'halfclose', serverMode: 'slow', request: 300, reply, concurrency: 4,
          clientName: `${tag}c${i}`, serverName: `${tag}s${i}`,
        })));
        for (const [i, f] of FAMILIES.entries()) {
          const o = outcomes[i] as ExchangeOutcome;
          assert.ok(o.client.every((c) => c.read === reply), 'the clients read every byte');
          const edge = assertEdge(await edgesOf(rig, o.spec.clientName, from), o);
          if (mode === 'ebpf') {
            within1pct(edge.bytesSent, o.client.reduce((n, c) => n + c.sent, 0), `${f.family} bytes sent by the clients`);
            within1pct(edge.bytesReceived, o.server.reduce((n, s) => n + s.sent, 0), `${f.family} bytes received by the clients`);
          }
        }
      } finally {
        await rig.close();
      }
    });
  }
});
