import { performance } from 'node:perf_hooks';
import { Tracker } from '../src/collector/tracker.js';
import type { SourceReading } from '../src/collector/source.js';
import type { SocketObservation, SourceName } from '../src/domain/connection.js';

/**
 * The tracker in steady state: N sockets seen by ebpf and procfs every interval (a tenth also by conntrack),
 * a tenth of them replaced each interval, with a few large groups to elide. Reports the time one interval's
 * merge takes and the memory the tracker keeps.
 */

const INTERVAL = 15_000;

function observation(source: SourceName, i: number, generation: number, bytes: number): SocketObservation {
  const group = i % 50 === 0 ? 0 : i % 7;
  const port = 32768 + ((i * 7919 + generation * 104729) % 28000);
  return {
    source, netns: 4026531840, protocol: 'tcp', family: 4,
    local: { address: `10.1.${group}.1`, port }, remote: { address: `10.2.0.${i % 200}`, port: group === 0 ? 5432 : 443 },
    state: 'ESTABLISHED', inode: source === 'procfs' ? 100000 + i + generation * 1_000_000 : null,
    process: source === 'procfs' ? { pid: 1000 + (i % 40), startedAtMs: 1_700_000_000_000 } : null,
    direction: source === 'ebpf' ? 'outgoing' : 'unknown', openedAtMs: null, closedAtMs: null,
    bytesSent: source === 'procfs' ? null : bytes, bytesReceived: source === 'procfs' ? null : bytes * 3,
    retransmits: source === 'ebpf' ? 0 : null, rttUs: source === 'ebpf' ? 250 : null,
  };
}

function readings(n: number, tick: number): SourceReading[] {
  const by = (source: SourceName, every: number): SourceReading => {
    const obs: SocketObservation[] = [];
    for (let i = 0; i < n; i += every) {
      const generation = Math.floor((tick + (i % 10)) / 10);
      obs.push(observation(source, i, generation, 1000 * (tick + 1)));
    }
    return { observations: obs, nat: [], listening: [], processes: [], run: { name: source, ok: true, durationMs: 0, skipped: 0, lost: 0, error: null } };
  };
  return [by('ebpf', 1), by('procfs', 1), by('conntrack', 10)];
}

/** Heap in use after a full collection when node runs with --expose-gc (else including garbage). */
function heapUsed(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed;
}

export async function run(report: (line: string) => void): Promise<void> {
  for (const n of [5_000, 20_000]) {
    const tracker = new Tracker({ hostId: 'bench', intervalMs: INTERVAL });
    const heapBefore = heapUsed();
    const times: number[] = [];
    let rows = 0;
    for (let tick = 0; tick < 12; tick++) {
      const input = readings(n, tick);
      const started = performance.now();
      const snap = tracker.build({ timeMs: tick * INTERVAL, readings: input });
      times.push(performance.now() - started);
      rows = snap.connections.length;
    }
    const steady = times.slice(2).sort((a, b) => a - b);
    const median = steady[Math.floor(steady.length / 2)] ?? 0;
    const heapMb = (heapUsed() - heapBefore) / 1024 / 1024;
    report(`   ${n} sockets x 3 sources: median build ${median.toFixed(1)} ms, max ${Math.max(...steady).toFixed(1)} ms, ` +
      `${rows} rows after elision, ${tracker.stats().tracked} tracked, heap +${heapMb.toFixed(1)} MiB`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void run((line) => process.stdout.write(`${line}\n`));
