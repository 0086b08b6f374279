import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createInterface } from 'node:readline';
import type { SocketObservation } from '../../../src/domain/connection.js';
import { ConntrackSource } from '../../../src/collector/sources/conntrack-source.js';
import { createNamespace, eventually, type Namespace } from '../../helpers/netns.js';
import { testLog } from '../../helpers/env.js';

/**
 * The conntrack source follows the kernel's state: a live connection is ESTABLISHED (not the SYN_SENT of its
 * NEW event), its end is reported once, and its entry lingering in TIME_WAIT afterwards is not reported again.
 * Real conntrack in a namespace of the test's own; a child program makes one connection over loopback and
 * closes it three seconds later.
 */
const CHILD = `
const net = require('node:net');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
net.createServer((s) => { s.on('data', () => s.write('pong')); s.on('end', () => s.end()); s.on('error', () => {}); })
  .listen(7311, '127.0.0.1', () => {
    const c = net.connect(7311, '127.0.0.1', () => { c.write('ping'); });
    c.once('data', () => { out({ open: c.localPort }); setTimeout(() => c.end(), 3000); });
    c.on('close', () => out({ closed: true }));
  });
`;

let ns: Namespace;
let source: ConntrackSource;

before(async () => {
  ns = await createNamespace('ctst');
  // A stateful rule makes the kernel track the namespace's flows (the helper's empty nat rule does not, here).
  await ns.exec('iptables', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT']);
  source = new ConntrackSource({ logger: testLog, netns: 7, netnsPath: `/var/run/netns/${ns.name}`, localAddresses: () => new Set(['127.0.0.1']) });
  await source.start();
  // The event stream subscribes asynchronously: let it start before the connection is made.
  await new Promise((r) => setTimeout(r, 1500));
});

after(async () => {
  await source?.close();
  await ns?.remove();
});

async function readClient(port: number): Promise<SocketObservation[]> {
  const reading = await source.read(new AbortController().signal);
  return reading.observations.filter((o) => o.local.port === port || o.remote.port === port);
}

test('a live connection is ESTABLISHED, its end is reported once, its lingering entry never again', async () => {
  const child = ns.spawn(process.execPath, ['-e', CHILD]);
  const lines: Array<{ open?: number; closed?: boolean }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as { open?: number; closed?: boolean }));
  try {
    const port = await eventually('the connection', 10_000, async () => lines.find((l) => l.open !== undefined)?.open);
    const live = await eventually('an ESTABLISHED observation', 10_000, async () => {
      const obs = await readClient(port);
      return obs.length > 0 && obs.every((o) => o.state === 'ESTABLISHED') ? obs : undefined;
    });
    assert.equal(live.length, 1, JSON.stringify(live));
    assert.deepEqual(live[0]!.local, { address: '127.0.0.1', port });
    assert.equal(live[0]!.closedAtMs, null);

    await eventually('the close', 10_000, async () => (lines.some((l) => l.closed) ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    const closing = await readClient(port);
    assert.equal(closing.length, 1, JSON.stringify(closing));
    assert.equal(closing[0]!.state, 'CLOSE');
    assert.ok(closing[0]!.closedAtMs !== null);
    // The kernel keeps the entry in TIME_WAIT for two minutes: it is not a connection any more.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(await readClient(port), []);
    }
  } finally {
    child.kill('SIGKILL');
  }
});
