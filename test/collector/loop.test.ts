import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { CollectorLoop, type LoopOptions } from '../../src/collector/loop.js';
import { CollectorMetrics } from '../../src/collector/metrics.js';
import type { ConnectionSource, SourceReading } from '../../src/collector/source.js';
import { Spool } from '../../src/collector/spool.js';
import { Tracker } from '../../src/collector/tracker.js';
import { ProcfsSource } from '../../src/collector/sources/procfs-source.js';
import type { Snapshot } from '../../src/domain/snapshot.js';
import { freePort, RecordingSink, SnapshotServer, TcpSink } from './sinks.js';

const INTERVAL = 500;
/** For tests driven by runOnce, where timing is not the point: room for a slow /proc scan on a busy machine. */
const UNHURRIED = { sourceTimeoutMs: 5000, tickTimeoutMs: 10_000 } as const;
const dirs: string[] = [];
const cleanups: (() => Promise<void>)[] = [];

after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The real /proc source of this network namespace; closed (its background fd walker stopped) at the end. */
function procfs(): ProcfsSource {
  const source = new ProcfsSource({ netns: 'self', logger: silent });
  cleanups.push(() => source.close());
  return source;
}

/** A source stuck in a read that ignores its abort signal (a wedged helper process, say). */
class HungSource implements ConnectionSource {
  readonly name = 'ebpf' as const;
  reads = 0;
  read(): Promise<SourceReading> {
    this.reads++;
    return new Promise<SourceReading>(() => undefined);
  }
  async close(): Promise<void> {}
}

class FailingSource implements ConnectionSource {
  readonly name = 'conntrack' as const;
  async read(): Promise<SourceReading> {
    throw new Error('conntrack: permission denied');
  }
  async close(): Promise<void> {}
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Quiet unless LOOP_DEBUG is set, when it prints the loop's warnings and per-tick lines to stderr. */
const debugLine = (level: string) => (o: object, m?: string): void => {
  if (process.env.LOOP_DEBUG) process.stderr.write(`${Date.now() % 100_000} ${level} ${m ?? ''} ${JSON.stringify(o)}\n`);
};
const silent = { info: () => undefined, warn: debugLine('WARN'), error: debugLine('ERROR'), debug: debugLine('DEBUG') };

async function setup(extra: Partial<LoopOptions> & { spoolMaxFiles?: number } = {}): Promise<{ loop: CollectorLoop; spool: Spool; registry: Registry; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'conntrail-loop-'));
  dirs.push(dir);
  const spool = await Spool.open({ dir, ...(extra.spoolMaxFiles ? { maxFiles: extra.spoolMaxFiles } : {}) });
  const registry = new Registry();
  const loop = new CollectorLoop({
    sources: [procfs()],
    tracker: new Tracker({ hostId: 'loop-host', intervalMs: INTERVAL }),
    sink: new RecordingSink(),
    spool, logger: silent, metrics: new CollectorMetrics(registry),
    intervalMs: INTERVAL, sourceTimeoutMs: 200, tickTimeoutMs: 400,
    ...extra,
  });
  cleanups.push(() => loop.stop());
  return { loop, spool, registry, dir };
}

