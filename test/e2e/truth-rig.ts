import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ConnectionSource, SourceReading } from '../../src/collector/source.js';
import { Tracker } from '../../src/collector/tracker.js';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';
import { createNamespace, type Namespace } from '../helpers/netns.js';
import { spawnChild } from '../collector/ebpf/support.js';

/**
 * The whole pipeline in one process, for truth tests: one real connection source (eBPF or /proc, which see
 * every network namespace of the machine) read at each tick, its reading split by network namespace into
 * one host per namespace (each with its own tracker, as a collector on that host would have), snapshots
 * written by the real writer into a fresh embedded store, and the real API answering over HTTP.
 */

export interface Rig {
  /** Reads the source once and writes one snapshot per host (the interval ends now). */
  tick(): Promise<void>;
  /** Replaces the source (a collector restart): the trackers start afresh too, as a restarted collector's do. */
  restart(source: ConnectionSource): Promise<void>;
  gql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

export function netnsInode(name: string): number {
  return statSync(`/run/netns/${name}`).ino;
}

const INTERVAL_MS = 1000;
const run = promisify(execFile);

/** Two hosts: namespaces joined by a veth pair, client .1 and server .2 in `v4net`.0/24 and `v6net`::/64. */
export interface HostPair {
  readonly client: Namespace;
  readonly server: Namespace;
  readonly hosts: ReadonlyMap<number, string>;
  remove(): Promise<void>;
}

export async function linkedHosts(prefix: string, v4net: string, v6net: string): Promise<HostPair> {
  const client = await createNamespace(`${prefix}c`);
  const server = await createNamespace(`${prefix}s`);
  const remove = async (): Promise<void> => {
    await client.remove();
    await server.remove();
  };
  try {
    const a = `${prefix}v${process.pid % 100000}a`.slice(0, 15);
    const b = `${prefix}v${process.pid % 100000}b`.slice(0, 15);
    await run('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    await run('ip', ['link', 'set', a, 'netns', client.name]);
    await run('ip', ['link', 'set', b, 'netns', server.name]);
    for (const [ns, dev, n] of [[client, a, 1], [server, b, 2]] as const) {
      await ns.exec('ip', ['addr', 'add', `${v4net}.${n}/24`, 'dev', dev]);
      await ns.exec('ip', ['-6', 'addr', 'add', `${v6net}::${n}/64`, 'dev', dev, 'nodad']);
      await ns.exec('ip', ['link', 'set', dev, 'up']);
    }
  } catch (err) {
    await remove();
    throw err;
  }
  const hosts = new Map([[netnsInode(client.name), `${prefix}client`], [netnsInode(server.name), `${prefix}server`]]);
  return { client, server, hosts, remove };
}

/** `hosts`: network namespace inode -> host id; sockets of other namespaces are not this test's. */
export async function startRig(source: ConnectionSource, hosts: ReadonlyMap<number, string>): Promise<Rig> {
  const { store, dispose } = await freshStore();
  const writer = new SnapshotWriter(store.writer);
  let current = source;
  const newTrackers = (): Map<number, Tracker> =>
    new Map([...hosts].map(([netns, hostId]) => [netns, new Tracker({ hostId, intervalMs: INTERVAL_MS, elision: null })]));
  let trackers = newTrackers();
  let lastTimeMs = 0;
  let api: ApiServer | null = null;
  try {
    api = createApiServer({ reader: store.reader, log: testLog, port: 0, env: {}, token: null });
    const { url } = await api.start();
    const started = api;
    return {
      async tick() {
        const reading = await current.read(AbortSignal.timeout(30_000));
        // One snapshot per host per interval: the interval this tick closes.
        const timeMs = Math.max(lastTimeMs + INTERVAL_MS, Math.floor(Date.now() / INTERVAL_MS) * INTERVAL_MS);
        lastTimeMs = timeMs;
        for (const [netns, tracker] of trackers) {
          const snapshot = tracker.build({ timeMs, readings: [forNamespace(reading, netns)] });
          const result = await writer.write(snapshot);
          if (result.rejected.length > 0) throw new Error(`rows rejected: ${JSON.stringify(result.rejected)}`);
        }
      },
      async restart(next) {
        await current.close();
        current = next;
        trackers = newTrackers();
      },
      async gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
        const body = (await res.json()) as { data?: T; errors?: unknown[] };
        if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
        return body.data as T;
      },
      async close() {
        await current.close().catch(() => undefined);
        await started.stop();
        await dispose();
      },
    };
  } catch (err) {
    await api?.stop().catch(() => undefined);
    await dispose();
    throw err;
  }
}

/** What a collector on the host of this namespace would have read. */
function forNamespace(r: SourceReading, netns: number): SourceReading {
  const observations = r.observations.filter((o) => o.netns === netns);
  const owners = new Set(observations.map((o) => (o.process === null ? '' : `${o.process.pid}/${o.process.startedAtMs}`)));
  return {
    observations,
    nat: [],
    listening: r.listening.filter((l) => l.netns === netns),
    processes: r.processes.filter((p) => owners.has(`${p.pid}/${p.startedAtMs}`)),
    run: r.run,
  };
}

export const TALKERS_RAW = `query ($range: TimeRange!, $name: String!) {
  talkers(range: $range, groupBy: PROCESS, filter: { processName: $name }, resolution: RAW) {
    edges {
      match connections bytesSent bytesReceived
      client { host { id } process { pid name } address }
      server { host { id } process { pid name } address port }
    }
  }
}`;

export const LEDGER_RAW = `query ($range: TimeRange!) {
  edges(range: $range, groupBy: PROCESS_NAME, resolution: RAW) {
    match connections
    client { host { id } process { name } address }
    server { host { id } process { name } address port }
  }
}`;

export interface TalkerEdge {
  match: string; connections: number; bytesSent: number; bytesReceived: number;
  client: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null };
  server: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null };
}

