import dgram from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import net from 'node:net';

/**
 * A client for the DNS tests.
 *   dns-client resolve SERVER NAME PORT PROC_NAME   resolve NAME (A) at SERVER:53, connect to each address:PORT, send,
 *                                                   close; print { pid, addresses } and exit
 *   dns-client flood SERVER COUNT PROC_NAME         send COUNT queries to SERVER:53 from one UDP socket and read the
 *                                                   replies; print { pid, sent, received } and exit
 *   dns-client rate SERVER RATE SECONDS NAME        ask SERVER:53 for NAME (A) RATE times a second for SECONDS, one
 *                                                   UDP socket; print { pid, sent, received } and exit
 */
const [mode = 'resolve', server = '127.0.0.1', a = '', b = '', c = 'dnsclient'] = process.argv.slice(2);

async function resolveAndConnect(): Promise<void> {
  process.title = c;
  const resolver = new Resolver({ timeout: 5000, tries: 3 });
  resolver.setServers([server]);
  const addresses = await resolver.resolve4(a);
  for (const address of addresses) {
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ host: address, port: Number(b) }, () => {
        s.end('hello');
      });
      s.on('close', () => resolve());
      s.on('error', reject);
      s.resume();
    });
  }
  process.stdout.write(`${JSON.stringify({ pid: process.pid, addresses })}\n`);
}

async function flood(): Promise<void> {
  process.title = b || 'dnsflood';
  const count = Number(a);
  const socket = dgram.createSocket('udp4');
  let received = 0;
  let sent = 0;
  socket.on('message', () => { received++; });
  await new Promise<void>((r) => socket.bind(0, r));
  const query = Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x78, 0, 0, 1, 0, 1]);
  // Batches with a pause, so that the replies are not lost to a full socket buffer: the test counts them.
  while (sent < count) {
    const batch = Math.min(100, count - sent);
    for (let i = 0; i < batch; i++) socket.send(query, 53, server);
    sent += batch;
    await new Promise((r) => setTimeout(r, 20));
  }
  const deadline = Date.now() + 10_000;
  while (received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  socket.close();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, sent, received })}\n`);
}

/** Queries paced by the clock, as a resolver library under load sends them. */
async function paced(): Promise<void> {
  process.title = 'dnsrate';
  const rate = Number(a);
  const seconds = Number(b);
  const socket = dgram.createSocket('udp4');
  let received = 0;
  let sent = 0;
  socket.on('message', () => { received++; });
  await new Promise<void>((r) => socket.bind(0, r));
  const question = Buffer.from(c.split('.').flatMap((l) => [l.length, ...Buffer.from(l, 'ascii')]).concat([0, 0, 1, 0, 1]));
  const total = rate * seconds;
  const t0 = performance.now();
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * rate));
    for (; sent < due; sent++) {
      const header = Buffer.from([(sent >> 8) & 255, sent & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
      socket.send(Buffer.concat([header, question]), 53, server);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const deadline = Date.now() + 5_000;
  while (received < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  socket.close();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, sent, received })}\n`);
}

(mode === 'flood' ? flood() : mode === 'rate' ? paced() : resolveAndConnect()).then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
