import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRow } from '../src/domain/connection.js';
import { openStore, SnapshotWriter } from '../src/store/index.js';
import { silentLog } from './log.js';

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

export async function run(report: (line: string) => void, options: { snapshots?: number; rowsPerSnapshot?: number } = {}): Promise<void> {
  const snapshots = options.snapshots ?? 20;
  const perSnapshot = options.rowsPerSnapshot ?? 5000;
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-bench-ingest-'));
  const store = await openStore({ dataDir: dir, sqlPort: 0, maintenance: false }, silentLog);
  try {
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

    started = process.hrtime.bigint();
    for (let i = 0; i < snapshots; i++) {
      const data = new TextEncoder().encode(csv(new Date(base + i * 15_000).toISOString(), 'bench-copy', batches[i] ?? []));
      await store.embedded!.copyFromBlob(
        `COPY conntrail.connections (time, host_id, netns, protocol, family, direction, local_addr, local_port, remote_addr, remote_port, pid,
          process_started_at, state, opened_at, closed_at, bytes_sent, bytes_received, retransmits, rtt_us, source, conn_count, new_count)
         FROM '/dev/blob' WITH (FORMAT csv)`, data);
    }
    const copySeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const writerRate = total / writerSeconds;
    const copyRate = total / copySeconds;
    report(`ingest (embedded, ${snapshots} snapshots x ${perSnapshot} connection rows = ${total} rows)`);
    report(`  writer (unnest via SQL endpoint): ${Math.round(writerRate).toLocaleString('en-US')} rows/s (${writerSeconds.toFixed(2)} s)`);
    report(`  raw COPY (in-process blob):       ${Math.round(copyRate).toLocaleString('en-US')} rows/s (${copySeconds.toFixed(2)} s)`);
    report(`  writer / raw COPY = ${(writerRate / copyRate).toFixed(2)}x   (goal >= 0.8x; embedded goal >= 60,000 rows/s: ${writerRate >= 60_000 ? 'met' : 'NOT met'})`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
