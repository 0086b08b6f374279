import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { EbpfSource } from '../../../src/collector/sources/ebpf/ebpf-source.js';
import { testLog } from '../../helpers/env.js';
import { createNamespace, type Namespace } from '../../helpers/netns.js';
import { ensureHelper, nodeChild, readUntil, type NodeChild } from './support.js';

/**
 * A UDP server bound to [::] (dual stack) serves several addresses of its namespace: each flow must carry
 * the local address its datagrams really used, not the socket's unspecified one, with one flow per local
 * address, and so must its clients' unconnected (sendto) sockets. Real sockets in a namespace of our own.
 */
const SERVER = `
import dgram from 'node:dgram';
const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
s.on('message', (m, r) => s.send(Buffer.concat([m, m]), r.port, r.address));
s.bind(5353, '::', () => process.stdout.write(JSON.stringify({ port: 5353 }) + '\\n'));
process.stdin.on('end', () => { s.close(); process.exit(0); });
process.stdin.resume();
`;

/** One unconnected socket per target; three 100-byte requests each; counts what it sent and got back. */
const CLIENT = `
import dgram from 'node:dgram';
const out = [];
for (const target of process.argv.slice(1)) {
  const s = dgram.createSocket(target.includes(':') ? 'udp6' : 'udp4');
  let sent = 0, received = 0;
  for (let i = 0; i < 3; i++) {
    const reply = new Promise((resolve) => s.once('message', (m) => { received += m.length; resolve(); }));
    await new Promise((resolve, reject) => s.send(Buffer.alloc(100, 1), 5353, target, (e) => (e ? reject(e) : resolve())));
    sent += 100;
    await reply;
  }
  out.push({ target, port: s.address().port, sent, received });
  s.close();
}
process.stdout.write(JSON.stringify(out) + '\\n');
`;

const TARGETS = ['127.0.0.1', '10.99.0.1', '10.99.0.2', 'fd99::1'];

describe('eBPF: UDP flows of a wildcard-bound server carry their real local address', () => {
  let source: EbpfSource;
  let ns: Namespace;
  let server: NodeChild;
  let netns: number;

  before(async () => {
    ns = await createNamespace('ctudp');
    for (const a of ['10.99.0.1/32', '10.99.0.2/32']) await ns.exec('ip', ['addr', 'add', a, 'dev', 'lo']);
    await ns.exec('ip', ['addr', 'add', 'fd99::1/128', 'dev', 'lo', 'nodad']);
    netns = Number((await ns.exec('stat', ['-L', '-c', '%i', '/proc/self/ns/net'])).trim());
    source = await EbpfSource.start({ helperPath: ensureHelper(), udpIdleMs: 60_000, logger: testLog });
    server = nodeChild(SERVER, [], ['ip', 'netns', 'exec', ns.name]);
    await server.nextJson(20_000);
  });

  after(async () => {
    await server?.finish().catch(() => undefined);
    await source?.close();
    await ns?.remove();
  });

  it('one flow per local address on the server side, and the clients\' sendto sockets know theirs', async () => {
    const out = await ns.exec(process.execPath, ['--input-type=module', '-e', CLIENT, ...TARGETS], 60_000);
    const clients = JSON.parse(out.trim().split('\n').pop() ?? '[]') as Array<{ target: string; port: number; sent: number; received: number }>;
    assert.equal(clients.length, TARGETS.length);
    const mine = (o: SocketObservation): boolean => o.netns === netns && o.protocol === 'udp';
    const latest = new Map<string, SocketObservation>();
    await readUntil(source, (all) => {
      for (const o of all) if (mine(o)) latest.set(`${o.local.address}|${o.local.port}|${o.remote.address}|${o.remote.port}`, o);
      return clients.every((c) => [...latest.values()].some((o) => o.local.port === 5353 && o.remote.port === c.port && o.bytesReceived === c.sent)
        && [...latest.values()].some((o) => o.local.port === c.port && o.bytesReceived === c.received));
    }, 20_000);
    const flows = [...latest.values()];
    for (const c of clients) {
      // The server socket is IPv6 (dual stack): the collector reports its v4-mapped addresses as IPv4.
      const asServerSees = c.target;
      const served = flows.filter((o) => o.local.port === 5353 && o.remote.port === c.port);
      assert.equal(served.length, 1, `server flows for ${c.target}: ${JSON.stringify(served)}`);
      const s = served[0] as SocketObservation;
      assert.equal(s.local.address, asServerSees, `server's local address for ${c.target}`);
      assert.equal(s.remote.address, asServerSees);
      assert.deepEqual([s.bytesReceived, s.bytesSent, s.direction], [c.sent, c.received, 'incoming']);
      const asked = flows.filter((o) => o.local.port === c.port && o.remote.port === 5353);
      assert.equal(asked.length, 1, `client flows for ${c.target}: ${JSON.stringify(asked)}`);
      const k = asked[0] as SocketObservation;
      assert.equal(k.local.address, c.target, `client's local address for ${c.target}`);
      assert.equal(k.remote.address, c.target);
      assert.deepEqual([k.bytesSent, k.bytesReceived, k.direction], [c.sent, c.received, 'outgoing']);
    }
  });
});