export interface LedgerEdge {
  match: string; connections: number;
  client: { host: { id: string } | null; process: { name: string } | null; address: string | null };
  server: { host: { id: string } | null; process: { name: string } | null; address: string | null; port: number | null };
}

const PROGRAM = fileURLToPath(new URL('../programs/close-modes.js', import.meta.url));

export interface ClientConn { localPort: number; sent: number; read: number }
export interface ServerConn { remotePort: number; received: number; sent: number }

/** One exchange of test/programs/close-modes: a server on the server host, a client on the client host. */
export interface ExchangeSpec {
  readonly server: string;
  readonly port: number;
  readonly count: number;
  readonly clientMode: string;
  readonly serverMode: string;
  readonly request: number;
  readonly reply: number;
  readonly concurrency: number;
  readonly clientName: string;
  readonly serverName: string;
}

export interface ExchangeOutcome {
  readonly spec: ExchangeSpec;
  readonly clientPid: number;
  readonly serverPid: number;
  readonly client: ClientConn[];
  readonly server: ServerConn[];
}

async function runExchange(pair: HostPair, spec: ExchangeSpec): Promise<ExchangeOutcome> {
  const start = (ns: Namespace, args: readonly string[]) => spawnChild('ip', ['netns', 'exec', ns.name, process.execPath, PROGRAM, ...args]);
  const server = start(pair.server, ['server', spec.server, String(spec.port), spec.serverName]);
  try {
    const { pid: serverPid } = await server.nextJson<{ pid: number }>();
    const client = start(pair.client, ['client', spec.server, String(spec.port), String(spec.count), spec.clientMode, spec.serverMode,
      String(spec.request), String(spec.reply), String(spec.concurrency), spec.clientName]);
    try {
      const report = await client.nextJson<{ pid: number; connections: ClientConn[] }>(120_000);
      const served: ServerConn[] = [];
      while (served.length < spec.count) served.push(await server.nextJson<ServerConn>(30_000));
      return { spec, clientPid: report.pid, serverPid, client: report.connections, server: served };
    } finally {
      await client.finish();
    }
  } finally {
    await server.finish();
  }
}

/** Runs the exchanges at once, ticking the rig every second meanwhile and `after` times after. */
export async function exchangeWhileTicking(rig: Rig, pair: HostPair, specs: readonly ExchangeSpec[], after = 3): Promise<ExchangeOutcome[]> {
  let done = false;
  const all = Promise.all(specs.map((spec) => runExchange(pair, spec))).finally(() => { done = true; });
  // A failure is reported by `await all` below; keep it from being unhandled while the ticks run.
  all.catch(() => undefined);
  while (!done) {
    await new Promise((r) => setTimeout(r, 1000));
    await rig.tick();
  }
  const outcomes = await all;
  for (let i = 0; i < after; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    await rig.tick();
  }
  return outcomes;
}
