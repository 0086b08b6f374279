import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Topology } from './topology.js';

/**
 * The issue-10 traffic scenarios, built for real on the three-host topology (topology.ts) and driven by
 * programs that count their own connections and bytes (programs/tcp-*, programs/udp-*). Each scenario has
 * its own server process (and port), so each is one process-to-process edge per client: the ground truth
 * the truth bench (and tests) compare conntrail's answers with.
 *
 *   snat-only        client -> server's real address; the router only masquerades the source
 *   kube-dnat        client's own OUTPUT chain DNATs a service IP (kube-proxy style), then the router masquerades
 *   udp-wildcard     UDP request/response to the router's VIP:53, DNAT'd to a server bound to 0.0.0.0:5353
 *   half-close-v4/6  HTTP/1.0 style: request, shutdown(SHUT_WR), large reply read to EOF; IPv4 (SNAT) and IPv6 (routed)
 *   reset-close      large replies, then the client aborts with an RST instead of closing (through SNAT)
 *   long-lived       one connection through DNAT+MASQUERADE with a request every 250 ms for `longSeconds`
 *   loopback-twins   client and server on 127.0.0.1:7811 in the client's namespace AND in the server's
 *   short-500        500 short connections through DNAT+MASQUERADE, 8 at a time
 */
export const PROGRAMS = {
  tcpServer: fileURLToPath(new URL('./programs/tcp-server.js', import.meta.url)),
  tcpClient: fileURLToPath(new URL('./programs/tcp-client.js', import.meta.url)),
  udpServer: fileURLToPath(new URL('./programs/udp-server.js', import.meta.url)),
  udpClient: fileURLToPath(new URL('./programs/udp-client.js', import.meta.url)),
};

/** Addresses the scenarios add to the topology. */
export const LAB = {
  v6: { client: 'fd77:1::2', routerClientSide: 'fd77:1::1', routerServerSide: 'fd77:2::1', server: 'fd77:2::2' },
  /** A kube-proxy style service address, DNAT'd in the client's own OUTPUT chain. */
  serviceIp: '10.96.0.10',
  servicePort: 80,
  udpVipPort: 53,
  ports: { snat: 8081, kube: 8082, udp: 5353, halfCloseV4: 8084, halfCloseV6: 8086, short: 8087, reset: 8088, loopback: 7811 },
} as const;

