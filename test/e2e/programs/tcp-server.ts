import net from 'node:net';
import { parseArgs } from 'node:util';

/**
 * A general TCP server for scenario tests: a connection carries rounds, each an 8-byte header (bytes the
 * client sends next, bytes it wants back), the payload, then the server's reply of the wanted size. When
 * the client shuts its side (after its last round, or right after its request in HTTP/1.0 style) the
 * server finishes its reply and closes. Counts what it saw itself and prints it on SIGTERM.
 * usage: node tcp-server.js --port N [--host 0.0.0.0|::|127.0.0.1|...] [--title NAME]
 * prints {"listening":port,"pid":pid} when ready, {"pid","connections","received","sent"} on SIGTERM
 */
const { values } = parseArgs({ options: { port: { type: 'string' }, host: { type: 'string' }, title: { type: 'string' } } });
process.title = values.title ?? 'tcp-server';
const port = Number(values.port ?? 8080);
const host = values.host ?? '0.0.0.0';
let received = 0;
let sent = 0;
let connections = 0;

const server = net.createServer({ allowHalfOpen: true }, (socket) => {
  connections++;
  let pending: Buffer = Buffer.alloc(0);
  let payloadLeft = -1; // -1: waiting for a header
  let want = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    // A chunk may hold the end of one round and the start of the next.
    for (;;) {
      if (payloadLeft < 0) {
        if (pending.length < 8) return;
        payloadLeft = pending.readUInt32BE(0);
        want = pending.readUInt32BE(4);
        pending = pending.subarray(8);
      }
      const take = Math.min(payloadLeft, pending.length);
      payloadLeft -= take;
      pending = pending.subarray(take);
      if (payloadLeft > 0) return;
      payloadLeft = -1;
      sent += want;
      socket.write(Buffer.alloc(want, 0x61));
      if (pending.length === 0) return;
    }
  });
  // The client is done sending: queued replies are flushed, then our side closes.
  socket.on('end', () => socket.end());
  socket.on('error', () => undefined);
});

server.listen({ port, host, ipv6Only: host.includes(':') }, () => process.stdout.write(`${JSON.stringify({ listening: port, pid: process.pid })}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections, received, sent })}\n`);
  process.exit(0);
});
