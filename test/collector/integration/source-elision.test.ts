import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startCollector } from '../../../src/cli/compose.js';
import type { ConnectionRow } from '../../../src/domain/connection.js';
import { ephemeralPort } from '../../../src/domain/elision.js';
import { ensureHelper } from '../ebpf/support.js';
import { RecordingSink } from '../sinks.js';
import { tempDir, testLog } from '../../helpers/env.js';
import { eventually } from '../../helpers/netns.js';

/**
 * Connections that were open before the collector started, collected once with /proc and once with eBPF
 * (`--source auto`): both must elide them the same way. eBPF never saw these connections open, so the
 * direction has to come from the listening table, which /proc has and the eBPF helper has not. The server
 * port sits at the top of the ephemeral range, below which the clients' ports fall: the port heuristic
 * alone would take every client end for a server end, and elide nothing.
 */
const HOLD = fileURLToPath(new URL('../../programs/hold.js', import.meta.url));
const CONNECTIONS = 40;
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) c.kill('SIGKILL');
});

function hold(args: string[]): Promise<{ pid: number; ports: number[] }> {
  const child = spawn(process.execPath, [HOLD, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (d: Buffer) => resolve(JSON.parse(d.toString().split('\n')[0] ?? '{}') as { pid: number; ports: number[] }));
    child.once('exit', (code) => reject(new Error(`hold ${args.join(' ')} exited ${code}`)));
  });
}

interface Sides {
  readonly client: readonly ConnectionRow[];
  readonly server: readonly ConnectionRow[];
}

async function collect(source: 'procfs' | 'auto', port: number): Promise<Sides> {
  const spool = tempDir(`elision-${source}`);
  const sink = new RecordingSink();
  const collector = await startCollector({
    hostId: `elision-${source}`, intervalMs: 1000, netns: 'self', source, spoolDir: spool.path, metricsPort: null, metricsListen: '127.0.0.1',
  }, sink, testLog);
  try {
    const total = (rows: readonly ConnectionRow[]): number => rows.reduce((n, r) => n + r.count, 0);
    const rows = await eventually(`a ${source} snapshot with both ends of all ${CONNECTIONS} connections`, 30_000, async () => {
      for (const s of [...sink.stored.values()].reverse()) {
        const ours = s.connections.filter((r) => (r.remotePort === port || r.localPort === port) && r.state === 'ESTABLISHED');
        if (total(ours) === 2 * CONNECTIONS) return ours;
      }
      return undefined;
    });
    const client = rows.filter((r) => r.remotePort === port);
    const server = rows.filter((r) => r.localPort === port);
    assert.deepEqual([total(client), total(server)], [CONNECTIONS, CONNECTIONS]);
    assert.ok(client.every((r) => r.direction === 'outgoing'), `${source}: client ends taken for servers: ${client.filter((r) => r.direction !== 'outgoing').length} rows`);
    assert.ok(server.every((r) => r.direction === 'incoming'), `${source}: server ends taken for clients`);
    return { client, server };
  } finally {
    await collector.stop();
    spool.remove();
  }
}

test('connections open before the collector started are elided the same way with /proc and with eBPF', async () => {
  ensureHelper();
  // Linux hands out ephemeral ports below 61000: nearly every client port is below the server's. A port
  // that high may be some connection's own just now: the next one down will do.
  let port = 60_999 - (process.pid % 20);
  let server: { pid: number; ports: number[] } | null = null;
  for (let tries = 1; server === null; tries++) {
    server = await hold(['server', String(port), 'ct-elide-srv']).catch((err: unknown) => {
      if (tries >= 30) throw err;
      return null;
    });
    if (server === null) port--;
  }
  const client = await hold(['client', String(port), String(CONNECTIONS), '600000', 'ct-elide']);
  assert.ok(client.ports.filter((p) => p < port).length > CONNECTIONS / 2, 'the clients\' ports are mostly below the server port');

  const kept: number[][] = [];
  for (const source of ['procfs', 'auto'] as const) {
    const { client: clientSide, server: serverSide } = await collect(source, port);
    for (const [side, rows, pid] of [['client', clientSide, client.pid], ['server', serverSide, server.pid]] as const) {
      assert.ok(rows.length >= 3 && rows.length <= 5, `${source}, ${side} side: ${CONNECTIONS} connections in ${rows.length} rows`);
      assert.ok(rows.every((r) => r.process?.pid === pid), `${source}, ${side} side: owned by ${pid}`);
    }
    const ports = clientSide.map((r) => ephemeralPort(r) ?? -1).sort((a, b) => a - b);
    assert.deepEqual(serverSide.map((r) => ephemeralPort(r) ?? -1).sort((a, b) => a - b), ports, `${source}: both ends keep the same ports`);
    kept.push(ports);
  }
  assert.deepEqual(kept[1], kept[0], 'eBPF keeps the rows /proc keeps');
});
