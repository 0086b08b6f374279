import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

/**
 * A general UDP request/response server (DNS-like) for scenario tests, bound to a wildcard address by
 * default: each datagram's first 4 bytes say how many bytes to answer with. Counts what it saw itself.
 * usage: node udp-server.js --port N [--host 0.0.0.0|::|...] [--title NAME]
 * prints {"listening":port,"pid":pid} when ready, {"pid","datagrams","peers","received","sent"} on SIGTERM
 */
const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, title: { type: 'string' } } });
process.title = values.title ?? 'udp-server';
const host = values.host ?? '0.0.0.0';
const socket = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', ipv6Only: host.includes(':') });
let received = 0;
let sent = 0;
let datagrams = 0;
const peers = new Set<string>();

socket.on('message', (msg, rinfo) => {
  datagrams++;
  received += msg.length;
  peers.add(`${rinfo.address}:${rinfo.port}`);
  const want = msg.length >= 4 ? msg.readUInt32BE(0) : 0;
  sent += want;
  socket.send(Buffer.alloc(want, 0x61), rinfo.port, rinfo.address);
});
socket.bind(Number(values.port ?? 5353), host, () => process.stdout.write(`${JSON.stringify({ listening: socket.address().port, pid: process.pid })}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, datagrams, peers: peers.size, received, sent })}\n`);
  process.exit(0);
});
