/**
 * The scripted fleet the API tests read back. Three hosts with traffic and a router:
 *
 *   client-a 10.0.1.10   app (pid 101, container c-app)  --direct-->            server-b postgres 10.0.2.20:5432
 *                        curl (pid 100)  --VIP 10.96.0.10:80 (router DNAT)-->  server-b nginx 10.0.2.20:8080
 *                        curl            --udp-->                              1.1.1.1:53 (not ours)
 *   client-c 10.0.3.30   wget (pid 400)  --masquerade 10.0.2.1 (router SNAT)-> server-b nginx 10.0.2.20:8080
 *   192.0.2.50 (not ours)                --direct-->                           server-b nginx
 *   198.51.100.7 (not ours) --masquerade 10.0.2.1-->                           server-b nginx
 *
 * Snapshots every 60 s at T0, T0+60 s, T0+120 s; client-c misses T0+60 s (a gap); the router's conntrack source
 * fails at T0+120 s (a degraded record). A separate host "fleet" three days later runs 100 processes with one
 * connection each, for the N+1 checks.
 */
import type { ConnectionRow, NatTranslation, ProcessInfo } from '../../src/domain/connection.js';
import type { Snapshot } from '../../src/domain/snapshot.js';
import { connection, nat, processInfo, snapshot } from '../helpers/snapshots.js';

export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0);
export const INTERVAL = 60_000;
export const FLEET_T = T0 + 3 * 86_400_000;
export const iso = (ms: number): string => new Date(ms).toISOString();

export const PROC = {
  curl: processInfo({ pid: 100, startedAtMs: T0 - 10_000, name: 'curl', cmdline: 'curl http://10.96.0.10/', exe: '/usr/bin/curl', uid: 1000 }),
  app: processInfo({ pid: 101, startedAtMs: T0 - 3_600_000, name: 'app', cmdline: 'app --db 10.0.2.20', containerId: 'c-app', cgroup: '/docker/c-app' }),
  nginx: processInfo({ pid: 200, startedAtMs: T0 - 86_400_000, name: 'nginx', cmdline: 'nginx: worker process', containerId: 'c-web' }),
  postgres: processInfo({ pid: 300, startedAtMs: T0 - 86_400_000, name: 'postgres', cmdline: 'postgres -D /var/lib/postgresql' }),
  wget: processInfo({ pid: 400, startedAtMs: T0 - 5_000, name: 'wget', cmdline: 'wget http://10.0.2.20:8080/' }),
} as const;

const failedConntrack = {
  sources: [
    { name: 'procfs' as const, ok: true, durationMs: 4, skipped: 0, lost: 0, error: null },
    { name: 'conntrack' as const, ok: false, durationMs: 1, skipped: 0, lost: 3, error: 'netlink: no buffer space' },
  ],
  eventsLost: 0,
  errors: ['conntrack dump failed'],
};

function out(over: Partial<ConnectionRow>): ConnectionRow {
  return connection({ direction: 'outgoing', ...over });
}
function inc(over: Partial<ConnectionRow>): ConnectionRow {
  return connection({ direction: 'incoming', ...over });
}
function translation(t: number, over: Partial<NatTranslation>): NatTranslation {
  return nat({ firstSeenMs: t, lastSeenMs: t + 30_000, ...over });
}

function clientA(t: number): Snapshot {
  const rows: ConnectionRow[] = [];
  const processes: ProcessInfo[] = [PROC.curl, PROC.app];
  if (t === T0) {
    rows.push(out({ process: PROC.app, localAddress: '10.0.1.10', localPort: 41000, remoteAddress: '10.0.2.20', remotePort: 5432, bytesSent: 1000, bytesReceived: 5000, newCount: 1 }));
    rows.push(out({ process: PROC.curl, localAddress: '10.0.1.10', localPort: 42000, remoteAddress: '10.96.0.10', remotePort: 80, bytesSent: 300, bytesReceived: 40_000, newCount: 1, source: 'ebpf' }));
    rows.push(out({ process: PROC.curl, protocol: 'udp', localAddress: '10.0.1.10', localPort: 53000, remoteAddress: '1.1.1.1', remotePort: 53, bytesSent: 60, bytesReceived: 120, newCount: 1 }));
  }
  if (t === T0 + INTERVAL) {
    // The postgres connection is long-lived: seen again, not new.
    rows.push(out({ process: PROC.app, localAddress: '10.0.1.10', localPort: 41000, remoteAddress: '10.0.2.20', remotePort: 5432, bytesSent: 500, bytesReceived: 2500, newCount: 0 }));
    rows.push(out({ process: PROC.curl, localAddress: '10.0.1.10', localPort: 42001, remoteAddress: '10.96.0.10', remotePort: 80, bytesSent: 200, bytesReceived: 10_000, newCount: 1, source: 'ebpf' }));
  }
  return snapshot({ hostId: 'client-a', timeMs: t, intervalMs: INTERVAL, connections: rows, processes });
}

