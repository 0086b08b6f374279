/**
 * Both-ends matching: turns per-host connection records (each host only sees its own side) and the NAT
 * translations seen by routers into flows "this client talked to that server", joined across hosts.
 *
 * A client record (local c:cp -> remote d:dp) and a server record (local s:sp <- remote r:rp) are the same
 * connection when, seen as client -> server, their tuples are equal: c:cp -> d:dp == r:rp -> s:sp. When the
 * client reached a VIP or went through a masquerade, a conntrack translation bridges the two: its original
 * tuple is what the client sent (c:cp -> d:dp) and its reply tuple (s:sp -> m:mp) is what the server answered
 * to, i.e. the server saw m:mp -> s:sp. Translations can chain (a client-side SNAT then a DNAT further on).
 *
 * Exact mode uses full 4-tuples (raw rows). Triple mode drops the client port (aggregates keep only the client
 * address, the server address and the server port), so one client group can meet several server groups; the
 * client's figures are then split between them in proportion to what each server recorded.
 */
import type { Protocol } from './connection.js';
import { isLoopback } from './address.js';

export type MatchLabel = 'BOTH_ENDS' | 'NAT_RESOLVED' | 'CLIENT_ONLY' | 'SERVER_ONLY';
export type Role = 'client' | 'server';

export interface ProcessRef {
  readonly pid: number;
  readonly startedAtMs: number;
  readonly name: string | null;
  readonly containerId: string | null;
}

/** Traffic one host recorded on one side of one tuple (or triple), summed over the window. */
export interface SideGroup {
  readonly hostId: string;
  /** The network namespace (inode) the records were in: part of every join, as every container has its own 127.0.0.1. */
  readonly netns: number;
  readonly process: ProcessRef | null;
  readonly protocol: Protocol;
  readonly role: Role;
  readonly localAddress: string;
  /** null in triple mode for the client's (ephemeral) port. */
  readonly localPort: number | null;
  readonly remoteAddress: string;
  readonly remotePort: number | null;
  /** As this host counted them. */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly connections: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /**
   * Some of its rows stand for several connections (elision) under the tuple of one of them: the others'
   * own client ports are gone, so they can only be joined by their triple (see matchFlows).
   */
  readonly elided?: boolean;
}

/** A NAT translation (or, in triple mode, translations sharing all but the client-side ports). */
export interface NatGroup {
  readonly hostId: string | null;
  /** The network namespace whose conntrack table held it; null when unknown. */
  readonly netns: number | null;
  readonly protocol: Protocol;
  readonly kind: 'DNAT' | 'SNAT' | 'BOTH';
  readonly origSrc: string;
  readonly origSrcPort: number | null;
  readonly origDst: string;
  readonly origDstPort: number;
  readonly replySrc: string;
  readonly replySrcPort: number;
  readonly replyDst: string;
  readonly replyDstPort: number | null;
  readonly translations: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
}

export interface FlowEndpoint {
  readonly hostId: string | null;
  /** The network namespace of the record this end comes from; absent when the end was not recorded. */
  readonly netns?: number;
  readonly process: ProcessRef | null;
  readonly address: string;
  readonly port: number | null;
}

/** One matched relation: figures from the client's side. */
export interface Flow {
  readonly match: MatchLabel;
  readonly protocol: Protocol;
  readonly client: FlowEndpoint;
  readonly server: FlowEndpoint;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly connections: number;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /** Translations in the order the traffic crossed them (client first). */
  readonly nat: readonly NatGroup[];
  /** Local proxies the traffic went through (client first), when proxied legs were joined (see proxies.ts). */
  readonly proxies?: readonly FlowEndpoint[];
}

export interface MatchOptions {
  /** true: 4-tuples (raw rows); false: triples (aggregates). */
  readonly exact: boolean;
  /** Two records only match when their sightings overlap within this slack (one collection interval or bucket). */
  readonly toleranceMs: number;
  /** How many translations may be chained between a client and a server. */
  readonly maxNatHops?: number;
}

interface Tuple {
  readonly protocol: Protocol;
  readonly src: string;
  readonly srcPort: number | null;
  readonly dst: string;
  readonly dstPort: number | null;
}

/** Where a packet is: the host and network namespace it is in. */
interface Scope {
  readonly hostId: string | null;
  readonly netns: number | null;
}

interface Candidate {
  readonly server: SideGroup | null;
  readonly nat: readonly NatGroup[];
  /** Where the traffic finally went when no server record was found. */
  readonly destination: { readonly address: string; readonly port: number | null };
}

