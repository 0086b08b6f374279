import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConnectionSource } from '../../src/collector/source.js';
import { EbpfSource } from '../../src/collector/sources/ebpf/ebpf-source.js';
import { ProcfsSource } from '../../src/collector/sources/procfs-source.js';
import { ensureHelper, nodeChild, type NodeChild } from '../collector/ebpf/support.js';
import { eventually } from '../helpers/netns.js';
import { testLog } from '../helpers/env.js';
import { linkedHosts, startRig, TALKERS_RAW, type HostPair, type Rig, type TalkerEdge } from './truth-rig.js';

/**
 * Issue 10, item 4: a connection caught in the server's accept queue by a snapshot (the handshake is done, no
 * process has accept()ed it yet: no inode, no owner) and owned in the next one is ONE connection of the
 * accepting process; and after the server closes first, its TIME_WAIT socket (ownerless again) is still that
 * connection. The server blocks its event loop for a while (as a busy server does) so that a tick falls
 * between the handshake and the accept; both programs count their own bytes.
 */
const SERVER_ADDRESS = '10.92.0.2';
const PORT = 7611;
const REQUEST = 400;
const REPLY = 60_000;
const BLOCK_MS = 4000;
/** How long the server keeps the accepted connection before it answers: longer than an interval. */
const HOLD_MS = 2500;

/**
 * Answers REPLY bytes HOLD ms after it has REQUEST bytes (so that a snapshot sees the accepted socket owned), then
 * closes first; `block MS` on stdin blocks its event loop.
 */
const SERVER = `
import net from 'node:net';
import readline from 'node:readline';
const [host, port, name, request, reply, hold] = process.argv.slice(1);
process.title = name;
let received = 0, sent = 0;
const srv = net.createServer((s) => {
  let got = 0;
  s.on('data', (d) => {
    got += d.length; received += d.length;
    if (got === Number(request)) setTimeout(() => s.end(Buffer.alloc(Number(reply), 0x61), () => { sent += Number(reply); }), Number(hold));
  });
  s.on('error', () => undefined);
});
srv.listen(Number(port), host, () => console.log(JSON.stringify({ pid: process.pid })));
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const ms = Number(line.split(' ')[1]);
  console.log(JSON.stringify({ blocking: true }));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  console.log(JSON.stringify({ unblockedAt: Date.now() }));
});
rl.on('close', () => { console.log(JSON.stringify({ pid: process.pid, received, sent })); srv.close(); process.exit(0); });
`;

/** One connection: sends the request, reads the reply to its end, then closes. */
const CLIENT = `
import net from 'node:net';
const [host, port, name, request] = process.argv.slice(1);
process.title = name;
let received = 0;
const c = net.connect({ host, port: Number(port) }, () => c.write(Buffer.alloc(Number(request), 0x62)));
c.on('data', (d) => { received += d.length; });
c.on('end', () => {
  c.end();
  console.log(JSON.stringify({ pid: process.pid, localPort: c.localPort, sent: Number(request), received }));
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

let pair: HostPair;

before(async () => {
  pair = await linkedHosts('ctq', '10.92.0', 'fd92');
});

after(async () => {
  await pair?.remove();
});

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

describe('a connection caught in the accept queue, then accepted, then in TIME_WAIT', () => {
  for (const mode of ['procfs', 'ebpf'] as const) {
    it(`${mode}: one connection of the accepting process`, async () => {
      const source: ConnectionSource = mode === 'ebpf'
        ? await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog })
        : new ProcfsSource({ netns: 'all', logger: testLog });
      const rig: Rig = await startRig(source, pair.hosts);
      const tag = mode === 'ebpf' ? 'aqe' : 'aqp';
      let server: NodeChild | null = null;
      let client: NodeChild | null = null;
      try {
        const startedAt = new Date();
        server = nodeChild(SERVER, [SERVER_ADDRESS, String(PORT), `${tag}srv`, String(REQUEST), String(REPLY), String(HOLD_MS)], ['ip', 'netns', 'exec', pair.server.name]);
        const { pid: serverPid } = await server.nextJson<{ pid: number }>();
        await rig.tick();
        server.child.stdin?.write(`block ${BLOCK_MS}\n`);
        await server.nextJson<{ blocking: boolean }>();
        client = nodeChild(CLIENT, [SERVER_ADDRESS, String(PORT), `${tag}cli`, String(REQUEST)], ['ip', 'netns', 'exec', pair.client.name]);
        // The handshake is done and the request queued, but no process holds the server's socket yet.
        await eventually('the connection in the accept queue', 10_000, async () => {
          const lines = (await pair.server.exec('ss', ['-Htnp', 'state', 'established', 'sport', '=', `:${PORT}`])).trim().split('\n').filter(Boolean);
          return lines.length === 1 && !lines[0]!.includes('users:') ? true : undefined;
        });
        await rig.tick();
        const tickedAt = Date.now();
        const { unblockedAt } = await server.nextJson<{ unblockedAt: number }>(30_000);
        assert.ok(tickedAt < unblockedAt, 'a snapshot was taken while the connection waited in the accept queue');
        // Accepted now, the reply not sent yet: the next snapshot sees the socket owned.
        await pause(1000);
        await rig.tick();
        const done = await client.nextJson<{ pid: number; localPort: number; sent: number; received: number }>(30_000);
        assert.equal(done.received, REPLY);
        // The server closed first: its socket lingers in TIME_WAIT, owned by no process, through these ticks.
        for (let i = 0; i < 3; i++) {
          await pause(1000);
          await rig.tick();
        }
        const timeWait = await pair.server.exec('ss', ['-Htn', 'state', 'time-wait', 'sport', '=', `:${PORT}`]);
        assert.match(timeWait, new RegExp(`:${done.localPort}\\b`), 'the server end is in TIME_WAIT');

        const range = { from: new Date(startedAt.getTime() - 5000).toISOString(), to: new Date(Date.now() + 5000).toISOString() };
        const edges = (await rig.gql<{ talkers: { edges: TalkerEdge[] } }>(TALKERS_RAW, { range, name: `${tag}cli` })).talkers.edges;
        assert.equal(edges.length, 1, JSON.stringify(edges, null, 2));
        const edge = edges[0] as TalkerEdge;
        assert.equal(edge.match, 'BOTH_ENDS');
        assert.deepEqual(edge.client.process, { pid: done.pid, name: `${tag}cli` });
        assert.deepEqual(edge.server.process, { pid: serverPid, name: `${tag}srv` });
        assert.equal(edge.server.port, PORT);
        assert.equal(edge.connections, 1);
        if (mode === 'ebpf') {
          within1pct(edge.bytesSent, REQUEST, 'bytes sent');
          within1pct(edge.bytesReceived, REPLY, 'bytes received');
        }
        // Nothing else names the server process: no second, ownerless or empty, server end.
        const ledger = (await rig.gql<{ talkers: { edges: TalkerEdge[] } }>(TALKERS_RAW, { range, name: `${tag}srv` })).talkers.edges;
        assert.deepEqual(ledger, edges);
      } finally {
        await client?.finish();
        await server?.finish();
        await rig.close();
      }
    });
  }
});
