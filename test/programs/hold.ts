import net from 'node:net';

/**
 * A small real program for collector tests.
 *   hold server PORT NAME            listen on 127.0.0.1:PORT and keep every connection open
 *   hold client PORT COUNT HOLD_MS NAME   open COUNT connections, keep them HOLD_MS, close them, exit
 * Prints one JSON line when ready ({ pid, ports }). NAME becomes the process name (comm).
 */
const [role = 'server', portText = '7000', a = '1', b = '1000', c = 'holder'] = process.argv.slice(2);
const port = Number(portText);

if (role === 'server') {
  process.title = a;
  const sockets: net.Socket[] = [];
  net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => undefined);
    s.on('data', (d) => s.write(d));
  }).listen({ port, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write(`${JSON.stringify({ pid: process.pid, ports: [port] })}\n`));
} else {
  process.title = c;
  const count = Number(a);
  const holdMs = Number(b);
  const sockets: net.Socket[] = [];
  let open = 0;
  // At most 256 connects in flight: thousands at once overflow the listener's accept queue and get reset.
  let started = 0;
  const connectNext = (): void => {
    if (started >= count) return;
    started++;
    const s = net.connect({ host: '127.0.0.1', port }, () => {
      s.write('hello');
      open++;
      connectNext();
      if (open === count) {
        process.stdout.write(`${JSON.stringify({ pid: process.pid, ports: sockets.map((x) => x.localPort) })}\n`);
        setTimeout(() => {
          for (const x of sockets) x.destroy();
          setTimeout(() => process.exit(0), 50);
        }, holdMs);
      }
    });
    s.on('error', (err) => {
      process.stderr.write(`hold client: ${String(err)}\n`);
      process.exit(1);
    });
    sockets.push(s);
  };
  for (let i = 0; i < Math.min(256, count); i++) connectNext();
}