export interface GroundTruthEdge {
  readonly scenario: string;
  readonly protocol: 'TCP' | 'UDP';
  readonly client: { readonly host: string; readonly pid: number };
  readonly server: { readonly host: string; readonly pid: number };
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

export interface ScenarioOptions {
  /** How long the long-lived connection lives (the issue asks for 10 minutes; shorter by default). */
  readonly longSeconds: number;
}

export interface ScenarioRun {
  readonly edges: readonly GroundTruthEdge[];
  /** Stops the scenario's servers; returns where a server's own counts disagree with its clients' (the truth is then suspect). */
  finish(): Promise<string[]>;
}

export interface TruthScenario {
  readonly name: string;
  run(topology: Topology, options: ScenarioOptions): Promise<ScenarioRun>;
}

/** What a server program counted itself (printed on SIGTERM). */
export interface ServerReport { readonly pid: number; readonly received: number; readonly sent: number; readonly connections?: number; readonly datagrams?: number }
/** What a client program counted itself (printed when it is done). */
export interface ClientReport {
  readonly pid: number; readonly connections: number; readonly sent: number; readonly received: number;
  readonly completed?: number; readonly failed?: number; readonly lost?: number;
}
/** Starts a command in some namespace (Topology.spawnIn bound to a namespace, or Namespace.spawn). */
export type Spawn = (command: string, args: readonly string[]) => ChildProcess;

/** Adds what the scenarios need beyond the base topology: IPv6 on both links, the UDP VIP, extra VIP ports, the client's service DNAT. */
export async function extendTopology(topology: Topology): Promise<void> {
  const { ns, addr } = topology;
  const v6 = LAB.v6;
  const link = (name: string): string => `${name}${topology.id}`.slice(0, 15);
  const inNs = (name: string, ...cmd: string[]): Promise<string> => topology.execIn(name, cmd[0] ?? 'true', cmd.slice(1));
  for (const name of [ns.client, ns.router, ns.server]) await inNs(name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=0');
  // nodad: usable at once, no duplicate address detection wait.
  await inNs(ns.client, 'ip', '-6', 'addr', 'add', `${v6.client}/64`, 'dev', link('ctc0'), 'nodad');
  await inNs(ns.router, 'ip', '-6', 'addr', 'add', `${v6.routerClientSide}/64`, 'dev', link('ctr1'), 'nodad');
  await inNs(ns.router, 'ip', '-6', 'addr', 'add', `${v6.routerServerSide}/64`, 'dev', link('ctr2'), 'nodad');
  await inNs(ns.server, 'ip', '-6', 'addr', 'add', `${v6.server}/64`, 'dev', link('cts0'), 'nodad');
  await inNs(ns.client, 'ip', '-6', 'route', 'add', 'default', 'via', v6.routerClientSide);
  await inNs(ns.server, 'ip', '-6', 'route', 'add', 'default', 'via', v6.routerServerSide);
  await inNs(ns.router, 'sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
  const dnat = (proto: string, vipPort: number, to: string): Promise<string> => inNs(ns.router, 'iptables', '-t', 'nat', '-A', 'PREROUTING',
    '-d', addr.vip, '-p', proto, '--dport', String(vipPort), '-j', 'DNAT', '--to-destination', to);
  await dnat('udp', LAB.udpVipPort, `${addr.server}:${LAB.ports.udp}`);
  await dnat('tcp', LAB.ports.short, `${addr.server}:${LAB.ports.short}`);
  await inNs(ns.client, 'iptables', '-t', 'nat', '-A', 'OUTPUT', '-d', LAB.serviceIp, '-p', 'tcp', '--dport', String(LAB.servicePort),
    '-j', 'DNAT', '--to-destination', `${addr.server}:${LAB.ports.kube}`);
}

/** Every line a child prints, and the exit. */
function collectLines(child: ChildProcess): { lines: string[]; exited: Promise<number | null> } {
  const lines: string[] = [];
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      lines.push(buffer.slice(0, nl));
      buffer = buffer.slice(nl + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { lines, exited };
}

/** Starts a server program (PROGRAMS) and waits until it listens; stop() ends it and returns its own counts. */
export async function startServer(spawn: Spawn, program: string, args: readonly string[]): Promise<{ pid: number; stop(): Promise<ServerReport> }> {
  const child = spawn(process.execPath, [program, ...args]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const out = collectLines(child);
  const deadline = Date.now() + 20_000;
  while (out.lines.length === 0) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${args.join(' ')}: server did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const { pid } = JSON.parse(out.lines[0] ?? '{}') as { pid: number };
  return {
    pid,
    async stop() {
      child.kill('SIGTERM');
      await out.exited;
      return JSON.parse(out.lines[1] ?? '{"pid":0,"received":-1,"sent":-1}') as ServerReport;
    },
  };
}

/** Runs a client program (PROGRAMS) to its end and returns its own counts. */
export async function runClient(spawn: Spawn, program: string, args: readonly string[]): Promise<ClientReport> {
  const child = spawn(process.execPath, [program, ...args]);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  const out = collectLines(child);
  const code = await out.exited;
  const last = out.lines.at(-1);
  if (code !== 0 || last === undefined) throw new Error(`client ${args.join(' ')} exited with ${code}: ${stderr}`);
  return JSON.parse(last) as ClientReport;
}

/** One server, one client run against it: one ground-truth edge, checked against the server's own counts at the end. */
function clientServer(name: string, spec: {
  protocol: 'TCP' | 'UDP'; serverHost: 'client' | 'server'; clientHost: 'client' | 'server';
  serverArgs: string[]; clientArgs: (options: ScenarioOptions) => string[];
}): TruthScenario {
  return {
    name,
    async run(topology, options) {
      const nsOf = (h: 'client' | 'server'): Spawn => (command, args) => topology.spawnIn(h === 'client' ? topology.ns.client : topology.ns.server, command, args);
      const [serverProgram, clientProgram] = spec.protocol === 'TCP' ? [PROGRAMS.tcpServer, PROGRAMS.tcpClient] : [PROGRAMS.udpServer, PROGRAMS.udpClient];
      const title = name.slice(0, 13); // a process name (comm) holds 15 characters
      const server = await startServer(nsOf(spec.serverHost), serverProgram, [...spec.serverArgs, '--title', `${title}-s`]);
      try {
        const client = await runClient(nsOf(spec.clientHost), clientProgram, [...spec.clientArgs(options), '--title', `${title}-c`]);
        const edge: GroundTruthEdge = {
          scenario: name, protocol: spec.protocol,
          client: { host: spec.clientHost, pid: client.pid }, server: { host: spec.serverHost, pid: server.pid },
          connections: client.connections, bytesSent: client.sent, bytesReceived: client.received,
        };
        return {
          edges: [edge],
          async finish() {
            const s = await server.stop();
            const problems: string[] = [];
            if (s.received !== client.sent || s.sent !== client.received) {
              problems.push(`${name}: the server counted ${s.received} in / ${s.sent} out, its client ${client.sent} out / ${client.received} in`);
            }
            if (client.failed) problems.push(`${name}: ${client.failed} connections did not complete`);
            if (client.lost) problems.push(`${name}: ${client.lost} requests unanswered`);
            return problems;
          },
        };
      } catch (err) {
        await server.stop().catch(() => undefined);
        throw err;
      }
    },
  };
}

function both(name: string, parts: TruthScenario[]): TruthScenario {
  return {
    name,
    async run(topology, options) {
      const runs = await Promise.all(parts.map((p) => p.run(topology, options)));
      return {
        edges: runs.flatMap((r) => r.edges.map((e) => ({ ...e, scenario: name }))),
        async finish() { return (await Promise.all(runs.map((r) => r.finish()))).flat(); },
      };
    },
  };
}

const tcp = (host: string, port: number, more: string[]): string[] => ['--host', host, '--port', String(port), ...more];

export function truthScenarios(topology: Topology): TruthScenario[] {
  const { addr } = topology;
  const P = LAB.ports;
  return [
    clientServer('snat-only', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.snat)],
      clientArgs: () => tcp(addr.server, P.snat, ['--connections', '20', '--concurrency', '2', '--send', '5000', '--want', '50000']) }),
    clientServer('kube-dnat', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.kube)],
      clientArgs: () => tcp(LAB.serviceIp, LAB.servicePort, ['--connections', '20', '--concurrency', '2', '--send', '2000', '--want', '30000']) }),
    clientServer('udp-wildcard', { protocol: 'UDP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.udp), '--host', '0.0.0.0'],
      clientArgs: () => ['--host', addr.vip, '--port', String(LAB.udpVipPort), '--sockets', '4', '--requests', '20', '--send', '64', '--want', '700', '--pace-ms', '20'] }),
    clientServer('half-close-v4', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.halfCloseV4)],
      clientArgs: () => tcp(addr.server, P.halfCloseV4, ['--connections', '10', '--send', '300', '--want', '2000000', '--half-close']) }),
    clientServer('half-close-v6', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.halfCloseV6), '--host', '::'],
      clientArgs: () => tcp(LAB.v6.server, P.halfCloseV6, ['--connections', '10', '--send', '300', '--want', '2000000', '--half-close']) }),
    clientServer('reset-close', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.reset)],
      clientArgs: () => tcp(addr.server, P.reset, ['--connections', '10', '--send', '300', '--want', '500000', '--reset']) }),
    clientServer('long-lived', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(topology.serverPort)],
      clientArgs: (o) => tcp(addr.vip, topology.vipPort, ['--connections', '1', '--rounds', String(Math.max(1, Math.round(o.longSeconds * 4))),
        '--pace-ms', '250', '--send', '1000', '--want', '10000']) }),
    both('loopback-twins', (['client', 'server'] as const).map((h) => clientServer(`loopback-${h}`, {
      protocol: 'TCP', clientHost: h, serverHost: h, serverArgs: ['--port', String(P.loopback), '--host', '127.0.0.1'],
      clientArgs: () => tcp('127.0.0.1', P.loopback, ['--connections', '5', '--send', '1000', '--want', '20000', '--rounds', '3', '--pace-ms', '300']),
    }))),
    clientServer('short-500', { protocol: 'TCP', clientHost: 'client', serverHost: 'server', serverArgs: ['--port', String(P.short)],
      clientArgs: () => tcp(addr.vip, P.short, ['--connections', '500', '--concurrency', '8', '--send', '200', '--want', '1000']) }),
  ];
}
