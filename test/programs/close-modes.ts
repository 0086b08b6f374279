import net from 'node:net';

/**
 * Real client and server programs that end their TCP connections in every way a real protocol does, and
 * count their own bytes at the application level.
 *
 *   close-modes server HOST PORT NAME
 *     For each connection: reads the header line `REPLY SERVER_MODE REQUEST_BYTES`, then the rest of the
 *     request (REQUEST_BYTES in all, header included), then answers by SERVER_MODE:
 *       close   writes REPLY bytes, then ends its side (FIN)
 *       reset   writes REPLY bytes, waits until they have surely arrived, then resets (SO_LINGER 0: RST)
 *       wait    writes REPLY bytes, then waits for the client to end the connection
 *       slow    as close, but 2.5 s after the request (so that a /proc scan sees the connection)
 *       echo    writes back everything after the header until the client ends its side, then ends
 *     Prints one JSON line per finished connection: { remotePort, received, sent }.
 *
 *   close-modes client HOST PORT COUNT CLIENT_MODE SERVER_MODE REQUEST_BYTES REPLY CONCURRENCY NAME
 *     COUNT connections, CONCURRENCY at a time; CLIENT_MODE:
 *       halfclose  writes the request, shutdown(SHUT_WR) at once (HTTP/1.0 style), reads until EOF
 *       normal     writes the request, reads until EOF (or a reset), then closes
 *       unread     never reads: writes the request, waits 600 ms, then closes with the reply unread (RST)
 *       long       writes REQUEST_BYTES every 400 ms, 12 times (about 5 s), then half-closes; reads until EOF
 *     Prints { pid, connections: [{ localPort, sent, read }] } when all are done.
 *
 * Both print `{ pid, ... }` first where noted and exit when stdin ends. NAME becomes the process name.
 */
const [role = 'server', host = '127.0.0.1', portText = '7000', ...rest] = process.argv.slice(2);
const port = Number(portText);

interface ClientConn { localPort: number; sent: number; read: number }

function server(name: string): void {
  process.title = name;
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    const remotePort = s.remotePort ?? 0;
    let received = 0;
    let sent = 0;
    let header: { reply: number; mode: string; request: number } | null = null;
    let buffered = '';
    let answered = false;
    let reported = false;
    const report = (): void => {
      if (reported) return;
      reported = true;
      process.stdout.write(`${JSON.stringify({ remotePort, received, sent })}\n`);
    };
    const answer = (): void => {
      if (answered || header === null) return;
      answered = true;
      const { reply, mode } = header;
      if (mode === 'echo') return;
      const write = (): void => {
        s.write(Buffer.alloc(reply, 0x72), () => {
          sent += reply;
          if (mode === 'close' || mode === 'slow') s.end();
          if (mode === 'reset') setTimeout(() => { report(); s.resetAndDestroy(); }, 500);
        });
      };
      if (mode === 'slow') setTimeout(write, 2500);
      else write();
    };
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (header === null) {
        buffered += d.toString('latin1');
        const nl = buffered.indexOf('\n');
        if (nl < 0) return;
        const [reply = '0', mode = 'close', request = '0'] = buffered.slice(0, nl).split(' ');
        header = { reply: Number(reply), mode, request: Number(request) };
        if (mode === 'echo') {
          const after = d.subarray(d.length - (buffered.length - nl - 1));
          if (after.length > 0) s.write(after, () => { sent += after.length; });
        }
        buffered = '';
      } else if (header.mode === 'echo') {
        s.write(d, () => { sent += d.length; });
      }
      if (header.mode !== 'echo' && received >= header.request) answer();
    });
    s.on('end', () => {
      if (header?.mode === 'echo') s.end();
      else answer();
    });
    s.on('error', () => undefined);
    s.on('close', report);
  });
  srv.listen({ port, host, backlog: 1024 }, () => process.stdout.write(`${JSON.stringify({ pid: process.pid, port })}\n`));
}

function one(clientMode: string, serverMode: string, request: number, reply: number): Promise<ClientConn> {
  return new Promise((resolve, reject) => {
    const conn: ClientConn = { localPort: 0, sent: 0, read: 0 };
    const s = net.connect({ host, port, allowHalfOpen: true });
    const head = Buffer.from(`${reply} ${serverMode} ${request}\n`, 'latin1');
    const body = (n: number): Buffer => Buffer.alloc(Math.max(0, n), 0x71);
    const write = (b: Buffer): void => { conn.sent += b.length; s.write(b); };
    if (clientMode === 'unread') s.pause();
    s.on('connect', () => {
      conn.localPort = s.localPort ?? 0;
      if (clientMode === 'long') {
        write(head);
        let ticks = 0;
        const tick = (): void => {
          write(body(request));
          if (++ticks < 12) setTimeout(tick, 400);
          else s.end();
        };
        tick();
        return;
      }
      write(Buffer.concat([head, body(request - head.length)]));
      if (clientMode === 'halfclose') s.end();
      if (clientMode === 'unread') setTimeout(() => s.destroy(), 600);
    });
    s.on('data', (d: Buffer) => { conn.read += d.length; });
    s.on('end', () => s.end());
    // A reset after the reply (server mode `reset`) is part of the test, not a failure.
    s.on('error', (err: NodeJS.ErrnoException) => { if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err); });
    s.on('close', () => resolve(conn));
  });
}

async function client(args: string[]): Promise<void> {
  const [count = '1', clientMode = 'normal', serverMode = 'close', request = '100', reply = '100', concurrency = '1', name = 'cm-client'] = args;
  process.title = name;
  const total = Number(count);
  const connections: ClientConn[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      connections.push(await one(clientMode, serverMode, Number(request), Number(reply)));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(concurrency)) }, worker));
  process.stdout.write(`${JSON.stringify({ pid: process.pid, connections })}\n`);
}

process.stdin.on('end', () => process.exit(0)).resume();
if (role === 'server') server(rest[0] ?? 'cm-server');
else client(rest).catch((err: unknown) => { process.stderr.write(`close-modes: ${String(err)}\n`); process.exit(1); });
