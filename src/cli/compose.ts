import { createServer, type Server } from 'node:http';
import { readlinkSync } from 'node:fs';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { HealthSink, assessHealth, type HealthReport } from '../collector/health.js';
import { CollectorLoop } from '../collector/loop.js';
import { CollectorMetrics } from '../collector/metrics.js';
import type { SnapshotSink } from '../collector/sink.js';
import type { ConnectionSource } from '../collector/source.js';
import { Spool } from '../collector/spool.js';
import { Tracker } from '../collector/tracker.js';
import { ConntrackSource } from '../collector/sources/conntrack-source.js';
import { AllNetnsConntrackSource } from '../collector/sources/conntrack-all-netns.js';
import { AutoSource, EbpfSource, createSourceForMode } from '../collector/sources/ebpf/index.js';
import { DnsNames } from '../collector/sources/dns/names.js';
import { ListeningSource } from '../collector/sources/listening-source.js';
import { NetnsFilterSource } from '../collector/sources/netns-filter.js';
import { ProcfsSource } from '../collector/sources/procfs-source.js';
import { isServerMode, type ApiArgs, type CollectorArgs, type Command } from './args.js';
import type { Log } from './log.js';
import { logSqlEndpoint, openFromArgs } from './commands/store-commands.js';
import { StoreSink } from './store-sink.js';

/**
 * The one composition root: wires sources -> tracker -> loop -> sink(store writer), and the API on the
 * store's reader. Nothing else in the code base knows both the collector and the store.
 */
export interface Running {
  stop(): Promise<void>;
}

function ownNetnsInode(): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))?.[1] ?? 0);
}

function explainPrivileges(log: Log): void {
  if (process.getuid?.() === 0) return;
  log.warn({ uid: process.getuid?.() },
    'not running as root: sockets of other users have no owning process (their /proc/PID/fd cannot be read), ' +
    'conntrack (short-lived connections, NAT) and eBPF (bytes, every connection) are unavailable; run as root for full data');
}

async function serveMetrics(registry: Registry, health: () => HealthReport, args: CollectorArgs, log: Log): Promise<Server | null> {
  if (args.metricsPort === null) return null;
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      const report = health();
      const text = JSON.stringify(report);
      // Stale (no snapshot accepted for several intervals) is 503, so a probe or an alert sees it without parsing.
      res.writeHead(report.status === 'stale' ? 503 : 200, { 'content-type': 'application/json; charset=utf-8' }).end(text);
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: unknown) => res.writeHead(500).end(String(err)));
  });
  return new Promise((resolve) => {
    server.once('error', (err) => {
      log.warn({ err: String(err), port: args.metricsPort }, 'metrics endpoint not started');
      resolve(null);
    });
    server.listen(args.metricsPort ?? 0, args.metricsListen, () => {
      log.info({ port: args.metricsPort, host: args.metricsListen }, 'metrics at /metrics');
      resolve(server);
    });
  });
}