/** A real loopback connection, so the /proc scan has something of ours to report. */
async function loopbackConnection(): Promise<{ server: Server; client: Socket; serverPort: number; clientPort: number }> {
  const server = createServer((s) => s.on('error', () => undefined));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const serverPort = (server.address() as { port: number }).port;
  const client = connect(serverPort, '127.0.0.1');
  await new Promise<void>((r) => client.once('connect', () => r()));
  cleanups.push(async () => {
    client.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { server, client, serverPort, clientPort: client.localPort as number };
}

/**
 * Every interval from the first to the last is there once, in order; on a loaded machine the loop may have
 * had to skip one, but then it says so (counted, and noted in the next snapshot): no silent gap.
 */
function assertEveryInterval(snaps: readonly Snapshot[], skipped: number): void {
  const times = snaps.map((s) => s.timeMs);
  for (const t of times) assert.equal(t % INTERVAL, 0, `time ${t} is aligned to the interval`);
  let gaps = 0;
  for (let i = 1; i < times.length; i++) {
    const step = (times[i] as number) - (times[i - 1] as number);
    assert.ok(step >= INTERVAL, `in order, each once: ${times.join(',')}`);
    gaps += step / INTERVAL - 1;
  }
  assert.ok(gaps <= skipped, `${gaps} missing intervals but only ${skipped} reported skipped: ${times.join(',')}`);
}

describe('collector loop', () => {
  it('spools while the sink is down and, once it is back, delivers every interval exactly once, in order', async () => {
    const port = await freePort();
    const server = new SnapshotServer(port);
    cleanups.push(() => server.stop());
    const conn = await loopbackConnection();
    const { loop, spool, registry } = await setup({ sink: new TcpSink(port) });
    loop.start();
    await waitFor('five spooled intervals', () => spool.depth >= 5);
    await server.start();
    await waitFor('the spool to drain and five more intervals', () => spool.depth === 0 && server.received.length >= 10);
    await loop.stop();

    assert.equal(server.maxConcurrent, 1, 'the loop never overlaps itself');
    assertEveryInterval(server.received, loop.stats().skipped);
    assert.equal(new Set(server.received.map((s) => s.timeMs)).size, server.received.length);
    const rows = server.received.flatMap((s) => s.connections);
    const client = rows.find((r) => r.localPort === conn.clientPort && r.remotePort === conn.serverPort);
    const accepted = rows.find((r) => r.localPort === conn.serverPort && r.remotePort === conn.clientPort);
    assert.equal(client?.direction, 'outgoing');
    assert.equal(accepted?.direction, 'incoming');
    assert.equal(client?.process?.pid, process.pid);
    assert.equal(rows.filter((r) => r.localPort === conn.clientPort).reduce((n, r) => n + r.newCount, 0), 1, 'counted new once');
    const text = await registry.metrics();
    assert.match(text, /conntrail_collector_snapshots_total\{outcome="spooled"\} ([5-9]|\d\d)/);
    assert.match(text, /conntrail_collector_snapshots_total\{outcome="replayed"\} ([5-9]|\d\d)/);
    assert.match(text, /conntrail_collector_spool_depth 0/);
    assert.match(text, /conntrail_collector_source_scan_seconds_count\{source="procfs"\} \d+/);
  });

  it('cuts a hung source at its timeout, records it, and goes on without reading it again while stuck', async () => {
    const hung = new HungSource();
    const sink = new RecordingSink();
    const { loop, registry } = await setup({ sources: [procfs(), hung, new FailingSource()], sink });
    loop.start();
    await waitFor('four intervals', () => sink.stored.size >= 4);
    await loop.stop();
    const snaps = [...sink.stored.values()];
    assertEveryInterval(snaps, loop.stats().skipped);
    assert.equal(hung.reads, 1, 'a read still pending is not started again');
    const runs = (s: Snapshot, name: string) => s.completeness.sources.find((r) => r.name === name);
    // Cut by its own 200 ms deadline, or by the tick's when a slow synchronous scan ran first.
    assert.match(runs(snaps[0] as Snapshot, 'ebpf')?.error ?? '', /timed out after (200|400) ms/);
    assert.match(runs(snaps[1] as Snapshot, 'ebpf')?.error ?? '', /previous read still running/);
    for (const s of snaps) {
      assert.equal(runs(s, 'procfs')?.ok, true);
      assert.equal(runs(s, 'ebpf')?.ok, false);
      assert.match(runs(s, 'conntrack')?.error ?? '', /permission denied/);
    }
    assert.match(await registry.metrics(), /conntrail_collector_source_failures_total\{source="ebpf"\} [4-9]/);
  });

  it('skips (and reports) a tick while the previous one is still running; stop() waits for the running tick', async () => {
    const port = await freePort();
    const server = new SnapshotServer(port, 825);
    cleanups.push(() => server.stop());
    await server.start();
    const { loop, registry } = await setup({ sink: new TcpSink(port), tickTimeoutMs: 2500 });
    loop.start();
    await waitFor('three snapshots', () => server.received.length >= 3);
    await waitFor('a tick in progress', () => server.maxConcurrent > 0 && (server as unknown as { concurrent: number }).concurrent === 1);
    const before = server.received.length;
    await loop.stop();
    assert.equal(server.received.length, before + 1, 'stop() resolved after the running tick delivered');
    await new Promise((r) => setTimeout(r, 2 * INTERVAL));
    assert.equal(server.received.length, before + 1, 'no tick after stop()');
    assert.equal(server.maxConcurrent, 1);
    assert.ok(loop.stats().skipped >= 1);
    assert.ok(server.received.some((s) => s.completeness.errors.some((e) => /skipped the interval .*previous tick still running/.test(e))));
    assert.match(await registry.metrics(), /conntrail_collector_ticks_skipped_total [1-9]/);
  });

  it('reports the boundaries it missed while the event loop was blocked, and carries on', async () => {
    const sink = new RecordingSink();
    const { loop } = await setup({ sink });
    loop.start();
    await waitFor('a first interval', () => sink.stored.size >= 1);
    const blockUntil = Date.now() + 2.5 * INTERVAL;
    while (Date.now() < blockUntil) { /* hold the event loop, as a stuck synchronous call would */ }
    await waitFor('two more intervals', () => sink.stored.size >= 3);
    await loop.stop();
    const snaps = [...sink.stored.values()];
    assert.ok(loop.stats().skipped >= 1);
    assertEveryInterval(snaps, loop.stats().skipped);
    assert.ok(snaps.some((s) => s.completeness.errors.some((e) => /the collector was late/.test(e))));
  });

  it('spools the snapshot when the sink hangs past the tick timeout', async () => {
    const hangingSink = { write: () => new Promise<void>(() => undefined) };
    const { loop, spool } = await setup({ sink: hangingSink, tickTimeoutMs: 100 });
    // The sink never answers: that runOnce returns at all shows the tick timeout cut it.
    const report = await loop.runOnce(Date.now());
    assert.equal(report?.outcome, 'spooled');
    assert.equal(spool.depth, 1);
  });

  it('records a refused snapshot in the next one instead of spooling it, and reports spool losses', async () => {
    let refuse = true;
    const sink = new RecordingSink(() => (refuse ? 'reject' : 'ok'));
    const { loop, spool, registry } = await setup({ sink, spoolMaxFiles: 1, ...UNHURRIED });
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;
    assert.equal((await loop.runOnce(t0))?.outcome, 'rejected');
    assert.equal(spool.depth, 0);
    refuse = false;
    assert.equal((await loop.runOnce(t0 + INTERVAL))?.outcome, 'written');
    const next = sink.stored.get(`loop-host@${t0 + INTERVAL}`);
    assert.ok(next);
    assert.ok(next.completeness.eventsLost >= 1);
    assert.match(next.completeness.errors[0] ?? '', /refused by the sink/);
    assert.equal(await loop.runOnce(t0 + INTERVAL), null, 'an interval is done once');
    assert.match(await registry.metrics(), /conntrail_collector_snapshots_total\{outcome="rejected"\} 1/);
  });

  it('spools a snapshot when the sink fails with an error it did not classify', async () => {
    let broken = true;
    const sink = new RecordingSink(() => (broken ? 'error' : 'ok'));
    const { loop, spool, registry } = await setup({ sink, ...UNHURRIED });
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;
    assert.equal((await loop.runOnce(t0))?.outcome, 'spooled');
    assert.equal((await loop.runOnce(t0 + INTERVAL))?.outcome, 'spooled');
    broken = false;
    const report = await loop.runOnce(t0 + 2 * INTERVAL);
    assert.equal(report?.outcome, 'written');
    assert.equal(report?.replayed, 2);
    assert.equal(spool.depth, 0);
    assert.deepEqual(sink.times(), [t0, t0 + INTERVAL, t0 + 2 * INTERVAL]);
    assert.doesNotMatch(await registry.metrics(), /conntrail_collector_snapshots_total\{outcome="rejected"\} [1-9]/);
  });

  it('does not lose the losses a refused snapshot carried: they are reported in the next one', async () => {
    let mode: 'unavailable' | 'reject' | 'ok' = 'unavailable';
    const sink = new RecordingSink(() => mode);
    const { loop } = await setup({ sink, spoolMaxFiles: 1, ...UNHURRIED });
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;
    // Down for three intervals with room for one: two snapshots dropped from the full spool.
    for (let i = 0; i < 3; i++) assert.equal((await loop.runOnce(t0 + i * INTERVAL))?.outcome, 'spooled');
    // Then two snapshots refused: the first one carried the spool's losses.
    mode = 'reject';
    for (let i = 3; i < 5; i++) assert.equal((await loop.runOnce(t0 + i * INTERVAL))?.outcome, 'rejected');
    mode = 'ok';
    assert.equal((await loop.runOnce(t0 + 5 * INTERVAL))?.outcome, 'written');
    const errors = sink.stored.get(`loop-host@${t0 + 5 * INTERVAL}`)?.completeness.errors ?? [];
    assert.equal(errors.filter((e) => /spool full/.test(e)).length, 2, JSON.stringify(errors));
    // The spooled t0+2 was refused on replay (moved aside), then t0+3 and t0+4 live: each is reported.
    assert.equal(errors.filter((e) => /sink refused snapshot/.test(e)).length, 1, JSON.stringify(errors));
    assert.equal(errors.filter((e) => /refused by the sink/.test(e)).length, 2, JSON.stringify(errors));
  });

  it('carries the losses of a full spool into the next delivered snapshot', async () => {
    let down = true;
    const sink = new RecordingSink(() => (down ? 'unavailable' : 'ok'));
    const { loop, spool } = await setup({ sink, spoolMaxFiles: 2, ...UNHURRIED });
    const t0 = Math.floor(Date.now() / INTERVAL) * INTERVAL;
    for (let i = 0; i < 4; i++) assert.equal((await loop.runOnce(t0 + i * INTERVAL))?.outcome, 'spooled');
    assert.equal(spool.depth, 2);
    down = false;
    const report = await loop.runOnce(t0 + 4 * INTERVAL);
    assert.equal(report?.outcome, 'written');
    assert.equal(report?.replayed, 2);
    const times = [...sink.stored.values()].map((s) => s.timeMs);
    assert.deepEqual(times, [t0 + 2 * INTERVAL, t0 + 3 * INTERVAL, t0 + 4 * INTERVAL]);
    const fourth = sink.stored.get(`loop-host@${t0 + 3 * INTERVAL}`);
    const last = sink.stored.get(`loop-host@${t0 + 4 * INTERVAL}`);
    // The first drop happened while spooling t0+2 (reported in t0+3), the second while spooling t0+3.
    assert.equal(fourth?.completeness.errors.filter((e) => /spool full/.test(e)).length, 1);
    assert.equal(last?.completeness.errors.filter((e) => /spool full/.test(e)).length, 1);
  });
});
