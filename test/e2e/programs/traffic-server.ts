import net from 'node:net';

/**
 * The e2e server program: each connection sends an 8-byte header (bytes it will send, bytes it wants
 * back), then its payload; the server answers with the requested bytes. Prints its totals on SIGTERM.
 * usage: node traffic-server.js PORT
 */
process.title = 'traffic-server';
const port = Number(process.argv[2] ?? 8080);
let received = 0;
let sent = 0;
let connections = 0;

const server = net.createServer((socket) => {
  connections++;
  let header: Buffer | null = null;
  let pending = Buffer.alloc(0);
  let payloadLeft = 0;
  socket.on('data', (chunk) => {
    received += chunk.length;
    if (!header) {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length < 8) return;
      header = pending.subarray(0, 8);
      payloadLeft = header.readUInt32BE(0) - (pending.length - 8);
    } else {
      payloadLeft -= chunk.length;
    }
    if (payloadLeft <= 0) {
      const want = header.readUInt32BE(4);
      const reply = Buffer.alloc(want, 0x61);
      sent += reply.length;
      socket.end(reply);
    }
  });
  socket.on('error', () => undefined);
});

server.listen(port, '0.0.0.0', () => process.stdout.write(`${JSON.stringify({ listening: port, pid: process.pid })}\n`));
process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ connections, received, sent })}\n`);
  process.exit(0);
});
