import net from 'node:net';
import { parseArgs } from 'node:util';

/**
 * A sidecar-like TCP proxy for tests: accepts on --host:--port (where an iptables REDIRECT sends connections)
 * and forwards each connection to --to-host:--to-port, both ways, half-closes passed on. With --gid it first
 * switches its group, so that an `iptables -m owner ! --gid-owner` rule can spare its own connections from the
 * redirect (as a mesh spares its proxy's user). Counts what it moved and prints it on SIGTERM.
 * usage: node tcp-proxy.js --port 15006 --to-host 127.0.0.1 --to-port 8080 [--host 0.0.0.0] [--gid 1337] [--title NAME]
 * prints {"listening":port,"pid":pid} when ready, {"pid","connections","fromClients","toClients"} on SIGTERM
 */
const { values } = parseArgs({
  options: {
    host: { type: 'string' }, port: { type: 'string' }, 'to-host': { type: 'string' }, 'to-port': { type: 'string' },
    gid: { type: 'string' }, title: { type: 'string' },
  },
});
process.title = values.title ?? 'tcp-proxy';
// Before any socket exists: a socket keeps the credentials it was created with.
if (values.gid !== undefined) {
  if (process.setgid === undefined) throw new Error('--gid needs a POSIX system');
  process.setgid(Number(values.gid));
}
const port = Number(values.port ?? 15006);
const host = values.host ?? '0.0.0.0';
const toHost = values['to-host'] ?? '127.0.0.1';
const toPort = Number(values['to-port'] ?? 8080);
let connections = 0;
let fromClients = 0;
let toClients = 0;

const server = net.createServer({ allowHalfOpen: true }, (client) => {
  connections++;
  const upstream = net.connect({ host: toHost, port: toPort, allowHalfOpen: true });
  client.on('data', (d: Buffer) => {
    fromClients += d.length;
    upstream.write(d);
  });
  upstream.on('data', (d: Buffer) => {
    toClients += d.length;
    client.write(d);
  });
  client.on('end', () => upstream.end());
  upstream.on('end', () => client.end());
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
});

server.listen({ port, host }, () => process.stdout.write(`${JSON.stringify({ listening: port, pid: process.pid })}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections, fromClients, toClients })}\n`);
  process.exit(0);
});
