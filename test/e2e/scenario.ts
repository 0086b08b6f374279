import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { buildTopology, type Topology, type TopologyOptions } from './topology.js';

/**
 * The end-to-end investigation, shared by the e2e test (which asserts) and `npm run demo` (which prints):
 * three hosts in network namespaces, `conntrail up` on the router (embedded store, API, SQL endpoint over
 * the veth links), a collector on the client and on the server writing to it, a client program talking to
 * a server program through the router's VIP (DNAT) and masquerade (SNAT), then questions to the API over
 * HTTP and to the BI views over SQL as the read-only role.
 */
const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SERVER_PROGRAM = fileURLToPath(new URL('./programs/traffic-server.js', import.meta.url));
const CLIENT_PROGRAM = fileURLToPath(new URL('./programs/traffic-client.js', import.meta.url));

export const INTERVAL_S = 1;
export const TOKEN = 'e2e-token-0123456789abcdef';
export const SQL_PASSWORD = 'e2e-sql-password';

export interface ClientReport {
  readonly pid: number;
  readonly connections: number;
  readonly sent: number;
  readonly received: number;
  readonly localPorts: number[];
}

export interface Scenario {
  readonly topology: Topology;
  readonly serverPid: number;
  readonly client: ClientReport;
  readonly startedAt: Date;
  readonly trafficAt: Date;
  readonly finishedAt: Date;
  graphql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
  sqlAsReader<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
  dispose(): Promise<void>;
}

type Say = (line: string) => void;

