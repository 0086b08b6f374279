import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';

/**
 * A general UDP request/response client (resolver-like) for scenario tests, speaking udp-server's
 * protocol: `sockets` sockets one after another, each sending `requests` requests of `send` bytes and
 * waiting for each answer of `want` bytes (a request unanswered within 2 s counts as lost). Each socket
 * is one flow, so `connections` is the number of sockets. Prints one JSON line when done.
 * usage: node udp-client.js --host H --port N [--sockets 1] [--requests 1] [--send 64] [--want 512] [--pace-ms 0] [--title NAME]
 */
const { values } = parseArgs({
  options: {
    host: { type: 'string' }, port: { type: 'string' }, sockets: { type: 'string' }, requests: { type: 'string' },
    send: { type: 'string' }, want: { type: 'string' }, 'pace-ms': { type: 'string' }, title: { type: 'string' },
  },
});
process.title = values.title ?? 'udp-client';
const host = values.host ?? '127.0.0.1';
const port = Number(values.port ?? 53);
const sockets = Number(values.sockets ?? 1);
const requests = Number(values.requests ?? 1);
const send = Math.max(4, Number(values.send ?? 64));
const want = Number(values.want ?? 512);
const paceMs = Number(values['pace-ms'] ?? 0);
let sent = 0;
let received = 0;
let lost = 0;

async function flow(): Promise<void> {
  const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  try {
    for (let i = 0; i < requests; i++) {
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => { socket.off('message', onMessage); resolve(false); }, 2000);
        const onMessage = (msg: Buffer): void => {
          clearTimeout(timer);
          received += msg.length;
          resolve(true);
        };
        socket.once('message', onMessage);
      });
      const request = Buffer.alloc(send, 0x62);
      request.writeUInt32BE(want, 0);
      await new Promise<void>((resolve, reject) => socket.send(request, port, host, (err) => (err ? reject(err) : resolve())));
      sent += send;
      if (!(await answered)) lost++;
      if (paceMs > 0) await new Promise((r) => setTimeout(r, paceMs));
    }
  } finally {
    socket.close();
  }
}

async function main(): Promise<void> {
  for (let i = 0; i < sockets; i++) await flow();
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections: sockets, lost, sent, received })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`udp-client: ${String(err)}\n`);
  process.exit(1);
});
