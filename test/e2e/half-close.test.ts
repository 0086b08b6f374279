import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import type { ConnectionSource } from '../../src/collector/source.js';
import { EbpfSource } from '../../src/collector/sources/ebpf/ebpf-source.js';
import { ProcfsSource } from '../../src/collector/sources/procfs-source.js';
import { ensureHelper, spawnChild, type NodeChild } from '../collector/ebpf/support.js';
import { testLog } from '../helpers/env.js';
import { createNamespace, type Namespace } from '../helpers/netns.js';
import { netnsInode, startRig, TALKERS_RAW, type Rig, type TalkerEdge } from './truth-rig.js';

/**
 * Half-closing HTTP/1.0-style clients (request, shutdown(SHUT_WR), then read the reply) on one host talking
 * to servers on another, over IPv4 and IPv6, asked through the API (issue 10, item 1). Each program counts
 * its own bytes; the edge must have exactly their connections, bytes within 1% (eBPF), and both ends.
 * /proc has no byte counters: in that mode the connections and both ends must still be right.
 */
const PROGRAM = fileURLToPath(new URL('../programs/close-modes.js', import.meta.url));
const run = promisify(execFile);

interface ClientConn { localPort: number; sent: number; read: number }
interface ServerConn { remotePort: number; received: number; sent: number }

const FAMILIES = [
  { family: 'IPv4', client: '10.91.0.1', server: '10.91.0.2', port: 7501 },
  { family: 'IPv6', client: 'fd91::1', server: 'fd91::2', port: 7502 },
] as const;

let clientNs: Namespace;
let serverNs: Namespace;
let hosts: Map<number, string>;
const children: NodeChild[] = [];

function program(ns: Namespace, args: readonly string[]): NodeChild {
  const child = spawnChild('ip', ['netns', 'exec', ns.name, process.execPath, PROGRAM, ...args]);
  children.push(child);
  return child;
}

interface Outcome {
  readonly clientPid: number;
  readonly serverPid: number;
  readonly clientName: string;
  readonly serverName: string;
  readonly client: ClientConn[];
  readonly server: ServerConn[];
}

/** Runs the exchanges of both families at once, ticking the rig every second meanwhile and a few times after. */
async function exchange(rig: Rig, tag: string, count: number, reply: number): Promise<Map<string, Outcome>> {
  const outcomes = new Map<string, Outcome>();
  const running = FAMILIES.map(async (f) => {
    const serverName = `${tag}s${f.family === 'IPv4' ? 4 : 6}`;
    const clientName = `${tag}c${f.family === 'IPv4' ? 4 : 6}`;
    const server = program(serverNs, ['server', f.server, String(f.port), serverName]);
    const { pid: serverPid } = await server.nextJson<{ pid: number }>();
    const client = program(clientNs, ['client', f.server, String(f.port), String(count), 'halfclose', 'slow', '300', String(reply), String(count), clientName]);
    const report = await client.nextJson<{ pid: number; connections: ClientConn[] }>(120_000);
    const served: ServerConn[] = [];
    while (served.length < count) served.push(await server.nextJson<ServerConn>(30_000));
    await client.finish();
    await server.finish();
    outcomes.set(f.family, { clientPid: report.pid, serverPid, clientName, serverName, client: report.connections, server: served });
  });
  let done = false;
  const all = Promise.all(running).finally(() => { done = true; });
  while (!done) {
    await new Promise((r) => setTimeout(r, 1000));
    await rig.tick();
  }
  await all;
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    await rig.tick();
  }
  return outcomes;
}

async function edgesOf(rig: Rig, name: string, from: Date): Promise<TalkerEdge[]> {
  const range = { from: new Date(from.getTime() - 5000).toISOString(), to: new Date(Date.now() + 5000).toISOString() };
  return (await rig.gql<{ talkers: { edges: TalkerEdge[] } }>(TALKERS_RAW, { range, name })).talkers.edges;
}

function within1pct(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= expected * 0.01, `${what}: ${actual} is not within 1% of ${expected}`);
}

before(async () => {
  clientNs = await createNamespace('cttc');
  serverNs = await createNamespace('ctts');
  const a = `cttv${process.pid % 100000}a`;
  const b = `cttv${process.pid % 100000}b`;
  await run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
  await run('ip', ['link', 'set', a, 'netns', clientNs.name]);
  await run('ip', ['link', 'set', b, 'netns', serverNs.name]);
  for (const [ns, dev, v4, v6] of [[clientNs, a, '10.91.0.1/24', 'fd91::1/64'], [serverNs, b, '10.91.0.2/24', 'fd91::2/64']] as const) {
    await ns.exec('ip', ['addr', 'add', v4, 'dev', dev]);
    await ns.exec('ip', ['-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
    await ns.exec('ip', ['link', 'set', dev, 'up']);
  }
  hosts = new Map([[netnsInode(clientNs.name), 'ttclient'], [netnsInode(serverNs.name), 'ttserver']]);
});

after(async () => {
  for (const c of children) await c.finish(2_000).catch(() => undefined);
  await clientNs?.remove();
  await serverNs?.remove();
});

function assertEdge(edges: TalkerEdge[], o: Outcome, server: string, port: number): TalkerEdge {
  assert.equal(edges.length, 1, JSON.stringify(edges, null, 2));
  const edge = edges[0] as TalkerEdge;
  assert.equal(edge.match, 'BOTH_ENDS');
  assert.deepEqual(edge.client.host, { id: 'ttclient' });
  assert.deepEqual(edge.client.process, { pid: o.clientPid, name: o.clientName });
  assert.deepEqual(edge.server.host, { id: 'ttserver' });
  assert.deepEqual(edge.server.process, { pid: o.serverPid, name: o.serverName });
  assert.equal(edge.server.address, server);
  assert.equal(edge.server.port, port);
  assert.equal(edge.connections, o.client.length);
  return edge;
}

describe('half-closing HTTP/1.0-style clients across two hosts, asked through the API', () => {
  for (const mode of ['ebpf', 'procfs'] as const) {
    it(`${mode}: one edge per family, both ends, every connection${mode === 'ebpf' ? ', bytes within 1%' : ''}`, async () => {
      const source: ConnectionSource = mode === 'ebpf'
        ? await EbpfSource.start({ helperPath: ensureHelper(), logger: testLog })
        : new ProcfsSource({ netns: 'all', logger: testLog });
      const rig = await startRig(source, hosts);
      try {
        await rig.tick();
        const from = new Date();
        const tag = mode === 'ebpf' ? 'hce' : 'hcp';
        const outcomes = await exchange(rig, tag, 4, mode === 'ebpf' ? 1_000_000 : 2000);
        for (const f of FAMILIES) {
          const o = outcomes.get(f.family);
          assert.ok(o, `${f.family} exchange ran`);
          assert.ok(o.client.every((c) => c.read === (mode === 'ebpf' ? 1_000_000 : 2000)), 'the clients read every byte');
          const edge = assertEdge(await edgesOf(rig, o.clientName, from), o, f.server, f.port);
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
