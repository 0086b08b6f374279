import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readlinkSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { parseNetnsLink } from '../../../src/collector/sources/procfs/netns.js';
import { readNetTables } from '../../../src/collector/sources/procfs/net-tables-reader.js';
import { takeProcfsSnapshot } from '../../../src/collector/sources/procfs/snapshot.js';
import { ProcessCache } from '../../../src/collector/sources/process/cache.js';
import { createProcContext } from '../../../src/collector/sources/process/reader.js';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { createNetns, spawnNode, waitFor, type NodeChild } from './helpers.js';

/**
 * Real sockets on this host: a TCP server in the test process, clients in a child node process; the
 * /proc source must report both ends with the right pids and states.
 */

const CLIENT = `
const net = require('node:net');
const sockets = [];
process.stdin.on('data', (d) => {
  for (const line of d.toString().trim().split('\\n')) {
    const cmd = JSON.parse(line);
    if (cmd.op === 'connect') {
      const s = net.connect(cmd.port, cmd.host, () => {
        sockets.push(s);
        process.stdout.write(JSON.stringify({ pid: process.pid, localPort: s.localPort, index: sockets.length - 1 }) + '\\n');
      });
    } else if (cmd.op === 'end') {
      sockets[cmd.index].end(); // half-close: our side FIN_WAIT2, the server side CLOSE_WAIT
      process.stdout.write(JSON.stringify({ ended: cmd.index }) + '\\n');
    }
  }
});
process.stdin.on('end', () => process.exit(0));
`;

let server: Server;
let server6: Server;
const accepted: Socket[] = [];
let client: NodeChild;
const started = Date.now();

