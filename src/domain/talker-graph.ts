/**
 * Groups matched flows into the talkers graph: nodes at the requested grain (process, process name, container,
 * host, address) and edges between them per protocol and server port. Pure.
 */
import type { Protocol } from './connection.js';
import type { Flow, FlowEndpoint, MatchLabel, NatGroup, ProcessRef } from './matching.js';

export type Grouping = 'PROCESS' | 'PROCESS_NAME' | 'CONTAINER' | 'HOST' | 'ADDRESS' | 'NAME';

/** The DNS names an address had in the window asked (sorted), and the one to group it under; none: empty, null. */
export type NameLookup = (address: string) => { readonly names: readonly string[]; readonly primary: string | null };

const NONE = Object.freeze({ names: [], primary: null });
const NO_NAMES: NameLookup = () => NONE;

export interface GraphNode {
  readonly id: string;
  readonly kind: Grouping;
  readonly name: string;
  readonly hostId: string | null;
  readonly process: ProcessRef | null;
  readonly containerId: string | null;
  readonly address: string | null;
}

export interface GraphEndpoint {
  readonly node: GraphNode;
  /** Set when every flow of the edge agrees on it. */
  readonly hostId: string | null;
  readonly process: ProcessRef | null;
  readonly containerId: string | null;
  readonly address: string | null;
  readonly addresses: readonly string[];
  readonly port: number | null;
}

export interface MatchShare {
  readonly match: MatchLabel;
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
}