const DEFAULT_MAX_NAT_HOPS = 3;

/**
 * Which side of a connection a host's record is on. The collector says so when it knows; otherwise the port
 * heuristic applies: the lower port is the service (server) port.
 */
export function roleOf(direction: 'outgoing' | 'incoming' | 'unknown', localPort: number | null, remotePort: number | null): Role {
  if (direction === 'outgoing') return 'client';
  if (direction === 'incoming') return 'server';
  return localPort !== null && remotePort !== null && localPort < remotePort ? 'server' : 'client';
}

function tupleKey(t: Tuple, exact: boolean): string {
  const srcPort = exact ? String(t.srcPort) : '*';
  return `${t.protocol}|${t.src}|${srcPort}|${t.dst}|${t.dstPort}`;
}

/** The tuple a record describes, written client -> server. */
export function clientServerTuple(g: SideGroup): Tuple {
  return g.role === 'client'
    ? { protocol: g.protocol, src: g.localAddress, srcPort: g.localPort, dst: g.remoteAddress, dstPort: g.remotePort }
    : { protocol: g.protocol, src: g.remoteAddress, srcPort: g.remotePort, dst: g.localAddress, dstPort: g.localPort };
}

function natOriginal(n: NatGroup): Tuple {
  return { protocol: n.protocol, src: n.origSrc, srcPort: n.origSrcPort, dst: n.origDst, dstPort: n.origDstPort };
}

/** What the next hop (or the server) sees, client -> server: the reply tuple reversed. */
function natTranslated(n: NatGroup): Tuple {
  return { protocol: n.protocol, src: n.replyDst, srcPort: n.replyDstPort, dst: n.replySrc, dstPort: n.replySrcPort };
}

function sameScope(a: Scope, b: Scope): boolean {
  return a.hostId === b.hostId && a.netns === b.netns;
}

function isLocalTuple(t: Tuple): boolean {
  return isLoopback(t.src) || isLoopback(t.dst);
}

/**
 * The servers a tuple sent from `scope` can have reached. A loopback tuple reaches only its own namespace. Any
 * other destination that is an address of the sender's own namespace is delivered there by the kernel, never
 * to another namespace or host using the same address: when some candidates are in the sender's scope, only
 * those are.
 */
function reachable<T extends Scope>(tuple: Tuple, scope: Scope, found: readonly T[]): T[] {
  const local = found.filter((f) => sameScope(f, scope));
  if (isLocalTuple(tuple) || local.length > 0) return local;
  return [...found];
}

function overlaps(a: { firstSeenMs: number; lastSeenMs: number }, b: { firstSeenMs: number; lastSeenMs: number }, slack: number): boolean {
  return a.firstSeenMs <= b.lastSeenMs + slack && b.firstSeenMs <= a.lastSeenMs + slack;
}

function index<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

/**
 * Splits an integer total into integer parts proportional to weights (largest remainder), so parts always
 * add up to the total. Equal weights when all weights are zero.
 */
export function apportion(total: number, weights: readonly number[]): number[] {
  if (weights.length === 0) return [];
  if (weights.length === 1) return [total];
  const sum = weights.reduce((a, b) => a + b, 0);
  const w = sum > 0 ? weights : weights.map(() => 1);
  const wsum = sum > 0 ? sum : weights.length;
  const exact = w.map((x) => (total * x) / wsum);
  const parts = exact.map((x) => Math.floor(x));
  let rest = total - parts.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; rest > 0 && k < order.length; k++, rest--) parts[order[k]!.i]! += 1;
  return parts;
}

function endpointOf(g: SideGroup): FlowEndpoint {
  return { hostId: g.hostId, netns: g.netns, process: g.process, address: g.localAddress, port: g.localPort };
}