before(async () => {
  server = createServer({ allowHalfOpen: true }, (s) => { accepted.push(s); });
  server6 = createServer((s) => { accepted.push(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => server6.listen(0, '::1', r));
  client = spawnNode(CLIENT);
});

after(async () => {
  await client.kill();
  for (const s of accepted) s.destroy();
  await new Promise((r) => server.close(r));
  await new Promise((r) => server6.close(r));
});

function port(s: Server): number {
  const a = s.address();
  assert.ok(a !== null && typeof a === 'object');
  return a.port;
}

async function connect(host: string, toPort: number): Promise<{ pid: number; localPort: number; index: number }> {
  client.child.stdin?.write(`${JSON.stringify({ op: 'connect', host, port: toPort })}\n`);
  return (await client.next()) as { pid: number; localPort: number; index: number };
}

function find(obs: readonly SocketObservation[], localPort: number, remotePort: number): SocketObservation | undefined {
  return obs.find((o) => o.local.port === localPort && o.remote.port === remotePort);
}

test('both ends of a real TCP connection appear with the right pids, states, addresses and netns', async () => {
  const serverPort = port(server);
  const c = await connect('127.0.0.1', serverPort);
  assert.notEqual(c.pid, process.pid);
  const ctx = createProcContext();
  const cache = new ProcessCache(ctx);
  const ownNetns = parseNetnsLink(readlinkSync('/proc/self/ns/net'));
  const snap = await waitFor('both ends of the connection', () => {
    const s = takeProcfsSnapshot({ ctx, cache, netns: 'self' });
    return find(s.observations, c.localPort, serverPort) && find(s.observations, serverPort, c.localPort) ? s : undefined;
  });
  const clientEnd = find(snap.observations, c.localPort, serverPort)!;
  const serverEnd = find(snap.observations, serverPort, c.localPort)!;
  assert.equal(clientEnd.process?.pid, c.pid);
  assert.equal(serverEnd.process?.pid, process.pid);
  for (const end of [clientEnd, serverEnd]) {
    assert.equal(end.state, 'ESTABLISHED');
    assert.equal(end.protocol, 'tcp');
    assert.equal(end.family, 4);
    assert.equal(end.local.address, '127.0.0.1');
    assert.equal(end.remote.address, '127.0.0.1');
    assert.equal(end.netns, ownNetns);
    assert.ok(end.inode !== null && end.inode > 0);
  }
  const listener = snap.listening.find((l) => l.port === serverPort && l.protocol === 'tcp');
  assert.deepEqual(listener && [listener.address, listener.family, listener.process?.pid], ['127.0.0.1', 4, process.pid]);
  // Process identity: both processes are there, their start times near when they really started.
  const me = snap.processes.find((p) => p.pid === process.pid);
  const child = snap.processes.find((p) => p.pid === c.pid);
  assert.ok(me && child);
  assert.equal(child.name, 'node');
  assert.ok(child.cmdline.startsWith(`${process.execPath} -e`), child.cmdline);
  assert.equal(child.exe, process.execPath);
  assert.equal(child.uid, process.getuid?.());
  assert.ok(Math.abs(child.startedAtMs - started) < 5_000, `child started at ${child.startedAtMs}, test at ${started}`);
  assert.ok(me.startedAtMs <= child.startedAtMs + 1_000);
  assert.deepEqual(clientEnd.process, { pid: child.pid, startedAtMs: child.startedAtMs });
});

test('IPv6 loopback connection, half-closed states and UDP sockets', async () => {
  const v6Port = port(server6);
  const c6 = await connect('::1', v6Port);
  const serverPort = port(server);
  const half = await connect('127.0.0.1', serverPort);
  client.child.stdin?.write(`${JSON.stringify({ op: 'end', index: half.index })}\n`);
  await client.next();
  const udpListener = createSocket('udp4');
  const udpConnected = createSocket('udp6');
  try {
    await new Promise<void>((r) => udpListener.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => udpConnected.bind(0, '::1', r));
    await new Promise<void>((r) => udpConnected.connect(53, '::1', r));
    const ctx = createProcContext();
    const snap = await waitFor('v6, half-closed and udp sockets', () => {
      const s = takeProcfsSnapshot({ ctx, netns: 'self' });
      const ok = find(s.observations, c6.localPort, v6Port)
        && find(s.observations, half.localPort, serverPort)?.state === 'FIN_WAIT2'
        && find(s.observations, serverPort, half.localPort)?.state === 'CLOSE_WAIT';
      return ok ? s : undefined;
    });
    const v6 = find(snap.observations, c6.localPort, v6Port)!;
    assert.deepEqual([v6.family, v6.local.address, v6.remote.address, v6.state, v6.process?.pid], [6, '::1', '::1', 'ESTABLISHED', c6.pid]);
    assert.equal(find(snap.observations, v6Port, c6.localPort)?.process?.pid, process.pid);
    assert.equal(find(snap.observations, half.localPort, serverPort)?.process?.pid, half.pid);
    const udpPort = udpListener.address().port;
    const u = snap.listening.find((l) => l.protocol === 'udp' && l.port === udpPort);
    assert.deepEqual(u && [u.address, u.family, u.process?.pid], ['127.0.0.1', 4, process.pid]);
    const connected = snap.observations.find((o) => o.protocol === 'udp' && o.local.port === udpConnected.address().port);
    assert.deepEqual(connected && [connected.family, connected.state, connected.remote.address, connected.remote.port, connected.process?.pid],
      [6, 'ESTABLISHED', '::1', 53, process.pid]);
  } finally {
    udpListener.close();
    udpConnected.close();
  }
});

test('--netns all finds a socket inside another network namespace, owned by the process in it', async () => {
  const ns = createNetns('ctsrc');
  let inside: NodeChild | null = null;
  try {
    inside = spawnNode(`
      const net = require('node:net');
      const srv = net.createServer(() => {}).listen(7777, '127.0.0.1', () => {
        const c = net.connect(7777, '127.0.0.1', () => process.stdout.write(JSON.stringify({ pid: process.pid, localPort: c.localPort }) + '\\n'));
      });
      process.stdin.resume();
      process.stdin.on('end', () => process.exit(0));
    `, ['ip', 'netns', 'exec', ns.name]);
    const info = (await inside.next()) as { pid: number; localPort: number };
    const theirNetns = parseNetnsLink(readlinkSync(`/proc/${info.pid}/ns/net`));
    const ourNetns = parseNetnsLink(readlinkSync('/proc/self/ns/net'));
    assert.ok(theirNetns !== null && theirNetns !== ourNetns);
    // self mode does not see it; all mode does, tagged with the other namespace.
    const self = readNetTables({ netns: 'self' });
    assert.deepEqual(self.namespaces.map((n) => n.netns), [ourNetns]);
    const ctx = createProcContext();
    const snap = takeProcfsSnapshot({ ctx, netns: 'all' });
    const end = snap.observations.find((o) => o.netns === theirNetns && o.local.port === info.localPort && o.remote.port === 7777);
    assert.deepEqual(end && [end.state, end.process?.pid], ['ESTABLISHED', info.pid]);
    const listener = snap.listening.find((l) => l.netns === theirNetns && l.port === 7777);
    assert.equal(listener?.process?.pid, info.pid);
    assert.ok(snap.stats.namespaces >= 2);
    const only = readNetTables({ netns: { pid: info.pid } });
    assert.deepEqual(only.namespaces.map((n) => n.netns), [theirNetns]);
  } finally {
    await inside?.kill();
    ns.remove();
  }
});
