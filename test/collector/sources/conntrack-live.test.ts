import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { listConntrack, readProcConntrack } from '../../../src/collector/sources/conntrack/list.js';
import { ConntrackStream } from '../../../src/collector/sources/conntrack/stream.js';
import type { ConntrackEvent, Flow } from '../../../src/collector/sources/conntrack/types.js';
import { fixturePath } from './fixtures.js';
import { createNetns, sh, spawnNode, waitFor, type NodeChild } from './helpers.js';

/**
 * Real conntrack in a network namespace made for the test. Loopback addresses stand for hosts:
 *   10.55.0.1:80 -> DNAT 10.55.0.2:8080                     (DNAT)
 *   10.55.0.3:9000, source rewritten to 10.55.0.9            (SNAT)
 *   10.55.0.1:81 -> DNAT 10.55.0.2:8081, source 10.55.0.9    (BOTH)
 *   [fd55::1]:80 -> DNAT [fd55::2]:8080                      (DNAT, IPv6)
 * A child node process in the namespace runs the servers and makes the client connections.
 */

const CHILD = `
const net = require('node:net');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
const servers = [['10.55.0.2', 8080], ['10.55.0.2', 8081], ['10.55.0.3', 9000], ['fd55::2', 8080]];
let listening = 0;
for (const [host, port] of servers) {
  net.createServer({ allowHalfOpen: false }, (s) => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); })
    .listen(port, host, () => { if (++listening === servers.length) out({ ready: true }); });
}
const held = [];
process.stdin.on('data', (d) => {
  for (const line of d.toString().trim().split('\\n')) {
    const cmd = JSON.parse(line);
    const t0 = Date.now();
    const c = net.connect(cmd.port, cmd.host, () => {
      const localPort = c.localPort;
      c.write('ping');
      c.once('data', () => {
        if (cmd.holdMs < 0) { held.push(c); out({ id: cmd.id, localPort, open: true }); return; }
        setTimeout(() => c.end(), cmd.holdMs);
      });
      c.on('close', () => out({ id: cmd.id, localPort, closed: true, ms: Date.now() - t0 }));
    });
    c.on('error', (e) => out({ id: cmd.id, error: String(e) }));
  }
});
process.stdin.on('end', () => process.exit(0));
`;

let ns: ReturnType<typeof createNetns>;
let child: NodeChild;
let nextId = 0;

function inNs(...args: string[]): string {
  return sh('ip', 'netns', 'exec', ns.name, ...args);
}

