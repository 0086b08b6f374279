import type { ConnectionRow, NatTranslation, ProcessInfo } from '../../src/domain/connection.js';
import type { Snapshot } from '../../src/domain/snapshot.js';

/** Builders for scripted snapshots: real domain values with defaults a test can override. */
export function connection(over: Partial<ConnectionRow> = {}): ConnectionRow {
  return {
    netns: 4026531840, protocol: 'tcp', family: 4, direction: 'outgoing',
    localAddress: '10.1.0.2', localPort: 40000, remoteAddress: '10.2.0.2', remotePort: 8080,
    process: null, state: 'ESTABLISHED', openedAtMs: null, closedAtMs: null,
    bytesSent: 0, bytesReceived: 0, retransmits: 0, rttUs: null, source: 'procfs', count: 1, newCount: 1,
    ...over,
  };
}

export function processInfo(over: Partial<ProcessInfo> & { pid: number; startedAtMs: number }): ProcessInfo {
  return { name: `proc${over.pid}`, exe: null, cmdline: '', uid: 0, cgroup: null, containerId: null, ...over };
}

export function nat(over: Partial<NatTranslation> = {}): NatTranslation {
  return {
    netns: 4026531840, protocol: 'tcp', conntrackId: 1,
    original: { src: '10.1.0.2', dst: '10.9.9.9', srcPort: 40000, dstPort: 80 },
    reply: { src: '10.2.0.2', dst: '10.2.0.1', srcPort: 8080, dstPort: 40000 },
    kind: 'BOTH', firstSeenMs: 0, lastSeenMs: 0,
    ...over,
  };
}

export function snapshot(over: Partial<Snapshot> & { hostId: string; timeMs: number }): Snapshot {
  return {
    intervalMs: 15_000, connections: [], nat: [], listening: [], processes: [],
    completeness: { sources: [{ name: 'procfs', ok: true, durationMs: 5, skipped: 0, lost: 0, error: null }], eventsLost: 0, errors: [] },
    ...over,
  };
}