function serverB(t: number): Snapshot {
  const rows: ConnectionRow[] = [];
  if (t === T0) {
    rows.push(inc({ process: PROC.postgres, localAddress: '10.0.2.20', localPort: 5432, remoteAddress: '10.0.1.10', remotePort: 41000, bytesSent: 5000, bytesReceived: 1000, newCount: 1 }));
    rows.push(inc({ process: PROC.nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 42000, bytesSent: 40_000, bytesReceived: 300, newCount: 1 }));
    rows.push(inc({ process: PROC.nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.2.1', remotePort: 61000, bytesSent: 7000, bytesReceived: 700, newCount: 1 }));
    rows.push(inc({ process: PROC.nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '192.0.2.50', remotePort: 50000, bytesSent: 900, bytesReceived: 90, newCount: 1 }));
  }
  if (t === T0 + INTERVAL) {
    rows.push(inc({ process: PROC.postgres, localAddress: '10.0.2.20', localPort: 5432, remoteAddress: '10.0.1.10', remotePort: 41000, bytesSent: 2500, bytesReceived: 500, newCount: 0 }));
    rows.push(inc({ process: PROC.nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.1.10', remotePort: 42001, bytesSent: 10_000, bytesReceived: 200, newCount: 1 }));
    rows.push(inc({ process: PROC.nginx, localAddress: '10.0.2.20', localPort: 8080, remoteAddress: '10.0.2.1', remotePort: 61001, bytesSent: 450, bytesReceived: 45, newCount: 1 }));
  }
  return snapshot({
    hostId: 'server-b', timeMs: t, intervalMs: INTERVAL, connections: rows, processes: [PROC.nginx, PROC.postgres],
    listening: [
      { netns: 4026531840, protocol: 'tcp', family: 4, address: '10.0.2.20', port: 8080, process: PROC.nginx },
      { netns: 4026531840, protocol: 'tcp', family: 4, address: '10.0.2.20', port: 5432, process: PROC.postgres },
    ],
  });
}

function clientC(t: number): Snapshot {
  const rows = t === T0
    ? [out({ process: PROC.wget, localAddress: '10.0.3.30', localPort: 43000, remoteAddress: '10.0.2.20', remotePort: 8080, bytesSent: 700, bytesReceived: 7000, newCount: 1 })]
    : [];
  return snapshot({ hostId: 'client-c', timeMs: t, intervalMs: INTERVAL, connections: rows, processes: [PROC.wget] });
}

function router(t: number): Snapshot {
  const rows: NatTranslation[] = [];
  if (t === T0) {
    rows.push(translation(t, { conntrackId: 11, kind: 'DNAT', original: { src: '10.0.1.10', srcPort: 42000, dst: '10.96.0.10', dstPort: 80 }, reply: { src: '10.0.2.20', srcPort: 8080, dst: '10.0.1.10', dstPort: 42000 } }));
    rows.push(translation(t, { conntrackId: 12, kind: 'SNAT', original: { src: '10.0.3.30', srcPort: 43000, dst: '10.0.2.20', dstPort: 8080 }, reply: { src: '10.0.2.20', srcPort: 8080, dst: '10.0.2.1', dstPort: 61000 } }));
  }
  if (t === T0 + INTERVAL) {
    rows.push(translation(t, { conntrackId: 13, kind: 'DNAT', original: { src: '10.0.1.10', srcPort: 42001, dst: '10.96.0.10', dstPort: 80 }, reply: { src: '10.0.2.20', srcPort: 8080, dst: '10.0.1.10', dstPort: 42001 } }));
    rows.push(translation(t, { conntrackId: 14, kind: 'SNAT', original: { src: '198.51.100.7', srcPort: 51000, dst: '10.0.2.20', dstPort: 8080 }, reply: { src: '10.0.2.20', srcPort: 8080, dst: '10.0.2.1', dstPort: 61001 } }));
  }
  return snapshot({
    hostId: 'router', timeMs: t, intervalMs: INTERVAL, nat: rows,
    ...(t === T0 + 2 * INTERVAL ? { completeness: failedConntrack } : {}),
  });
}

export const FLEET_PROCESSES: readonly ProcessInfo[] = Array.from({ length: 100 }, (_, i) =>
  processInfo({ pid: 1000 + i, startedAtMs: FLEET_T - 60_000 - i, name: `worker-${String(i).padStart(3, '0')}`, cmdline: `worker --id ${i}` }));

function fleet(): Snapshot {
  return snapshot({
    hostId: 'fleet', timeMs: FLEET_T, intervalMs: INTERVAL, processes: FLEET_PROCESSES,
    connections: FLEET_PROCESSES.map((p, i) => out({ process: p, localAddress: '10.0.5.5', localPort: 30000 + i, remoteAddress: '10.0.9.9', remotePort: 9000, bytesSent: i, bytesReceived: 2 * i })),
  });
}

/** Every snapshot of the scenario, in write order. */
export function scenarioSnapshots(): Snapshot[] {
  const times = [T0, T0 + INTERVAL, T0 + 2 * INTERVAL];
  return [
    ...times.map(clientA),
    ...times.map(serverB),
    ...[T0, T0 + 2 * INTERVAL].map(clientC),
    ...times.map(router),
    fleet(),
  ];
}