function waitForLine(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => reject(new Error(`${what}: no output within ${timeoutMs} ms`)), timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      const nl = buffer.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(buffer.slice(0, nl));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}`));
    });
  });
}

async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

export interface ScenarioOptions {
  readonly longConnections?: number;
  readonly shortConnections?: number;
  /** How long each long connection lives; it sends a chunk at least every 250 ms (default 3). */
  readonly longSeconds?: number;
  readonly topology?: TopologyOptions;
}

export async function runScenario(say: Say, options: ScenarioOptions = {}): Promise<Scenario> {
  const dataDir = mkdtempSync(join(tmpdir(), 'conntrail-e2e-'));
  const children: ChildProcess[] = [];
  const logs = new Map<string, string>();
  const topology = await buildTopology(options.topology);
  const { ns, addr } = topology;
  const apiUrl = `http://${addr.routerManagement}:4000/graphql`;
  const readerPool = new pg.Pool({ host: addr.routerManagement, port: 5433, user: 'conntrail_reader', password: SQL_PASSWORD, database: 'postgres', max: 1 });
  readerPool.on('error', () => undefined);

  const dispose = async (): Promise<void> => {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    await readerPool.end().catch(() => undefined);
    await topology.teardown();
    rmSync(dataDir, { recursive: true, force: true });
  };

  const spawnLogged = (name: string, nsName: string, args: string[], env: Record<string, string> = {}): ChildProcess => {
    const child = topology.spawnIn(nsName, process.execPath, args, { env: { ...process.env, ...env } });
    children.push(child);
    logs.set(name, '');
    child.stderr?.on('data', (d: Buffer) => logs.set(name, ((logs.get(name) ?? '') + d.toString()).slice(-20_000)));
    return child;
  };

  const graphql = async <T>(query: string, variables: Record<string, unknown> = {}): Promise<T> => {
    const res = await fetch(apiUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: unknown[] };
    if (body.errors) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
    return body.data as T;
  };

  try {
    const startedAt = new Date();
    say(`topology ${topology.id}: client ${addr.client} -> router (VIP ${addr.vip}:${topology.vipPort}, masquerade ${addr.routerServerSide}) -> server ${addr.server}:${topology.serverPort}`);
    const server = spawnLogged('server-program', ns.server, [SERVER_PROGRAM, String(topology.serverPort)]);
    const serverPid = (JSON.parse(await waitForLine(server, 'traffic server', 10_000)) as { pid: number }).pid;

    say('starting conntrail up on the router (embedded store, API, SQL endpoint on the veth links)');
    spawnLogged('router', ns.router, [MAIN, 'up', '--data-dir', join(dataDir, 'router'), '--host-id', 'router', '--netns', 'self',
      '--interval', String(INTERVAL_S), '--listen', addr.routerManagement, '--port', '4000',
      '--sql-listen', '0.0.0.0', '--sql-port', '5433', '--sql-password', SQL_PASSWORD, '--metrics-port', '0'], { API_TOKEN: TOKEN });
    await poll('the router API', 90_000, async () => ((await graphql<{ hosts: unknown[] }>('{ hosts { id } }')).hosts ? true : undefined))
      .catch((err: unknown) => { throw new Error(`${String(err)}\n--- router log ---\n${logs.get('router')}`); });

    for (const [host, nsName, via] of [['client', ns.client, addr.routerClientSide], ['server', ns.server, addr.routerServerSide]] as const) {
      say(`starting the collector on ${host}, writing to ${via}:5433`);
      spawnLogged(host, nsName, [MAIN, 'collect', '--host-id', host, '--netns', 'self', '--interval', String(INTERVAL_S), '--metrics-port', '0',
        '--data-dir', join(dataDir, host), '--database-url', `postgres://conntrail_writer:${SQL_PASSWORD}@${via}:5433/postgres`]);
    }
    await poll('snapshots from all three hosts', 60_000, async () => {
      const hosts = (await graphql<{ hosts: Array<{ id: string }> }>('{ hosts { id } }')).hosts.map((h) => h.id).sort();
      return hosts.join(',') === 'client,router,server' ? true : undefined;
    }).catch((err: unknown) => { throw new Error(`${String(err)}\n--- client log ---\n${logs.get('client')}\n--- server log ---\n${logs.get('server')}`); });

    // Let every collector's eBPF source settle (a full interval) before the traffic starts.
    await new Promise((r) => setTimeout(r, 2 * INTERVAL_S * 1000));
    const trafficAt = new Date();
    const longSeconds = options.longSeconds ?? 3;
    say(`client program: ${options.longConnections ?? 2} long-lived and ${options.shortConnections ?? 10} short connections to ${addr.vip}:${topology.vipPort}`);
    const clientOut = await topology.execIn(ns.client, process.execPath,
      [CLIENT_PROGRAM, addr.vip, String(topology.vipPort), String(options.longConnections ?? 2), String(options.shortConnections ?? 10),
        String(longSeconds), String(Math.max(10, longSeconds * 4))], (longSeconds + 60) * 1000);
    const client = JSON.parse(clientOut.trim().split('\n').pop() ?? '{}') as ClientReport;
    say(`client program done: ${client.connections} connections, sent ${client.sent} bytes, received ${client.received} bytes`);
    // Two more intervals so that the closing records of every host are written.
    await new Promise((r) => setTimeout(r, 3 * INTERVAL_S * 1000));
    const finishedAt = new Date();
    return {
      topology, serverPid, client, startedAt, trafficAt, finishedAt, graphql,
      async sqlAsReader<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) {
        return (await readerPool.query<T>(sql, params)).rows;
      },
      dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

export const TALKERS = `query ($range: TimeRange!) {
  talkers(range: $range, groupBy: PROCESS, filter: { processName: "traffic-client" }) {
    edges {
      match connections bytesSent bytesReceived firstSeen lastSeen
      client { host { id } process { pid name } address port }
      server { host { id } process { pid name } address port }
      nat { host { id } kind original { source sourcePort destination destinationPort } reply { source sourcePort destination destinationPort } }
    }
  }
}`;

export const RESOLVE = `query ($address: String!, $port: Int!, $at: DateTime!, $client: String) {
  resolve(address: $address, port: $port, at: $at, client: $client) {
    translated
    targets { role address port host { id } process { pid name } }
  }
}`;

export const EDGES = `query ($range: TimeRange!, $since: DateTime) {
  edges(range: $range, since: $since, groupBy: PROCESS_NAME) {
    match connections firstSeen
    client { host { id } process { name } }
    server { host { id } process { name } port }
  }
}`;