export async function startCollector(args: CollectorArgs, storeSink: SnapshotSink, log: Log): Promise<Running> {
  explainPrivileges(log);
  const startedMs = Date.now();
  const sink = new HealthSink(storeSink);
  const registry = new Registry();
  // prom-client samples the event loop every 10 ms by default: about 0.7% of a core by itself, for a
  // process whose work comes once per interval. Once a second still shows a blocked loop.
  collectDefaultMetrics({ register: registry, prefix: 'conntrail_collector_process_', eventLoopMonitoringPrecision: 1000 });
  const metrics = new CollectorMetrics(registry);
  const netns = ownNetnsInode();
  const procfs = (): ProcfsSource => new ProcfsSource({ netns: args.netns, logger: log });
  const initialState = async (): Promise<readonly import('../domain/connection.js').SocketObservation[]> => {
    const scan = procfs();
    try {
      return (await scan.read(new AbortController().signal)).observations;
    } finally {
      await scan.close();
    }
  };
  const dnsMode = args.dns ?? 'off';
  const names = dnsMode === 'off' ? null : new DnsNames({
    mode: dnsMode, logger: log, netns: args.netns === 'self' ? netns : null, reverse: { servers: args.dnsServer ? [args.dnsServer] : [] },
  });
  // Snooping needs the eBPF helper; with /proc only (or after a fallback to it) names come from reverse lookups.
  const dnsSink = names?.snooping === true ? { dns: names } : {};
  if (names?.snooping === true && args.source === 'procfs') log.warn({ dns: dnsMode }, 'DNS snooping needs the eBPF source: with --source procfs only reverse names are recorded');
  const primary: ConnectionSource = await createSourceForMode(args.source, {
    ebpf: () => EbpfSource.start({ initialState, logger: log, ...dnsSink }),
    procfs,
    logger: log,
  });
  const main: ConnectionSource = args.netns === 'self' ? new NetnsFilterSource(primary, netns) : primary;
  const ownConntrack = new ConntrackSource({ logger: log, netns });
  // --netns all: the translations of every other namespace too (containers' own iptables, sidecar redirects).
  const conntrack = args.netns === 'all' ? new AllNetnsConntrackSource(ownConntrack, { logger: log, ownNetns: netns }) : ownConntrack;
  const sources: ConnectionSource[] = [main, conntrack];
  // eBPF sees connections, not listeners: a cheap /proc pass keeps the listening table (and direction evidence).
  if (args.source !== 'procfs') sources.push(new ListeningSource({ netns: args.netns }));
  let loop: CollectorLoop;
  let metricsServer: Server | null;
  try {
    const spool = await Spool.open({ dir: args.spoolDir, logger: log });
    loop = new CollectorLoop({
      sources, tracker: new Tracker({ hostId: args.hostId, intervalMs: args.intervalMs }), sink, spool, logger: log, metrics, intervalMs: args.intervalMs,
      ...(names !== null ? { names } : {}),
    });
    loop.start();
    const health = (): HealthReport => assessHealth({
      nowMs: Date.now(), startedMs, intervalMs: args.intervalMs, lastWrittenMs: sink.lastWrittenMs, spoolDepth: spool.depth,
      // The source in use now: auto reports ebpf until it falls back to procfs.
      source: primary.name, fallbackReason: primary instanceof AutoSource ? primary.fallbackReason : null,
    });
    metricsServer = await serveMetrics(registry, health, args, log);
  } catch (err) {
    // A failed start closes what it opened: the sources hold helper processes and file handles.
    for (const s of sources) await s.close().catch(() => undefined);
    names?.close();
    throw err;
  }
  log.info({ hostId: args.hostId, intervalMs: args.intervalMs, netns: args.netns, source: args.source, spool: args.spoolDir }, 'collector started');
  return {
    async stop() {
      await loop.stop();
      for (const s of sources) await s.close().catch(() => undefined);
      names?.close();
      metricsServer?.close();
    },
  };
}

async function startApi(args: ApiArgs, store: { reader: import('../store/index.js').Database }, log: Log): Promise<Running> {
  // Loaded here, not at the top: `conntrail collect` never serves the API, and GraphQL with Apollo is
  // about 10 MB of a collector's memory.
  const { createApiServer } = await import('../api/index.js');
  const server = createApiServer({
    reader: store.reader, log, host: args.listen, port: args.port, token: args.token, production: process.env.NODE_ENV === 'production',
  });
  const address = await server.start();
  log.info({ url: address.url }, 'API ready');
  return { stop: () => server.stop() };
}

async function until(stopSignal: Promise<void>, parts: Running[], closeStore: () => Promise<void>, log: Log): Promise<void> {
  await stopSignal;
  log.info({}, 'stopping');
  for (const p of parts.reverse()) await p.stop().catch((err: unknown) => log.error({ err: String(err) }, 'stop failed'));
  await closeStore();
  process.exit(0);
}

export async function runUp(command: Extract<Command, { name: 'up' }>, log: Log, stopSignal: Promise<void>): Promise<void> {
  const store = await openFromArgs(command.store, log, { logins: ['writer', 'reader'] });
  const parts: Running[] = [];
  try {
    parts.push(await startApi(command.api, store, log));
    parts.push(await startCollector(command.collector, new StoreSink(store.writer, log), log));
  } catch (err) {
    for (const p of parts) await p.stop().catch(() => undefined);
    await store.close();
    throw err;
  }
  logSqlEndpoint(store, command.store, log);
  await until(stopSignal, parts, () => store.close(), log);
}

export async function runCollect(command: Extract<Command, { name: 'collect' }>, log: Log, stopSignal: Promise<void>): Promise<void> {
  // With a database URL the collector only writes; the server (or `conntrail up`) owns the schema.
  const embedded = !isServerMode(command.store);
  const store = await openFromArgs(command.store, log, { migrate: embedded, maintenance: embedded, logins: ['writer'] });
  const collector = await startOrClose(() => startCollector(command.collector, new StoreSink(store.writer, log), log), store);
  await until(stopSignal, [collector], () => store.close(), log);
}

export async function runServe(command: Extract<Command, { name: 'serve' }>, log: Log, stopSignal: Promise<void>): Promise<void> {
  const embedded = !isServerMode(command.store);
  const store = await openFromArgs(command.store, log, { migrate: embedded, logins: ['reader'] });
  const api = await startOrClose(() => startApi(command.api, store, log), store);
  await until(stopSignal, [api], () => store.close(), log);
}

/** Starts a part on an open store; when the start fails, closes the store (and its SQL endpoint) before rethrowing. */
async function startOrClose(start: () => Promise<Running>, store: { close(): Promise<void> }): Promise<Running> {
  try {
    return await start();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}
