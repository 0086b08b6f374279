import { EDGES, RESOLVE, TALKERS, runScenario, type Scenario } from './scenario.js';

/**
 * `npm run demo`: builds the three-host NAT topology, runs the traffic, asks conntrail the investigation's
 * questions and prints the answers; tears everything down at the end, on Ctrl-C, and on failure.
 */
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

let scenario: Scenario | null = null;
let stopping = false;

async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say('tearing down namespaces, links, rules and processes');
    await scenario?.dispose().catch(() => undefined);
  }
  process.exit(code);
}

process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));

interface Hop { kind: string; host: { id: string } | null; original: { source: string; sourcePort: number | null; destination: string; destinationPort: number | null }; reply: { source: string; sourcePort: number | null; destination: string; destinationPort: number | null } }
interface Edge { match: string; connections: number; bytesSent: number; bytesReceived: number; client: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null }; server: { host: { id: string } | null; process: { pid: number; name: string } | null; address: string | null; port: number | null }; nat: Hop[] }

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    say('npm run demo needs root: it builds network namespaces, veth links and iptables rules');
    process.exit(1);
  }
  scenario = await runScenario(say);
  const s = scenario;
  const range = { from: s.startedAt.toISOString(), to: new Date(Date.now() + 1000).toISOString() };

  say('\nWho talked to whom (talkers, grouped by process):');
  const { talkers } = await s.graphql<{ talkers: { edges: Edge[] } }>(TALKERS, { range });
  for (const e of talkers.edges) {
    say(`  ${e.client.host?.id}/${e.client.process?.name}[${e.client.process?.pid}] ${e.client.address} -> ` +
      `${e.server.host?.id}/${e.server.process?.name}[${e.server.process?.pid}] ${e.server.address}:${e.server.port}  ` +
      `${e.match}, ${e.connections} connections, ${e.bytesSent} bytes sent, ${e.bytesReceived} received`);
    const hop = e.nat[0];
    if (hop) {
      say(`    through ${hop.host?.id} (${hop.kind}): ${hop.original.source} -> ${hop.original.destination}:${hop.original.destinationPort} became ` +
        `${hop.reply.destination} -> ${hop.reply.source}:${hop.reply.sourcePort} (${e.nat.length} translations)`);
    }
  }
  say(`  (the client program itself counted ${s.client.connections} connections, ${s.client.sent} bytes sent, ${s.client.received} received)`);

  const at = new Date((s.trafficAt.getTime() + s.finishedAt.getTime()) / 2).toISOString();
  say(`\nWhat did ${s.topology.addr.vip}:${s.topology.vipPort} reach at ${at} for ${s.topology.addr.client}? (resolve)`);
  const { resolve } = await s.graphql<{ resolve: { targets: Array<{ role: string; address: string; port: number; host: { id: string } | null; process: { pid: number; name: string } | null }> } }>(
    RESOLVE, { address: s.topology.addr.vip, port: s.topology.vipPort, at, client: s.topology.addr.client });
  for (const t of resolve.targets) say(`  ${t.role}: ${t.address}:${t.port} on ${t.host?.id ?? '?'} (${t.process?.name ?? '?'} pid ${t.process?.pid ?? '?'})`);

  say('\nWhat is new since the traffic started? (edges since)');
  const ledgerRange = { from: new Date(s.startedAt.getTime() - 3_600_000).toISOString(), to: new Date(Date.now() + 1000).toISOString() };
  const { edges } = await s.graphql<{ edges: Array<{ connections: number; client: { host: { id: string } | null; process: { name: string } | null }; server: { host: { id: string } | null; process: { name: string } | null; port: number | null } }> }>(
    EDGES, { range: ledgerRange, since: s.trafficAt.toISOString() });
  for (const e of edges) say(`  ${e.client.host?.id}/${e.client.process?.name} -> ${e.server.host?.id}/${e.server.process?.name}:${e.server.port} (${e.connections} connections)`);

  say('\nThe same from the BI views (SQL, read-only role):');
  const rows = await s.sqlAsReader<{ host_id: string; direction: string; process_name: string; remote: string; connections: number; sent: string; received: string }>(
    `SELECT host_id, direction, process_name,
            CASE direction WHEN 'outgoing' THEN host(remote_addr) || ':' || remote_port ELSE host(remote_addr) || ' (to port ' || local_port || ')' END AS remote,
            sum(new_count)::int AS connections,
            sum(bytes_sent)::text AS sent, sum(bytes_received)::text AS received
     FROM bi.connections WHERE process_name IN ('traffic-client', 'traffic-server')
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 4 LIMIT 20`);
  for (const r of rows) say(`  ${r.host_id} ${r.direction} ${r.process_name} <-> ${r.remote}: ${r.connections} connections, ${r.sent} sent, ${r.received} received`);
  await stop(0);
}

main().catch(async (err: unknown) => {
  say(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  await stop(1);
});
