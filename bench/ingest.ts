import type { ConnectionRow } from '../src/domain/connection.js';
import { SnapshotWriter, type Store } from '../src/store/index.js';
import { benchTargets, sideBySide, stringOptions } from './targets.js';

/**
 * Ingest: rows/s of the snapshot writer (unnest, one transaction per snapshot, idempotency check) against
 * a raw COPY of the same rows into the same embedded database, side by side.
 * Goal: writer >= 0.8x raw COPY, embedded >= 60k connection rows/s.
 */
function rows(n: number, seed: number): ConnectionRow[] {
  const out: ConnectionRow[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      netns: 4026531840, protocol: i % 10 === 0 ? 'udp' : 'tcp', family: 4, direction: i % 2 ? 'outgoing' : 'incoming',
      localAddress: `10.${seed % 250}.${(i >> 8) & 255}.${i & 255}`, localPort: 30000 + (i % 30000),
      remoteAddress: `10.200.${(i >> 4) & 255}.${(i * 7) & 255}`, remotePort: 443, process: { pid: 1000 + (i % 500), startedAtMs: 1_700_000_000_000 },
      state: 'ESTABLISHED', openedAtMs: null, closedAtMs: null, bytesSent: i * 3, bytesReceived: i * 5, retransmits: i % 3,
      rttUs: 100 + (i % 900), source: 'procfs', count: 1, newCount: i % 4 === 0 ? 1 : 0,
    });
  }
  return out;
}

function csv(timeIso: string, host: string, list: ConnectionRow[]): string {
  return list.map((r) => [timeIso, host, r.netns, r.protocol, r.family, r.direction, r.localAddress, r.localPort, r.remoteAddress, r.remotePort,
    r.process?.pid ?? '', r.process ? new Date(r.process.startedAtMs).toISOString() : '', r.state, '', '', r.bytesSent, r.bytesReceived,
    r.retransmits, r.rttUs ?? '', r.source, r.count, r.newCount].join(',')).join('\n');
}

async function measure(store: Store, snapshots: number, perSnapshot: number, report: (line: string) => void): Promise<Map<string, string>> {
  const figures = new Map<string, string>();
  const writer = new SnapshotWriter(store.writer);
  const base = Math.floor(Date.now() / 15_000) * 15_000 - snapshots * 15_000 * 2;
  const batches = Array.from({ length: snapshots }, (_, i) => rows(perSnapshot, i));
  // Warm-up: the first chunk of a day creates the hypertable chunk.
  await writer.write({ hostId: 'warm', timeMs: base - 15_000, intervalMs: 15_000, connections: rows(100, 999), nat: [], listening: [], processes: [], completeness: { sources: [], eventsLost: 0, errors: [] } });
  let started = process.hrtime.bigint();
  for (let i = 0; i < snapshots; i++) {
    await writer.write({ hostId: 'bench-writer', timeMs: base + i * 15_000, intervalMs: 15_000, connections: batches[i] ?? [], nat: [], listening: [], processes: [], completeness: { sources: [], eventsLost: 0, errors: [] } });
    if ((i + 1) % 5 === 0) report(`  writer: ${i + 1}/${snapshots} snapshots`);
  }
  const writerSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const total = snapshots * perSnapshot;
  const writerRate = total / writerSeconds;
  report(`ingest (${store.mode}, ${snapshots} snapshots x ${perSnapshot} connection rows = ${total} rows)`);
  report(`  writer (unnest via SQL endpoint): ${Math.round(writerRate).toLocaleString('en-US')} rows/s (${writerSeconds.toFixed(2)} s)`);
  figures.set('writer rows/s', Math.round(writerRate).toLocaleString('en-US'));
  if (!store.embedded) {
    // COPY FROM STDIN needs a COPY-capable client (pg-copy-streams), which conntrail does not depend on.
    report('  raw COPY: measured on the embedded store only (its in-process COPY path)');
    return figures;
  }
  started = process.hrtime.bigint();
  for (let i = 0; i < snapshots; i++) {
    const data = new TextEncoder().encode(csv(new Date(base + i * 15_000).toISOString(), 'bench-copy', batches[i] ?? []));
    await store.embedded.copyFromBlob(
      `COPY conntrail.connections (time, host_id, netns, protocol, family, direction, local_addr, local_port, remote_addr, remote_port, pid,
        process_started_at, state, opened_at, closed_at, bytes_sent, bytes_received, retransmits, rtt_us, source, conn_count, new_count)
       FROM '/dev/blob' WITH (FORMAT csv)`, data);
  }
  const copySeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const copyRate = total / copySeconds;
  report(`  raw COPY (in-process blob):       ${Math.round(copyRate).toLocaleString('en-US')} rows/s (${copySeconds.toFixed(2)} s)`);
  report(`  writer / raw COPY = ${(writerRate / copyRate).toFixed(2)}x   (goal >= 0.8x; embedded goal >= 60,000 rows/s: ${writerRate >= 60_000 ? 'met' : 'NOT met'})`);
  figures.set('raw COPY rows/s', Math.round(copyRate).toLocaleString('en-US'));
  figures.set('writer / raw COPY', `${(writerRate / copyRate).toFixed(2)}x`);
  return figures;
}

/** Embedded, on a server, or both side by side (see bench/targets.ts). */
export async function run(report: (line: string) => void, options: { snapshots?: number; rowsPerSnapshot?: number } | readonly string[] = {}): Promise<void> {
  const given = Array.isArray(options) ? {} : options as { snapshots?: number; rowsPerSnapshot?: number };
  const snapshots = given.snapshots ?? 20;
  const perSnapshot = given.rowsPerSnapshot ?? 5000;
  const targets = benchTargets(stringOptions(options));
  const all: Map<string, string>[] = [];
  for (const target of targets) {
    const { store, dispose } = await target.open();
    try {
      all.push(await measure(store, snapshots, perSnapshot, report));
    } finally {
      await dispose();
    }
  }
  if (targets.length > 1) sideBySide(report, targets.map((t) => t.name), all);
}
