import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createNamespace, type Namespace } from '../helpers/netns.js';
import { PROGRAMS, runClient, startServer, type Spawn } from './workloads.js';

/**
 * The scenario programs are the ground truth of the truth bench and of the scenario tests: a client and
 * its server must count the same bytes from both ends, in every way a client can talk and close.
 */
let ns: Namespace;
let spawn: Spawn;

before(async () => {
  ns = await createNamespace('tbprog');
  await ns.exec('ip', ['addr', 'add', '::1/128', 'dev', 'lo']).catch(() => undefined); // present on most kernels already
  spawn = (command, args) => ns.spawn(command, args);
});

after(async () => {
  await ns?.remove();
});

const tcpCases: Array<{ what: string; host: string; port: number; args: string[]; connections: number; sent: number; received: number }> = [
  { what: 'rounds, several at a time', host: '127.0.0.1', port: 7601, args: ['--connections', '6', '--concurrency', '3', '--rounds', '3', '--send', '1500', '--want', '70000'],
    connections: 6, sent: 6 * 3 * (8 + 1500), received: 6 * 3 * 70000 },
  { what: 'half-close (HTTP/1.0 style) with a large reply', host: '127.0.0.1', port: 7602, args: ['--connections', '3', '--send', '100', '--want', '3000000', '--half-close'],
    connections: 3, sent: 3 * 108, received: 3 * 3000000 },
  { what: 'reset after the last reply', host: '127.0.0.1', port: 7603, args: ['--connections', '4', '--send', '10', '--want', '5000', '--reset'],
    connections: 4, sent: 4 * 18, received: 4 * 5000 },
  { what: 'over IPv6', host: '::1', port: 7604, args: ['--connections', '2', '--rounds', '2', '--send', '64', '--want', '640'],
    connections: 2, sent: 2 * 2 * 72, received: 2 * 2 * 640 },
];

for (const c of tcpCases) {
  test(`tcp programs, ${c.what}: client and server count the same connections and bytes`, async () => {
    const server = await startServer(spawn, PROGRAMS.tcpServer, ['--port', String(c.port), '--host', c.host]);
    const client = await runClient(spawn, PROGRAMS.tcpClient, ['--host', c.host, '--port', String(c.port), ...c.args]);
    const counted = await server.stop();
    assert.deepEqual({ connections: client.connections, completed: client.completed, failed: client.failed, sent: client.sent, received: client.received },
      { connections: c.connections, completed: c.connections, failed: 0, sent: c.sent, received: c.received });
    assert.deepEqual({ connections: counted.connections, received: counted.received, sent: counted.sent },
      { connections: c.connections, received: c.sent, sent: c.received });
  });
}

test('udp programs: a wildcard-bound server answers every request; one flow per client socket', async () => {
  const server = await startServer(spawn, PROGRAMS.udpServer, ['--port', '7605']);
  const client = await runClient(spawn, PROGRAMS.udpClient, ['--host', '127.0.0.1', '--port', '7605', '--sockets', '3', '--requests', '5', '--send', '40', '--want', '900']);
  const counted = await server.stop();
  assert.deepEqual({ connections: client.connections, lost: client.lost, sent: client.sent, received: client.received },
    { connections: 3, lost: 0, sent: 3 * 5 * 40, received: 3 * 5 * 900 });
  assert.deepEqual({ datagrams: counted.datagrams, received: counted.received, sent: counted.sent }, { datagrams: 15, received: 600, sent: 3 * 5 * 900 });
});
