import net from 'node:net';
import { parseArgs } from 'node:util';

/**
 * A general TCP client for scenario tests, speaking tcp-server's protocol. Makes `connections` connections
 * (at most `concurrency` at a time); each does `rounds` request/reply rounds (`send` bytes out, `want`
 * bytes back) `pace-ms` apart, then closes. With --half-close it is HTTP/1.0 style: one request, then
 * shutdown(SHUT_WR) at once, then it reads the reply until the server closes. With --reset it aborts
 * with an RST after the last reply instead of closing. Counts at the application level what it sent and
 * received and prints one JSON line when done.
 * usage: node tcp-client.js --host H --port N [--connections 1] [--concurrency 1] [--rounds 1] [--send 1000]
 *        [--want 2000] [--pace-ms 0] [--half-close] [--reset] [--title NAME]
 */
const { values } = parseArgs({
  options: {
    host: { type: 'string' }, port: { type: 'string' }, connections: { type: 'string' }, concurrency: { type: 'string' },
    rounds: { type: 'string' }, send: { type: 'string' }, want: { type: 'string' }, 'pace-ms': { type: 'string' },
    'half-close': { type: 'boolean' }, reset: { type: 'boolean' }, title: { type: 'string' },
  },
});
process.title = values.title ?? 'tcp-client';
const host = values.host ?? '127.0.0.1';
const port = Number(values.port ?? 80);
const total = Number(values.connections ?? 1);
const concurrency = Math.max(1, Number(values.concurrency ?? 1));
const rounds = values['half-close'] ? 1 : Math.max(1, Number(values.rounds ?? 1));
const send = Number(values.send ?? 1000);
const want = Number(values.want ?? 2000);
const paceMs = Number(values['pace-ms'] ?? 0);

let sent = 0;
let received = 0;
let completed = 0;
let failed = 0;

function request(socket: net.Socket): void {
  const header = Buffer.alloc(8);
  header.writeUInt32BE(send, 0);
  header.writeUInt32BE(want, 4);
  socket.write(Buffer.concat([header, Buffer.alloc(send, 0x62)]));
  sent += 8 + send;
}

function connection(): Promise<void> {
  return new Promise((resolve) => {
    let round = 0;
    let got = 0;
    let receivedHere = 0;
    const socket = net.connect({ host, port, allowHalfOpen: true }, () => {
      request(socket);
      if (values['half-close']) socket.end();
    });
    socket.on('data', (d: Buffer) => {
      received += d.length;
      receivedHere += d.length;
      got += d.length;
      if (values['half-close'] || got < want) return;
      got -= want;
      round++;
      if (round < rounds) {
        setTimeout(() => request(socket), paceMs);
      } else if (values.reset) {
        socket.resetAndDestroy();
      } else {
        socket.end();
      }
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (receivedHere === want * rounds) completed++;
      else failed++;
      resolve();
    });
  });
}

async function main(): Promise<void> {
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < total) {
      started++;
      await connection();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections: completed + failed, completed, failed, sent, received })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`tcp-client: ${String(err)}\n`);
  process.exit(1);
});
