import net from 'node:net';

/**
 * The e2e client program: `long` connections that each send and receive large payloads slowly (alive
 * across collector intervals), and `short` connections that live a few milliseconds. Prints what it
 * counted: connections made, bytes sent and received at the application level, its local ports.
 * usage: node traffic-client.js HOST PORT LONG SHORT LONG_SECONDS [LONG_CHUNKS]
 */
const [host = '127.0.0.1', portText = '80', longText = '2', shortText = '10', secondsText = '3', chunksText = '10'] = process.argv.slice(2);
process.title = 'traffic-client';
const port = Number(portText);
let sent = 0;
let received = 0;
const localPorts: number[] = [];
const longChunks = Math.max(1, Number(chunksText));

function exchange(send: number, want: number, paceMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port }, () => {
      localPorts.push(socket.localPort ?? 0);
      const header = Buffer.alloc(8);
      header.writeUInt32BE(send, 0);
      header.writeUInt32BE(want, 4);
      socket.write(header);
      sent += 8;
      const chunks = paceMs > 0 ? longChunks : 1;
      const chunk = Math.ceil(send / chunks);
      let left = send;
      const pump = (): void => {
        if (left <= 0) return;
        const n = Math.min(chunk, left);
        left -= n;
        sent += n;
        socket.write(Buffer.alloc(n, 0x62));
        if (left > 0) setTimeout(pump, paceMs);
      };
      pump();
    });
    socket.on('data', (d) => { received += d.length; });
    socket.on('end', () => { socket.end(); });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

async function main(): Promise<void> {
  const longCount = Number(longText);
  const shortCount = Number(shortText);
  const paceMs = (Number(secondsText) * 1000) / longChunks;
  const long = Array.from({ length: longCount }, () => exchange(400_000, 900_000, paceMs));
  for (let i = 0; i < shortCount; i++) {
    await exchange(1000, 2000, 0);
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(long);
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections: longCount + shortCount, sent, received, localPorts })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`traffic-client: ${String(err)}\n`);
  process.exit(1);
});
