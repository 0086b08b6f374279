import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { EbpfSource } from '../../../src/collector/sources/ebpf/ebpf-source.js';
import { testLog } from '../../helpers/env.js';
import { createNamespace, type Namespace } from '../../helpers/netns.js';
import { ensureHelper, nodeChild, readUntil, type NodeChild } from './support.js';

/**
 * A client's unconnected (wildcard) UDP socket sends a request; the collector reads before the answer
 * comes, then again after. The helper first keys the flow with local 0.0.0.0 and moves it to the real
 * local address when the answer shows it. Whatever the reads see, the client's flow must be one flow
 * (one identity across reads, no second row with the early bytes), with exact bytes.
 * The server holds its answers until told, so the interleaving is forced, not hoped for.
 */
const SERVER = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
const held = [];
s.on('message', (m, r) => held.push([Buffer.concat([m, m]), r.port, r.address]));
s.bind(5353, '0.0.0.0', () => process.stdout.write(JSON.stringify({ port: 5353 }) + '\\n'));
process.stdin.setEncoding('utf8');
process.stdin.on('data', () => {
  for (const [b, port, address] of held.splice(0)) s.send(b, port, address);
  process.stdout.write(JSON.stringify({ answered: true }) + '\\n');
});
process.stdin.on('end', () => { s.close(); process.exit(0); });
`;

/** One unconnected socket; one 100-byte request; prints its port, then what came back. */
const CLIENT = `
import dgram from 'node:dgram';
const s = dgram.createSocket('udp4');
s.once('message', (m) => process.stdout.write(JSON.stringify({ received: m.length }) + '\\n'));
s.send(Buffer.alloc(100, 1), 5353, process.argv[1], (e) => {
  if (e) throw e;
  process.stdout.write(JSON.stringify({ port: s.address().port, sent: 100 }) + '\\n');
});
process.stdin.on('end', () => { s.close(); process.exit(0); });
process.stdin.resume();
`;

const SERVER_ADDR = '10.98.0.1';

describe('eBPF: a wildcard UDP client answered after a read is one flow, not two', () => {
  let ns: Namespace;
  let netns: number;
  let server: NodeChild;

  before(async () => {
    ns = await createNamespace('ctrekey');
    await ns.exec('ip', ['addr', 'add', `${SERVER_ADDR}/32`, 'dev', 'lo']);
    netns = Number((await ns.exec('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).trim());
    server = nodeChild(SERVER, [], ['ip', 'netns', 'exec', ns.name]);
    await server.nextJson(20_000);
  });

  after(async () => {
    await server?.finish().catch(() => undefined);
    await ns?.remove();
  });

  /** Runs one request with a read before its answer and reads after it; returns every sighting of the client's flow. */
  async function exchange(source: EbpfSource): Promise<{ port: number; before: SocketObservation[]; after: SocketObservation[] }> {
    const client = nodeChild(CLIENT, [SERVER_ADDR], ['ip', 'netns', 'exec', ns.name]);
    try {
      const { port } = await client.nextJson<{ port: number }>(20_000);
      const mine = (o: SocketObservation): boolean => o.netns === netns && o.protocol === 'udp' && o.local.port === port;
      // Read until the server's side of the request is seen: the dump then certainly holds the client's
      // flow too (it sent first), still without its local address.
      const early = await readUntil(source, (all) => all.some((o) => o.netns === netns && o.local.port === 5353
        && o.remote.port === port && o.bytesReceived === 100), 30_000);
      assert.ok(early.observations.some((o) => o.netns === netns && o.local.port === 5353 && o.remote.port === port),
        'the server side of the request was seen');
      server.child.stdin?.write('answer\n');
      await server.nextJson(20_000);
      const { received } = await client.nextJson<{ received: number }>(20_000);
      assert.equal(received, 200);
      let reads = 0;
      // Past the answer, three more reads: a flow that vanished from one dump is kept for one more and
      // closed at the next, so a ghost would show by then.
      const late = await readUntil(source, (all) => all.some((o) => mine(o) && o.bytesReceived === 200) && ++reads > 3, 30_000);
      return { port, before: early.observations.filter(mine), after: late.observations.filter(mine) };
    } finally {
      await client.finish().catch(() => undefined);
    }
  }

  it('answered within the grace: never reported under 0.0.0.0, one flow with its real address and exact bytes', async () => {
    const source = await EbpfSource.start({ helperPath: ensureHelper(), udpIdleMs: 60_000, udpLocalGraceMs: 60_000, logger: testLog });
    try {
      const { before: early, after: late } = await exchange(source);
      assert.deepEqual(early, [], `nothing reported before the answer told the local address: ${JSON.stringify(early)}`);
      const locals = new Set(late.map((o) => `${o.local.address}|${o.remote.address}|${o.remote.port}|${o.openedAtMs}`));
      assert.deepEqual([...locals].map((l) => l.split('|')[0]), [SERVER_ADDR], `one flow, real local address: ${JSON.stringify(late)}`);
      for (const o of late) assert.deepEqual([o.bytesSent, o.bytesReceived, o.direction, o.state], [100, 200, 'outgoing', 'ESTABLISHED']);
    } finally {
      await source.close();
    }
  });

  it('answered after the flow was reported: it keeps the identity it was reported with, and its bytes are not counted twice', async () => {
    const source = await EbpfSource.start({ helperPath: ensureHelper(), udpIdleMs: 60_000, udpLocalGraceMs: 0, logger: testLog });
    try {
      const { before: early, after: late } = await exchange(source);
      assert.ok(early.length > 0, 'reported before its answer');
      const all = [...early, ...late];
      const identities = new Set(all.map((o) => `${o.local.address}|${o.remote.address}|${o.remote.port}|${o.openedAtMs}`));
      assert.equal(identities.size, 1, `one flow across reads: ${JSON.stringify(all)}`);
      for (const o of early) assert.deepEqual([o.bytesSent, o.bytesReceived], [100, 0]);
      for (const o of late) assert.deepEqual([o.bytesSent, o.bytesReceived, o.direction, o.state], [100, 200, 'outgoing', 'ESTABLISHED']);
    } finally {
      await source.close();
    }
  });
});
