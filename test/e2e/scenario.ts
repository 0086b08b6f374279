import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { deployConntrail, waitForLine, type Say, type SourceMode } from './deployment.js';
import { buildTopology, type Topology, type TopologyOptions } from './topology.js';

export { READER_PASSWORD, WRITER_PASSWORD, TOKEN } from './deployment.js';

/**
 * The end-to-end investigation, shared by the e2e test (which asserts) and `npm run demo` (which prints):
 * three hosts in network namespaces, `conntrail up` on the router (embedded store, API, SQL endpoint over
 * the veth links), a collector on the client and on the server writing to it, a client program talking to
 * a server program through the router's VIP (DNAT) and masquerade (SNAT), then questions to the API over
 * HTTP and to the BI views over SQL as the read-only role.
 */
const SERVER_PROGRAM = fileURLToPath(new URL('./programs/traffic-server.js', import.meta.url));
const CLIENT_PROGRAM = fileURLToPath(new URL('./programs/traffic-client.js', import.meta.url));

export const INTERVAL_S = 1;

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

export interface ScenarioOptions {
  readonly longConnections?: number;
  readonly shortConnections?: number;
  /** How long each long connection lives; it sends a chunk at least every 250 ms (default 3). */
  readonly longSeconds?: number;
  readonly topology?: TopologyOptions;
  /** The collectors' source mode (default: conntrail's own default, auto). */
  readonly source?: SourceMode;
}

export async function runScenario(say: Say, options: ScenarioOptions = {}): Promise<Scenario> {
  const topology = await buildTopology(options.topology);
  const { ns, addr } = topology;
  let deployment: Awaited<ReturnType<typeof deployConntrail>> | null = null;
  let server: ReturnType<Topology['spawnIn']> | null = null;
  const dispose = async (): Promise<void> => {
    server?.kill('SIGKILL');
    await deployment?.dispose();
    await topology.teardown();
  };

  try {
    const startedAt = new Date();
    say(`topology ${topology.id}: client ${addr.client} -> router (VIP ${addr.vip}:${topology.vipPort}, masquerade ${addr.routerServerSide}) -> server ${addr.server}:${topology.serverPort}`);
    server = topology.spawnIn(ns.server, process.execPath, [SERVER_PROGRAM, String(topology.serverPort)]);
    const serverPid = (JSON.parse(await waitForLine(server, 'traffic server', 10_000)) as { pid: number }).pid;
    deployment = await deployConntrail(topology, { intervalS: INTERVAL_S, ...(options.source ? { source: options.source } : {}) }, say);
    const { graphql, sqlAsReader } = deployment;

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
    return { topology, serverPid, client, startedAt, trafficAt, finishedAt, graphql, sqlAsReader, dispose };
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
