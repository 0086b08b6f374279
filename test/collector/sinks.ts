/**
 * Sinks for the spool and loop tests. RecordingSink keeps snapshots in memory with the store's idempotence
 * rule; TcpSink/SnapshotServer speak newline-delimited JSON over a real loopback socket, so "the store is
 * down" is a real refused connection.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { SnapshotSink } from '../../src/collector/sink.js';
import type { Snapshot } from '../../src/domain/snapshot.js';
import type { ConnectionRow } from '../../src/domain/connection.js';

export class UnavailableError extends Error {
  readonly code = 'STORE_UNAVAILABLE';
}

export class RejectedError extends Error {
  readonly code = 'SNAPSHOT_REFUSED';
}

/** Idempotent like the store: (hostId, timeMs) is the identity; a second write of it adds nothing. */
export class RecordingSink implements SnapshotSink {
  readonly stored = new Map<string, Snapshot>();
  readonly attempts: string[] = [];
  constructor(private readonly behave: (s: Snapshot, attempt: number) => 'ok' | 'unavailable' | 'reject' | 'error' | 'ok-then-unavailable' = () => 'ok') {}

  async write(s: Snapshot): Promise<void> {
    const id = `${s.hostId}@${s.timeMs}`;
    this.attempts.push(id);
    const mode = this.behave(s, this.attempts.length);
    if (mode === 'unavailable') throw new UnavailableError(`store down (${id})`);
    if (mode === 'reject') throw new RejectedError(`bad snapshot ${id}`);
    // An error nobody classified (no code): the sink may be broken, the snapshot is not known to be bad.
    if (mode === 'error') throw new Error(`unexpected failure (${id})`);
    if (!this.stored.has(id)) this.stored.set(id, s);
    if (mode === 'ok-then-unavailable') throw new UnavailableError(`connection lost before the ack (${id})`);
  }

  times(): number[] {
    return [...this.stored.values()].map((s) => s.timeMs);
  }
}

export function row(localPort: number, extra: Partial<ConnectionRow> = {}): ConnectionRow {
  return {
    netns: 1, protocol: 'tcp', family: 4, direction: 'outgoing', localAddress: '10.0.0.1', localPort,
    remoteAddress: '10.0.0.2', remotePort: 443, process: null, state: 'ESTABLISHED', openedAtMs: null, closedAtMs: null,
    bytesSent: 1, bytesReceived: 2, retransmits: 0, rttUs: null, source: 'procfs', count: 1, newCount: 1, ...extra,
  };
}

export function snapshotAt(timeMs: number, rows = 2, hostId = 'host-a'): Snapshot {
  return {
    hostId, timeMs, intervalMs: 15_000,
    connections: Array.from({ length: rows }, (_, i) => row(40000 + i)),
    nat: [], listening: [], processes: [],
    completeness: { sources: [], eventsLost: 0, errors: [] },
  };
}

/** The receiving end: stores each (hostId, timeMs) once, in arrival order, and acks every line. */
export class SnapshotServer {
  readonly received: Snapshot[] = [];
  readonly ids = new Set<string>();
  /** Most snapshots being received at the same time (the loop must never overlap itself). */
  maxConcurrent = 0;
  private concurrent = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  constructor(readonly port: number, private readonly ackDelayMs = 0) {}

  async start(): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      socket.on('error', () => undefined);
      let buffered = '';
      socket.on('data', (chunk) => {
        buffered += chunk.toString('utf8');
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const s = JSON.parse(buffered.slice(0, nl)) as Snapshot;
          buffered = buffered.slice(nl + 1);
          this.concurrent++;
          this.maxConcurrent = Math.max(this.maxConcurrent, this.concurrent);
          setTimeout(() => {
            this.concurrent--;
            const id = `${s.hostId}@${s.timeMs}`;
            if (!this.ids.has(id)) {
              this.ids.add(id);
              this.received.push(s);
            }
            if (!socket.destroyed) socket.write('ok\n');
          }, this.ackDelayMs);
        }
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Sends each snapshot on a fresh loopback connection and waits for the ack. */
/** A loopback port that was free a moment ago (nothing listens on it until a server is started). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export class TcpSink implements SnapshotSink {
  constructor(private readonly port: number) {}

  write(s: Snapshot, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port: this.port });
      const fail = (err: Error & { code?: string }): void => {
        socket.destroy();
        signal.removeEventListener('abort', onAbort);
        reject(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' ? new UnavailableError(err.message) : err);
      };
      const onAbort = (): void => fail(new UnavailableError('aborted'));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('error', fail);
      socket.on('data', (d) => {
        if (!d.toString('utf8').startsWith('ok')) return;
        signal.removeEventListener('abort', onAbort);
        socket.end();
        resolve();
      });
      socket.on('connect', () => socket.write(`${JSON.stringify(s)}\n`));
    });
  }
}
