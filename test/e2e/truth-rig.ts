import { statSync } from 'node:fs';
import type { ConnectionSource, SourceReading } from '../../src/collector/source.js';
import { Tracker } from '../../src/collector/tracker.js';
import { createApiServer, type ApiServer } from '../../src/api/index.js';
import { SnapshotWriter } from '../../src/store/index.js';
import { freshStore, testLog } from '../helpers/env.js';

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