/** Looks for the servers a client tuple reached: directly, else through up to maxHops chained translations. */
function findCandidates(
  client: SideGroup,
  servers: Map<string, SideGroup[]>,
  nats: Map<string, NatGroup[]>,
  options: MatchOptions,
  /** How `servers` is keyed (by 4-tuple or triple), when not as `nats` is. */
  serversExact = options.exact,
): Candidate[] {
  const slack = options.toleranceMs;
  const start = clientServerTuple(client);
  const direct = reachable(start, client, (servers.get(tupleKey(start, serversExact)) ?? []).filter((s) => overlaps(s, client, slack)));
  if (direct.length > 0) return direct.map((server) => ({ server, nat: [], destination: { address: server.localAddress, port: server.localPort } }));

  const maxHops = options.maxNatHops ?? DEFAULT_MAX_NAT_HOPS;
  // The scope is where the packet is: the client's namespace, then that of the last translation it crossed.
  let frontier: { tuple: Tuple; chain: NatGroup[]; scope: Scope }[] = [{ tuple: start, chain: [], scope: client }];
  const resolved: Candidate[] = [];
  const deadEnds: Candidate[] = [];
  for (let hop = 0; hop < maxHops && frontier.length > 0; hop++) {
    const next: { tuple: Tuple; chain: NatGroup[]; scope: Scope }[] = [];
    for (const { tuple, chain, scope } of frontier) {
      const all = (nats.get(tupleKey(tuple, options.exact)) ?? []).filter((n) => overlaps(n, client, slack) && !chain.includes(n));
      // A loopback tuple is translated only by its own namespace's conntrack (a NAT of unknown namespace may be it).
      const translations = isLocalTuple(tuple) ? all.filter((n) => n.netns === null || sameScope(n, scope)) : all;
      for (const n of translations) {
        const translated = natTranslated(n);
        const nextChain = [...chain, n];
        const nextScope: Scope = n.netns === null ? scope : n;
        const found = reachable(translated, nextScope, (servers.get(tupleKey(translated, serversExact)) ?? []).filter((s) => overlaps(s, client, slack)));
        if (found.length > 0) {
          for (const server of found) resolved.push({ server, nat: nextChain, destination: { address: server.localAddress, port: server.localPort } });
        } else {
          next.push({ tuple: translated, chain: nextChain, scope: nextScope });
        }
      }
    }
    // A chain that stops without reaching a server still tells where the traffic went.
    for (const f of next) deadEnds.push({ server: null, nat: f.chain, destination: { address: f.tuple.dst, port: f.tuple.dstPort } });
    frontier = next;
  }
  if (resolved.length > 0) return resolved;
  // Keep only the longest chains: a dead end that a further hop extended is not a destination of its own.
  const longest = deadEnds.filter((d) => !deadEnds.some((o) => o !== d && o.nat.length > d.nat.length && d.nat.every((n, i) => o.nat[i] === n)));
  return longest;
}

function serverWeight(s: SideGroup): number {
  return s.bytesSent + s.bytesReceived;
}

/**
 * Joins of records that elision took their own tuple from, by triple (exact mode only). Each host elides the
 * connections of its own interval, and two hosts' intervals (and so the sets of connections they elide
 * together) differ: a connection can keep its row on one end and be folded into a row of another client port
 * on the other. Such a record finds no 4-tuple; it joins by triple (client address, server address and port,
 * through translations of any client port), and only where one of the two ends is elided: two records with
 * their own tuples that do not meet are not the same connection.
 */
interface ElidedJoins {
  /** The triple candidates of a client record the 4-tuple join left alone. */
  candidates(client: SideGroup): Candidate[];
  /** Whether a server record no 4-tuple reached is inside an elided client record. */
  covers(server: SideGroup): boolean;
}

function elidedJoins(clients: readonly SideGroup[], servers: readonly SideGroup[], translations: readonly NatGroup[], options: MatchOptions): ElidedJoins | null {
  if (!options.exact || !groupsElided(clients, servers)) return null;
  const triple: MatchOptions = { ...options, exact: false };
  const serverIndex = index(servers, (s) => tupleKey(clientServerTuple(s), false));
  const natByOriginal = index(translations, (n) => tupleKey(natOriginal(n), true));
  const natByTriple = index(translations, (n) => tupleKey(natOriginal(n), false));
  // The client's own translations first (its port's); only when it has none (a record elided on the router,
  // or an entry gone), the translations of its triple. One candidate per server record.
  const reached = (client: SideGroup): Candidate[] => {
    const own = findCandidates(client, serverIndex, natByOriginal, options, false).filter((c) => c.server !== null);
    const found = own.length > 0 ? own : findCandidates(client, serverIndex, natByTriple, triple).filter((c) => c.server !== null);
    return found.filter((c, i) => found.findIndex((o) => o.server === c.server) === i);
  };
  let covered: Set<SideGroup> | null = null;
  return {
    candidates: (client) => reached(client).filter((c) => c.server !== null && (client.elided === true || c.server.elided === true)),
    covers(server) {
      if (covered === null) {
        const set = new Set<SideGroup>();
        for (const c of clients) if (c.elided === true) for (const found of reached(c)) if (found.server) set.add(found.server);
        covered = set;
      }
      return covered.has(server);
    },
  };
}

