import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionRow } from '../src/domain/connection.js';
import { openStore, SnapshotWriter } from '../src/store/index.js';
import { silentLog } from './log.js';

/**
 * Storage: what one connection row costs on disk, before and after TimescaleDB's compression, and what
 * the writer sustains while a fleet writes: the figures behind the README's "Scale" section.
 *
 * The rows are shaped like a real host's: most connections live across many intervals (the same tuple,
 * growing counters), a tenth are replaced each interval, and each host has its own addresses. Real rows
 * compress the way these do only if they repeat the way these do, so the ratio is an estimate; the
 * uncompressed figure is not.
 *
 * Options: `--storage-hosts N` (default 20), `--storage-intervals N` (default 40), `--storage-rows N`
 * (rows per host per interval, default 500).
 */

interface Shape {
  readonly hosts: number;
  readonly intervals: number;
  readonly rowsPerInterval: number;
}

function option(options: readonly string[], name: string, fallback: number): number {
  const at = options.indexOf(name);
  const raw = at >= 0 ? options[at + 1] : undefined;
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a positive integer, got ${String(raw)}`);
  return value;
}

/** Host h's rows at interval t: connection i is replaced every 10 intervals (staggered), so a tenth churns. */
function hostRows(h: number, t: number, n: number): ConnectionRow[] {
  const out: ConnectionRow[] = [];
  for (let i = 0; i < n; i++) {
    const generation = Math.floor((t + i) / 10);
    const age = (t + i) % 10;
    out.push({
      netns: 4026531840, protocol: i % 10 === 0 ? 'udp' : 'tcp', family: 4,
      direction: i % 3 === 0 ? 'incoming' : 'outgoing',
      localAddress: `10.${h >> 8}.${h & 255}.1`, localPort: i % 3 === 0 ? 8080 : 32768 + ((i * 131 + generation * 17) % 28000),
      remoteAddress: `10.200.${i % 20}.${(i * 7 + h) % 250}`, remotePort: i % 3 === 0 ? 40000 + ((i + generation) % 20000) : 443,
      process: { pid: 1000 + (i % 25), startedAtMs: 1_700_000_000_000 + h },
      state: 'ESTABLISHED', openedAtMs: null, closedAtMs: null,
      bytesSent: 200 + ((i * 37 + t) % 5000), bytesReceived: 1000 + ((i * 91 + t) % 60000),
      retransmits: i % 50 === 0 ? 1 : 0, rttUs: 200 + (i % 300), source: 'ebpf', count: 1, newCount: age === 0 ? 1 : 0,
    });
  }
  return out;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export async function run(report: (line: string) => void, options: readonly string[] = []): Promise<void> {
  const shape: Shape = {
    hosts: option(options, '--storage-hosts', 20),
    intervals: option(options, '--storage-intervals', 40),
    rowsPerInterval: option(options, '--storage-rows', 500),
  };
  const dir = mkdtempSync(join(tmpdir(), 'conntrail-bench-storage-'));
  const store = await openStore({ dataDir: dir, sqlPort: 0, maintenance: false }, silentLog);
  try {
    const writer = new SnapshotWriter(store.writer);
    // Old enough that every chunk is closed (compressible), recent enough for every retention default.
    const base = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3 * 86_400_000;
    const total = shape.hosts * shape.intervals * shape.rowsPerInterval;
    const started = process.hrtime.bigint();
    for (let t = 0; t < shape.intervals; t++) {
      for (let h = 0; h < shape.hosts; h++) {
        await writer.write({
          hostId: `bench-host-${h}`, timeMs: base + t * 15_000, intervalMs: 15_000, connections: hostRows(h, t, shape.rowsPerInterval),
          nat: [], listening: [], processes: [], completeness: { sources: [], eventsLost: 0, errors: [] },
        });
      }
      if ((t + 1) % 10 === 0) report(`  written ${t + 1}/${shape.intervals} intervals`);
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const size = async (): Promise<number> => {
      const r = await store.admin.query<{ bytes: string }>(`SELECT hypertable_size('conntrail.connections')::text AS bytes`);
      return Number(r.rows[0]?.bytes ?? 0);
    };
    const before = await size();
    report('  compressing every chunk ...');
    await store.admin.query(`SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('conntrail.connections') c`);
    const after = await size();
    const rate = total / seconds;
    report(`storage (embedded, ${shape.hosts} hosts x ${shape.intervals} intervals x ${shape.rowsPerInterval} rows = ${total.toLocaleString('en-US')} rows)`);
    report(`  writer, one snapshot after another: ${Math.round(rate).toLocaleString('en-US')} rows/s = ${Math.floor((rate * 15) / shape.rowsPerInterval)} hosts of ${shape.rowsPerInterval} rows per 15 s interval`);
    report(`  connections hypertable: ${mib(before)} raw = ${Math.round(before / total)} B/row; ${mib(after)} compressed = ${Math.round(after / total)} B/row (${(before / Math.max(after, 1)).toFixed(1)}x)`);
    const perHostDay = (bytesPerRow: number): string => mib((86_400 / 15) * shape.rowsPerInterval * bytesPerRow);
    report(`  one host of ${shape.rowsPerInterval} rows/interval for a day: ${perHostDay(before / total)} raw, ${perHostDay(after / total)} compressed`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