/** A NAT translation summarised over an edge; ports null where the aggregated translations differ. */
export interface NatHopSummary {
  readonly hostId: string | null;
  /** The network namespace whose conntrack table held it (null when unknown). */
  readonly netns: number | null;
  readonly protocol: Protocol;
  readonly kind: 'DNAT' | 'SNAT' | 'BOTH';
  readonly original: { readonly source: string; readonly sourcePort: number | null; readonly destination: string; readonly destinationPort: number | null };
  readonly reply: { readonly source: string; readonly sourcePort: number | null; readonly destination: string; readonly destinationPort: number | null };
  readonly translations: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

/** A local proxy an edge's traffic went through (`talkers(throughProxies: true)`). */
export interface ProxySummary {
  readonly hostId: string | null;
  readonly process: ProcessRef | null;
  /** The address and port the proxy accepted on (the redirect's target). */
  readonly address: string;
  readonly port: number | null;
}

export interface GraphEdge {
  readonly id: string;
  readonly client: GraphEndpoint;
  readonly server: GraphEndpoint;
  readonly protocol: Protocol;
  readonly match: MatchLabel;
  readonly matches: readonly MatchShare[];
  readonly connections: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  readonly nat: readonly NatHopSummary[];
  /** Proxies passed, in order (empty unless proxied legs were joined). */
  readonly proxies: readonly ProxySummary[];
}

export interface TalkerGraph {
  readonly nodes: readonly GraphNode[];
  readonly edges: readonly GraphEdge[];
  readonly totalEdges: number;
}

export interface FlowFilter {
  readonly hosts?: readonly string[] | null;
  readonly processName?: string | null;
  readonly address?: string | null;
  readonly port?: number | null;
  readonly protocol?: Protocol | null;
  readonly match?: readonly MatchLabel[] | null;
  /** Either end's address had this name, or one ending in it at a label boundary (lower case). */
  readonly name?: string | null;
}

const LABEL_PRECEDENCE: readonly MatchLabel[] = ['BOTH_ENDS', 'NAT_RESOLVED', 'CLIENT_ONLY', 'SERVER_ONLY'];

/** Which grain an endpoint lands on: the requested one when known, else the next coarser one that is. */
function grainOf(e: FlowEndpoint, groupBy: Grouping, names: NameLookup): Grouping {
  if (groupBy === 'NAME' && names(e.address).primary !== null) return 'NAME';
  if (groupBy === 'PROCESS' && e.process && e.hostId !== null) return 'PROCESS';
  if (groupBy === 'PROCESS_NAME' && e.process?.name && e.hostId !== null) return 'PROCESS_NAME';
  if (groupBy === 'CONTAINER' && e.process?.containerId) return 'CONTAINER';
  if (groupBy !== 'ADDRESS' && e.hostId !== null) return 'HOST';
  return 'ADDRESS';
}

/** The node id of an endpoint (cheap: called once per flow end; node objects are built once per id). */
export function nodeIdOf(e: FlowEndpoint, groupBy: Grouping, names: NameLookup = NO_NAMES): string {
  switch (grainOf(e, groupBy, names)) {
    case 'NAME': return `name:${names(e.address).primary}`;
    // Start times as integer µs: exact, and far cheaper to print than fractional ms.
    case 'PROCESS': return `process:${e.hostId}:${e.process!.pid}:${Math.round(e.process!.startedAtMs * 1000)}`;
    case 'PROCESS_NAME': return `pname:${e.hostId}:${e.process!.name}`;
    case 'CONTAINER': return `container:${e.process!.containerId}`;
    case 'HOST': return `host:${e.hostId}`;
    default: return `address:${e.address}`;
  }
}

/** The node an endpoint belongs to; unknown process/container/host fall back to the next coarser grain. */
export function nodeOf(e: FlowEndpoint, groupBy: Grouping, names: NameLookup = NO_NAMES): GraphNode {
  const id = nodeIdOf(e, groupBy, names);
  const kind = grainOf(e, groupBy, names);
  switch (kind) {
    case 'NAME':
      return { id, kind, name: names(e.address).primary!, hostId: null, process: null, containerId: null, address: null };
    case 'PROCESS':
      return { id, kind, name: e.process!.name ?? String(e.process!.pid), hostId: e.hostId, process: e.process, containerId: e.process!.containerId, address: null };
    case 'PROCESS_NAME':
      return { id, kind, name: e.process!.name!, hostId: e.hostId, process: null, containerId: e.process!.containerId, address: null };
    case 'CONTAINER':
      return { id, kind, name: e.process!.containerId!, hostId: null, process: null, containerId: e.process!.containerId, address: null };
    case 'HOST':
      return { id, kind, name: e.hostId!, hostId: e.hostId, process: null, containerId: null, address: null };
    default:
      return { id, kind, name: e.address, hostId: null, process: null, containerId: null, address: e.address };
  }
}

function natAddresses(n: NatGroup): string[] {
  return [n.origSrc, n.origDst, n.replySrc, n.replyDst];
}

/** `name` is `suffix` or ends in it at a label boundary. */
export function nameMatches(name: string, suffix: string): boolean {
  return name === suffix || (name.length > suffix.length && name.endsWith(suffix) && name[name.length - suffix.length - 1] === '.');
}

export function flowMatches(f: Flow, filter: FlowFilter | null | undefined, names: NameLookup = NO_NAMES): boolean {
  if (!filter) return true;
  if (filter.hosts && filter.hosts.length > 0) {
    if (!filter.hosts.some((h) => h === f.client.hostId || h === f.server.hostId)) return false;
  }
  if (filter.processName != null && f.client.process?.name !== filter.processName && f.server.process?.name !== filter.processName) return false;
  if (filter.address != null) {
    const all = [f.client.address, f.server.address, ...f.nat.flatMap(natAddresses), ...(f.proxies ?? []).map((p) => p.address)];
    if (!all.includes(filter.address)) return false;
  }
  if (filter.port != null && f.server.port !== filter.port) return false;
  if (filter.protocol != null && f.protocol !== filter.protocol) return false;
  if (filter.match && filter.match.length > 0 && !filter.match.includes(f.match)) return false;
  if (filter.name != null) {
    const suffix = filter.name;
    if (![f.client.address, f.server.address].some((a) => names(a).names.some((n) => nameMatches(n, suffix)))) return false;
  }
  return true;
}

interface EdgeAcc {
  readonly clientNode: GraphNode;
  readonly serverNode: GraphNode;
  readonly protocol: Protocol;
  readonly flows: Flow[];
}

function common<T>(values: readonly T[], same: (a: T, b: T) => boolean): T | null {
  const first = values[0];
  if (first === undefined) return null;
  return values.every((v) => same(v, first)) ? first : null;
}

function sameProcess(a: ProcessRef | null, b: ProcessRef | null): boolean {
  return a === b || (a !== null && b !== null && a.pid === b.pid && a.startedAtMs === b.startedAtMs);
}

function summariseEndpoint(node: GraphNode, ends: readonly FlowEndpoint[]): GraphEndpoint {
  const hostId = common(ends.map((e) => e.hostId), (a, b) => a === b);
  const process = hostId !== null ? common(ends.map((e) => e.process), sameProcess) : null;
  const containers = ends.map((e) => e.process?.containerId ?? null);
  const addresses = [...new Set(ends.map((e) => e.address))].sort();
  return {
    node, hostId, process,
    containerId: common(containers, (a, b) => a === b),
    address: addresses.length === 1 ? addresses[0]! : null,
    addresses,
    port: common(ends.map((e) => e.port), (a, b) => a === b),
  };
}

function sameOrNull<T>(a: T | null, b: T | null): T | null {
  return a === b ? a : null;
}

/**
 * Merges translations (e.g. an edge's flows') per router and mapping, nulling ports that differ; each group counts
 * once. A hop counts at least as many entries as connections went through it (`through`): a client row that
 * stands for several connections (elided) keeps the tuple of one, so it meets one translation, yet each of its
 * connections had a conntrack entry of its own.
 */
export function summariseNat(groups: readonly NatGroup[], through?: ReadonlyMap<NatGroup, number>): NatHopSummary[] {
  const byKey = new Map<string, { hop: NatHopSummary; seen: Set<NatGroup>; connections: number }>();
  for (const n of groups) {
    const key = [n.hostId, n.netns, n.protocol, n.kind, n.origSrc, n.origDst, n.origDstPort, n.replySrc, n.replySrcPort, n.replyDst].join('|');
    const entry = byKey.get(key);
    if (!entry) {
      byKey.set(key, {
        seen: new Set([n]),
        connections: through?.get(n) ?? 0,
        hop: {
          hostId: n.hostId, netns: n.netns, protocol: n.protocol, kind: n.kind,
          original: { source: n.origSrc, sourcePort: n.origSrcPort, destination: n.origDst, destinationPort: n.origDstPort },
          reply: { source: n.replySrc, sourcePort: n.replySrcPort, destination: n.replyDst, destinationPort: n.replyDstPort },
          translations: n.translations, firstSeenMs: n.firstSeenMs, lastSeenMs: n.lastSeenMs,
        },
      });
      continue;
    }
    // The same translation can carry several flows (triple mode): count it once.
    if (entry.seen.has(n)) continue;
    entry.seen.add(n);
    entry.connections += through?.get(n) ?? 0;
    const h = entry.hop;
    entry.hop = {
      ...h,
      original: { ...h.original, sourcePort: sameOrNull(h.original.sourcePort, n.origSrcPort) },
      reply: { ...h.reply, destinationPort: sameOrNull(h.reply.destinationPort, n.replyDstPort) },
      translations: h.translations + n.translations,
      firstSeenMs: Math.min(h.firstSeenMs, n.firstSeenMs),
      lastSeenMs: Math.max(h.lastSeenMs, n.lastSeenMs),
    };
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => (v.connections > v.hop.translations ? { ...v.hop, translations: v.connections } : v.hop));
}

/** The distinct proxies of these flows, in the order met. */
function summariseProxies(flows: readonly Flow[]): ProxySummary[] {
  const out = new Map<string, ProxySummary>();
  for (const f of flows) {
    for (const p of f.proxies ?? []) {
      const key = `${p.hostId}|${p.process?.pid}|${p.process?.startedAtMs}|${p.address}|${p.port}`;
      if (!out.has(key)) out.set(key, { hostId: p.hostId, process: p.process, address: p.address, port: p.port });
    }
  }
  return [...out.values()];
}

/** How many connections of these flows crossed each translation. */
function connectionsThrough(flows: readonly Flow[]): Map<NatGroup, number> {
  const out = new Map<NatGroup, number>();
  for (const f of flows) for (const n of f.nat) out.set(n, (out.get(n) ?? 0) + f.connections);
  return out;
}

function buildEdge(acc: EdgeAcc, id: string): GraphEdge {
  const shares = new Map<MatchLabel, { connections: number; bytesSent: number; bytesReceived: number }>();
  let connections = 0, bytesSent = 0, bytesReceived = 0, firstSeenMs = Infinity, lastSeenMs = -Infinity;
  for (const f of acc.flows) {
    connections += f.connections;
    bytesSent += f.bytesSent;
    bytesReceived += f.bytesReceived;
    firstSeenMs = Math.min(firstSeenMs, f.firstSeenMs);
    lastSeenMs = Math.max(lastSeenMs, f.lastSeenMs);
    const s = shares.get(f.match) ?? { connections: 0, bytesSent: 0, bytesReceived: 0 };
    shares.set(f.match, { connections: s.connections + f.connections, bytesSent: s.bytesSent + f.bytesSent, bytesReceived: s.bytesReceived + f.bytesReceived });
  }
  const matches = LABEL_PRECEDENCE.filter((l) => shares.has(l)).map((match) => ({ match, ...shares.get(match)! }));
  const dominant = matches.reduce((best, m) => (m.connections > best.connections ? m : best), matches[0]!);
  return {
    id,
    client: summariseEndpoint(acc.clientNode, acc.flows.map((f) => f.client)),
    server: summariseEndpoint(acc.serverNode, acc.flows.map((f) => f.server)),
    protocol: acc.protocol,
    match: dominant.match,
    matches,
    connections, bytesSent, bytesReceived, firstSeenMs, lastSeenMs,
    nat: summariseNat(acc.flows.flatMap((f) => f.nat), connectionsThrough(acc.flows)),
    proxies: summariseProxies(acc.flows),
  };
}

/** Orders edges by bytes, then connections, then id, so equal inputs give equal pages. */
export function compareEdges(a: GraphEdge, b: GraphEdge): number {
  const bytes = (b.bytesSent + b.bytesReceived) - (a.bytesSent + a.bytesReceived);
  if (bytes !== 0) return bytes;
  if (b.connections !== a.connections) return b.connections - a.connections;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Groups flows into the graph, keeping the `limit` heaviest edges and exactly the nodes they reference. */
export function buildTalkerGraph(flows: readonly Flow[], groupBy: Grouping, filter: FlowFilter | null | undefined, limit: number, names: NameLookup = NO_NAMES): TalkerGraph {
  const edges = new Map<string, EdgeAcc>();
  const nodes = new Map<string, GraphNode>();
  const node = (e: FlowEndpoint): GraphNode => {
    const id = nodeIdOf(e, groupBy, names);
    let n = nodes.get(id);
    if (!n) {
      n = nodeOf(e, groupBy, names);
      nodes.set(id, n);
    }
    return n;
  };
  for (const flow of flows) {
    if (!flowMatches(flow, filter, names)) continue;
    const clientNode = node(flow.client);
    const serverNode = node(flow.server);
    const key = `${clientNode.id}>${serverNode.id}|${flow.protocol}|${flow.server.port ?? '*'}`;
    const acc = edges.get(key);
    if (acc) acc.flows.push(flow);
    else edges.set(key, { clientNode, serverNode, protocol: flow.protocol, flows: [flow] });
  }
  const all = [...edges.entries()].map(([key, acc]) => buildEdge(acc, `${groupBy}|${key}`)).sort(compareEdges);
  const kept = all.slice(0, Math.max(0, limit));
  const used = new Map<string, GraphNode>();
  for (const e of kept) {
    used.set(e.client.node.id, e.client.node);
    used.set(e.server.node.id, e.server.node);
  }
  return { nodes: [...used.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)), edges: kept, totalEdges: all.length };
}