function groupsElided(clients: readonly SideGroup[], servers: readonly SideGroup[]): boolean {
  return clients.some((g) => g.elided === true) || servers.some((g) => g.elided === true);
}

/** Matches client and server records (and translations) into flows. Pure; output order follows input order. */
export function matchFlows(groups: readonly SideGroup[], translations: readonly NatGroup[], options: MatchOptions): Flow[] {
  const clients = groups.filter((g) => g.role === 'client');
  const servers = groups.filter((g) => g.role === 'server');
  const serverIndex = index(servers, (s) => tupleKey(clientServerTuple(s), options.exact));
  const natByOriginal = index(translations, (n) => tupleKey(natOriginal(n), options.exact));
  const natByTranslated = index(translations, (n) => tupleKey(natTranslated(n), options.exact));
  const elided = elidedJoins(clients, servers, translations, options);
  const matchedServers = new Set<SideGroup>();
  const flows: Flow[] = [];

  for (const client of clients) {
    let candidates = findCandidates(client, serverIndex, natByOriginal, options);
    if (elided !== null && !candidates.some((c) => c.server !== null)) {
      const byTriple = elided.candidates(client);
      if (byTriple.length > 0) candidates = byTriple;
    }
    if (candidates.length === 0) {
      flows.push({
        match: 'CLIENT_ONLY', protocol: client.protocol, client: endpointOf(client),
        server: { hostId: null, process: null, address: client.remoteAddress, port: client.remotePort },
        bytesSent: client.bytesSent, bytesReceived: client.bytesReceived, connections: client.connections,
        firstSeenMs: client.firstSeenMs, lastSeenMs: client.lastSeenMs, nat: [],
      });
      continue;
    }
    // One candidate takes the client's figures whole; several split them by what each end recorded.
    const weights = candidates.map((c) => (c.server ? serverWeight(c.server) : c.nat[c.nat.length - 1]?.translations ?? 1));
    const sent = apportion(client.bytesSent, weights);
    const received = apportion(client.bytesReceived, weights);
    const counts = apportion(client.connections, weights);
    candidates.forEach((c, i) => {
      if (c.server) matchedServers.add(c.server);
      const server: FlowEndpoint = c.server
        ? endpointOf(c.server)
        : { hostId: null, process: null, address: c.destination.address, port: c.destination.port };
      flows.push({
        match: c.server ? (c.nat.length > 0 ? 'NAT_RESOLVED' : 'BOTH_ENDS') : 'CLIENT_ONLY',
        protocol: client.protocol, client: endpointOf(client), server,
        bytesSent: sent[i]!, bytesReceived: received[i]!, connections: counts[i]!,
        // The client's sightings, like its figures: a server group (triple mode) may also hold other clients' traffic.
        firstSeenMs: client.firstSeenMs, lastSeenMs: client.lastSeenMs,
        nat: c.nat,
      });
    });
  }

  for (const server of servers) {
    if (matchedServers.has(server)) continue;
    // Its connection is in an elided client record, whose figures were counted with the server that record reached.
    if (elided !== null && elided.covers(server)) continue;
    flows.push(serverOnlyFlow(server, natByTranslated, options));
  }
  return flows;
}

/** A server record nobody's client record reached: mirror its figures, and name the real source when a masquerade hides it. */
function serverOnlyFlow(server: SideGroup, natByTranslated: Map<string, NatGroup[]>, options: MatchOptions): Flow {
  const seen = clientServerTuple(server);
  const chain: NatGroup[] = [];
  let tuple = seen;
  let scope: Scope = server;
  for (let hop = 0; hop < (options.maxNatHops ?? DEFAULT_MAX_NAT_HOPS); hop++) {
    // Only an unambiguous translation names the source; several would be a guess.
    const all = (natByTranslated.get(tupleKey(tuple, options.exact)) ?? []).filter((n) => overlaps(n, server, options.toleranceMs) && !chain.includes(n));
    const found = isLocalTuple(tuple) ? all.filter((n) => n.netns === null || sameScope(n, scope)) : all;
    if (found.length !== 1) break;
    const n = found[0]!;
    chain.unshift(n);
    tuple = natOriginal(n);
    if (n.netns !== null) scope = n;
  }
  return {
    match: 'SERVER_ONLY', protocol: server.protocol,
    client: { hostId: null, process: null, address: tuple.src, port: tuple.srcPort },
    server: endpointOf(server),
    bytesSent: server.bytesReceived, bytesReceived: server.bytesSent, connections: server.connections,
    firstSeenMs: server.firstSeenMs, lastSeenMs: server.lastSeenMs, nat: chain,
  };
}