before(async () => {
  ns = createNetns('ctnat');
  for (const a of ['10.55.0.1', '10.55.0.2', '10.55.0.3', '10.55.0.9']) sh('ip', '-n', ns.name, 'addr', 'add', `${a}/32`, 'dev', 'lo');
  for (const a of ['fd55::1', 'fd55::2']) sh('ip', '-n', ns.name, 'addr', 'add', `${a}/128`, 'dev', 'lo', 'nodad');
  inNs('iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.55.0.1', '--dport', '80', '-j', 'DNAT', '--to-destination', '10.55.0.2:8080');
  inNs('iptables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '10.55.0.1', '--dport', '81', '-j', 'DNAT', '--to-destination', '10.55.0.2:8081');
  inNs('iptables', '-t', 'nat', '-A', 'POSTROUTING', '-p', 'tcp', '-d', '10.55.0.2', '--dport', '8081', '-j', 'SNAT', '--to-source', '10.55.0.9');
  inNs('iptables', '-t', 'nat', '-A', 'POSTROUTING', '-p', 'tcp', '-d', '10.55.0.3', '--dport', '9000', '-j', 'SNAT', '--to-source', '10.55.0.9');
  inNs('ip6tables', '-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', 'fd55::1', '--dport', '80', '-j', 'DNAT', '--to-destination', '[fd55::2]:8080');
  child = spawnNode(CHILD, ['ip', 'netns', 'exec', ns.name]);
  await child.message<{ ready?: boolean }>((m) => m.ready === true);
});

after(async () => {
  await child?.kill();
  ns?.remove(); // the namespace takes its iptables rules and conntrack table with it
});

interface Reply { id: number; localPort: number; closed?: boolean; open?: boolean; ms?: number; error?: string }

async function connect(host: string, port: number, holdMs: number): Promise<Reply> {
  const id = nextId++;
  child.child.stdin?.write(`${JSON.stringify({ id, host, port, holdMs })}\n`);
  const reply = await child.message<Reply>((m) => m.id === id && (m.closed === true || m.open === true || m.error !== undefined));
  assert.equal(reply.error, undefined);
  return reply;
}

function eventFor(events: readonly ConntrackEvent[], type: string, srcPort: number, dstPort: number): ConntrackEvent | undefined {
  return events.find((e) => e.type === type && e.flow.original.srcPort === srcPort && e.flow.original.dstPort === dstPort);
}

test('the event stream in a namespace sees NEW and DESTROY of short NATed connections with the right tuples', async () => {
  const events: ConntrackEvent[] = [];
  const stream = ConntrackStream.start({ netnsPath: ns.path }, (e) => events.push(e));
  try {
    await stream.waitUntilSubscribed();
    const before = Date.now();
    // Each connection lives about 50 ms: connect, one round trip, a 50 ms pause, close.
    const dnat = await connect('10.55.0.1', 80, 50);
    const snat = await connect('10.55.0.3', 9000, 50);
    const both = await connect('10.55.0.1', 81, 50);
    const v6 = await connect('fd55::1', 80, 50);
    for (const r of [dnat, snat, both, v6]) assert.ok((r.ms ?? 0) < 1_000, `connection ${r.id} lived ${r.ms} ms`);
    const expectNew = async (r: Reply, port: number): Promise<Flow> =>
      (await waitFor(`NEW for ${r.localPort}->${port}`, () => eventFor(events, 'NEW', r.localPort, port))).flow;
    const fDnat = await expectNew(dnat, 80);
    const fSnat = await expectNew(snat, 9000);
    const fBoth = await expectNew(both, 81);
    const fV6 = await expectNew(v6, 80);
    assert.deepEqual([fDnat.kind, fDnat.original, fDnat.reply], ['DNAT',
      { src: '10.55.0.1', dst: '10.55.0.1', srcPort: dnat.localPort, dstPort: 80 },
      { src: '10.55.0.2', dst: '10.55.0.1', srcPort: 8080, dstPort: dnat.localPort }]);
    assert.deepEqual([fSnat.kind, fSnat.original.dst, fSnat.reply.src, fSnat.reply.dst, fSnat.reply.srcPort], ['SNAT', '10.55.0.3', '10.55.0.3', '10.55.0.9', 9000]);
    assert.deepEqual([fBoth.kind, fBoth.reply.src, fBoth.reply.dst, fBoth.reply.srcPort], ['BOTH', '10.55.0.2', '10.55.0.9', 8081]);
    assert.deepEqual([fV6.family, fV6.kind, fV6.original.src, fV6.reply.src, fV6.reply.srcPort], [6, 'DNAT', 'fd55::1', 'fd55::2', 8080]);
    assert.ok(fDnat.id !== null && fDnat.protocol === 'tcp' && fDnat.state === 'SYN_SENT' && fDnat.unreplied);
    const newEvent = eventFor(events, 'NEW', dnat.localPort, 80);
    assert.ok(newEvent?.timestampMs !== null && Math.abs((newEvent?.timestampMs ?? 0) - before) < 10_000);
    // The kernel reaps closed entries lazily (its conntrack GC may wait up to a minute, and is shared by
    // all namespaces), so end them now: conntrack reports the deletion as the same DESTROY event.
    for (const r of [dnat, snat, both]) inNs('conntrack', '-D', '-p', 'tcp', '--orig-port-src', String(r.localPort));
    inNs('conntrack', '-D', '-f', 'ipv6', '-p', 'tcp', '--orig-port-src', String(v6.localPort));
    for (const [r, port, flow] of [[dnat, 80, fDnat], [snat, 9000, fSnat], [both, 81, fBoth], [v6, 80, fV6]] as const) {
      const destroyed = await waitFor(`DESTROY for ${r.localPort}`, () => eventFor(events, 'DESTROY', r.localPort, port));
      assert.deepEqual([destroyed.flow.original, destroyed.flow.reply, destroyed.flow.kind, destroyed.flow.id], [flow.original, flow.reply, flow.kind, flow.id]);
    }
    assert.equal(stream.stats().malformed, 0);
    assert.equal(stream.stats().lost, 0);
  } finally {
    const exit = await stream.stop();
    assert.equal(exit.requested, true);
    assert.equal(exit.unavailable, false);
  }
});

test('listing the table (conntrack -L, and /proc/net/nf_conntrack via nsenter) shows an open NATed connection', async () => {
  const open = await connect('10.55.0.1', 80, -1);
  const listed = await listConntrack({ netnsPath: ns.path });
  assert.ok(listed.available, listed.available ? '' : listed.reason);
  const flow = listed.flows.find((f) => f.original.srcPort === open.localPort && f.original.dstPort === 80);
  assert.deepEqual(flow && [flow.kind, flow.state, flow.reply.src, flow.reply.srcPort], ['DNAT', 'ESTABLISHED', '10.55.0.2', 8080]);
  assert.equal(listed.via, 'conntrack');
  assert.equal(listed.malformed, 0);
  assert.ok(flow?.id !== null);
  const proc = await readProcConntrack({ netnsPath: ns.path });
  assert.ok(proc.available, proc.available ? '' : proc.reason);
  const procFlow = proc.flows.find((f) => f.original.srcPort === open.localPort && f.original.dstPort === 80);
  assert.deepEqual(procFlow && [procFlow.kind, procFlow.id, procFlow.reply.src], ['DNAT', null, '10.55.0.2']);
  // The same namespace read through a pid of one of its processes, without nsenter.
  const pid = child.child.pid;
  assert.ok(pid !== undefined);
  const byPid = await readProcConntrack({ netnsPath: `/proc/${pid}/ns/net` });
  assert.ok(byPid.available && byPid.flows.some((f) => f.original.srcPort === open.localPort));
});

test('an overrun of the event socket is counted as loss; the stream keeps running', async () => {
  let delivered = 0;
  const losses: number[] = [];
  // A 4 KiB receive buffer holds a handful of events: a burst of new UDP flows overruns it.
  const stream = ConntrackStream.start({ netnsPath: ns.path, bufferSize: 4096, events: ['NEW'] }, () => { delivered++; });
  stream.on('loss', (l) => losses.push(l.lost));
  try {
    await stream.waitUntilSubscribed();
    inNs(process.execPath, '-e', `
      const dgram = require('node:dgram');
      const s = dgram.createSocket('udp4');
      let sent = 0;
      s.bind(0, '10.55.0.1', () => {
        for (let p = 20000; p < 24000; p++) s.send('x', p, '10.55.0.2', () => { if (++sent === 4000) s.close(); });
      });
    `);
    await waitFor('an overrun warning', () => stream.stats().lost > 0, 10_000);
    assert.ok(losses.length >= 1);
    assert.ok(delivered > 0 && delivered < 4000, `delivered ${delivered}`);
    // Still alive and delivering after the overrun.
    const afterLoss = stream.stats().events;
    await connect('10.55.0.1', 80, 0);
    await waitFor('events after the overrun', () => stream.stats().events > afterLoss, 5_000);
  } finally {
    await stream.stop();
  }
});

test('a stream whose child dies reports it through the exit event (restarting is up to the caller)', async () => {
  const stream = ConntrackStream.start({ netnsPath: ns.path }, () => undefined);
  const exits: Array<{ requested: boolean; signal: string | null }> = [];
  stream.on('exit', (e) => exits.push({ requested: e.requested, signal: e.signal }));
  await stream.waitUntilSubscribed();
  const pid = stream.pid;
  assert.ok(pid !== null);
  process.kill(pid, 'SIGKILL');
  const exit = await stream.exited;
  assert.deepEqual([exit.requested, exit.unavailable, exit.signal], [false, false, 'SIGKILL']);
  assert.match(exit.reason, /conntrack exited/);
  assert.deepEqual(exits, [{ requested: false, signal: 'SIGKILL' }]);
  // Stopping an ended stream is harmless and gives the same exit.
  assert.equal(await stream.stop(), exit);
});

test('without the conntrack tool: the stream ends as unavailable; the list falls back to /proc or says why not', async () => {
  const stream = ConntrackStream.start({ binary: 'conntrack-not-installed-here' }, () => undefined);
  const exits: boolean[] = [];
  stream.on('exit', (e) => exits.push(e.unavailable));
  const exit = await stream.exited;
  assert.deepEqual([exit.unavailable, exit.requested, exits], [true, false, [true]]);
  assert.match(exit.reason, /conntrack tool not found/);
  await assert.rejects(stream.waitUntilSubscribed(100), { code: 'CONNTRACK_STOPPED' });

  const fromFixture = await listConntrack({ binary: 'conntrack-not-installed-here', root: fixturePath('proc-tree') });
  assert.ok(fromFixture.available);
  assert.equal(fromFixture.via, 'proc');
  assert.deepEqual(fromFixture.flows.map((f) => [f.kind, f.original.dstPort, f.reply.src]), [['DNAT', 80, '10.0.0.1']]);
  const nowhere = await listConntrack({ binary: 'conntrack-not-installed-here', root: fixturePath('proc-tree', 'no-such-dir') });
  assert.equal(nowhere.available, false);
  if (!nowhere.available) assert.match(nowhere.reason, /conntrack tool not found.*nf_conntrack.*unreadable/);
});
