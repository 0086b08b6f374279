import type { Direction, ListeningSocket, NatTranslation, Protocol } from '../domain/connection.js';
import { isLoopback } from '../domain/address.js';
import { isUnspecified, tupleKey, type SocketTuple } from './socket-key.js';

/**
 * Which side opened a connection, decided by the best evidence available, in this order: what a source
 * observed (eBPF sees connect/accept), conntrack's original tuple (its sender is the client), the table of
 * listening sockets (a connection on a port this host listens on was accepted), the first datagram of a
 * UDP flow the source saw, and last the port heuristic.
 *
 * A UDP flow has no connect/accept: its observed direction is only whichever datagram the source saw
 * first, which is wrong for a server already waiting in recvfrom when the source started (its first
 * event is its answer). A socket bound to the port outweighs that guess.
 */

export type DirectionEvidence = 'observed' | 'conntrack' | 'listening' | 'first-datagram' | 'heuristic' | 'none';

/** Higher is stronger: a remembered direction is only replaced by stronger evidence. */
export const EVIDENCE_RANK: Readonly<Record<DirectionEvidence, number>> = Object.freeze({
  none: 0, heuristic: 1, 'first-datagram': 2, listening: 3, conntrack: 4, observed: 5,
});

export interface EphemeralRange {
  readonly min: number;
  readonly max: number;
}

/** Linux's default net.ipv4.ip_local_port_range. */
export const DEFAULT_EPHEMERAL_RANGE: EphemeralRange = Object.freeze({ min: 32768, max: 60999 });

/** A conntrack original tuple, oriented as its sender saw it. */
export interface OriginalTuple extends SocketTuple {}

/** The addresses listened on at one port (an unspecified address listens on all). */
export interface PortListeners {
  readonly addresses: ReadonlySet<string>;
  readonly anyAddress: boolean;
}

export interface DirectionTables {
  /** Socket key -> direction implied by a conntrack entry; 'unknown' marks contradicting entries. */
  readonly conntrack: ReadonlyMap<string, Direction>;
  /**
   * netns -> protocol -> port -> listeners. Numbers as keys: the tracker asks for every socket of every
   * interval, and a key string per question would cost more than the answer.
   */
  readonly listening: ReadonlyMap<number, ReadonlyMap<Protocol, ReadonlyMap<number, PortListeners>>>;
  /** netns|address of every listening socket bound to a specific address: those addresses are local. */
  readonly localAddresses: ReadonlySet<string>;
  /**
   * The latest namespace and protocol asked about, and their listeners: the tracker asks socket after
   * socket of the same namespace, and a namespace inode above 2^31 used as a map key is a new heap
   * number at each lookup. A cache of these tables alone, made with them.
   */
  readonly lastLookup: { netns: number; protocol: Protocol | null; byPort: ReadonlyMap<number, PortListeners> | undefined };
}

export interface DirectionDecision {
  readonly direction: Direction;
  readonly evidence: DirectionEvidence;
}

const DIRECTIONS: readonly Direction[] = ['outgoing', 'incoming', 'unknown'];
const EVIDENCE: readonly DirectionEvidence[] = ['observed', 'conntrack', 'listening', 'first-datagram', 'heuristic', 'none'];

/** Every decision once, frozen: the tracker asks for one per socket per interval and need not make new ones. */
const DECISIONS: Readonly<Record<Direction, Readonly<Record<DirectionEvidence, DirectionDecision>>>> = Object.freeze(
  Object.fromEntries(DIRECTIONS.map((direction) => [direction, Object.freeze(
    Object.fromEntries(EVIDENCE.map((evidence) => [evidence, Object.freeze({ direction, evidence })])),
  )])) as Record<Direction, Record<DirectionEvidence, DirectionDecision>>,
);

export function decision(direction: Direction, evidence: DirectionEvidence): DirectionDecision {
  return DECISIONS[direction][evidence];
}

function note(map: Map<string, Direction>, key: string, direction: Direction): void {
  const prior = map.get(key);
  if (prior === undefined) map.set(key, direction);
  else if (prior !== direction) map.set(key, 'unknown');
}

/** The two socket keys of an original tuple (its sender's, its receiver's), kept per tuple object by a caller. */
export type OriginalKeys = WeakMap<OriginalTuple, readonly [string, string]>;

export function buildDirectionTables(
  nat: readonly NatTranslation[],
  originals: readonly OriginalTuple[],
  listening: readonly ListeningSocket[],
  /** Keys made before (sources report an unchanged flow with the same object: no new strings for it). */
  keys?: OriginalKeys,
): DirectionTables {
  const conntrack = new Map<string, Direction>();
  const addOriginal = (o: OriginalTuple): void => {
    note(conntrack, tupleKey(o.netns, o.protocol, o.local, o.remote), 'outgoing');
    note(conntrack, tupleKey(o.netns, o.protocol, o.remote, o.local), 'incoming');
  };
  for (let i = 0; i < originals.length; i++) {
    const o = originals[i] as OriginalTuple;
    if (keys === undefined) {
      addOriginal(o);
      continue;
    }
    let pair = keys.get(o);
    if (pair === undefined) {
      pair = [tupleKey(o.netns, o.protocol, o.local, o.remote), tupleKey(o.netns, o.protocol, o.remote, o.local)];
      keys.set(o, pair);
    }
    note(conntrack, pair[0], 'outgoing');
    note(conntrack, pair[1], 'incoming');
  }
  for (const t of nat) {
    const local = { address: t.original.src, port: t.original.srcPort };
    const remote = { address: t.original.dst, port: t.original.dstPort };
    addOriginal({ netns: t.netns, protocol: t.protocol, local, remote });
    // The reply's sender is the server that really answered (after DNAT): its socket is the incoming side.
    note(conntrack, tupleKey(t.netns, t.protocol,
      { address: t.reply.src, port: t.reply.srcPort }, { address: t.reply.dst, port: t.reply.dstPort }), 'incoming');
  }
  const listen = new Map<number, Map<Protocol, Map<number, { addresses: Set<string>; anyAddress: boolean }>>>();
  const localAddresses = new Set<string>();
  for (const l of listening) {
    let byProtocol = listen.get(l.netns);
    if (byProtocol === undefined) listen.set(l.netns, (byProtocol = new Map()));
    let byPort = byProtocol.get(l.protocol);
    if (byPort === undefined) byProtocol.set(l.protocol, (byPort = new Map()));
    let at = byPort.get(l.port);
    if (at === undefined) byPort.set(l.port, (at = { addresses: new Set(), anyAddress: false }));
    at.addresses.add(l.address);
    if (isUnspecified(l.address)) at.anyAddress = true;
    else localAddresses.add(`${l.netns}|${l.address}`);
  }
  return { conntrack, listening: listen, localAddresses, lastLookup: { netns: -1, protocol: null, byPort: undefined } };
}

/** `key`: the socket's key when the caller has it (socketKey(s)), to spare building it again. */
export function directionFromConntrack(s: SocketTuple, tables: DirectionTables, key?: string): Direction {
  if (tables.conntrack.size === 0) return 'unknown';
  return tables.conntrack.get(key ?? tupleKey(s.netns, s.protocol, s.local, s.remote)) ?? 'unknown';
}

/** The listeners of the socket's namespace and protocol (see DirectionTables.lastLookup). */
function listenersOf(tables: DirectionTables, s: SocketTuple): ReadonlyMap<number, PortListeners> | undefined {
  const last = tables.lastLookup;
  if (last.netns === s.netns && last.protocol === s.protocol) return last.byPort;
  const byPort = tables.listening.get(s.netns)?.get(s.protocol);
  last.netns = s.netns;
  last.protocol = s.protocol;
  last.byPort = byPort;
  return byPort;
}

function listensOn(tables: DirectionTables, s: SocketTuple, address: string, port: number, range: EphemeralRange): boolean {
  // An unconnected UDP client socket (sendto) is bound too, to a port the kernel picked from the
  // ephemeral range: a bound UDP socket there says nothing about being a server.
  if (s.protocol === 'udp' && port >= range.min && port <= range.max) return false;
  const at = listenersOf(tables, s)?.get(port);
  if (at === undefined) return false;
  return at.anyAddress || at.addresses.has(address);
}

export function directionFromListening(s: SocketTuple, tables: DirectionTables, range: EphemeralRange = DEFAULT_EPHEMERAL_RANGE): Direction {
  if (tables.listening.size === 0) return 'unknown';
  if (listensOn(tables, s, s.local.address, s.local.port, range)) return 'incoming';
  const remoteIsHere = isLoopback(s.remote.address) || s.remote.address === s.local.address
    || tables.localAddresses.has(`${s.netns}|${s.remote.address}`);
  if (remoteIsHere && listensOn(tables, s, s.remote.address, s.remote.port, range)) return 'outgoing';
  return 'unknown';
}

/** The server side is the non-ephemeral port when exactly one is ephemeral, else the lower port. */
export function directionFromPorts(s: SocketTuple, range: EphemeralRange = DEFAULT_EPHEMERAL_RANGE): Direction {
  const lp = s.local.port;
  const rp = s.remote.port;
  if (lp === 0 || rp === 0 || lp === rp) return 'unknown';
  const ephemeral = (p: number): boolean => p >= range.min && p <= range.max;
  if (ephemeral(lp) !== ephemeral(rp)) return ephemeral(lp) ? 'outgoing' : 'incoming';
  return lp < rp ? 'incoming' : 'outgoing';
}

export function inferDirection(
  s: SocketTuple & { readonly direction: Direction },
  tables: DirectionTables,
  range: EphemeralRange = DEFAULT_EPHEMERAL_RANGE,
): DirectionDecision {
  return inferDirectionAtLeast(s, tables, range, 'none') as DirectionDecision;
}

/**
 * The best decision whose evidence ranks at least `floor`, or null when there is none: the tracker
 * passes the evidence it remembers for the socket, which only equal or stronger evidence replaces, so
 * the weaker rules need not be asked. With floor 'none' it is `inferDirection`.
 */
export function inferDirectionAtLeast(
  s: SocketTuple & { readonly direction: Direction },
  tables: DirectionTables,
  range: EphemeralRange,
  floor: DirectionEvidence,
  key?: string,
): DirectionDecision | null {
  const firstDatagram = s.protocol === 'udp' && s.direction !== 'unknown';
  if (s.direction !== 'unknown' && !firstDatagram) return decision(s.direction, 'observed');
  const rank = EVIDENCE_RANK[floor];
  if (rank > EVIDENCE_RANK.conntrack) return null;
  const byConntrack = directionFromConntrack(s, tables, key);
  if (byConntrack !== 'unknown') return decision(byConntrack, 'conntrack');
  if (rank > EVIDENCE_RANK.listening) return null;
  const byListening = directionFromListening(s, tables, range);
  if (byListening !== 'unknown') return decision(byListening, 'listening');
  if (rank > EVIDENCE_RANK['first-datagram']) return null;
  if (firstDatagram) return decision(s.direction, 'first-datagram');
  if (rank > EVIDENCE_RANK.heuristic) return null;
  const byPorts = directionFromPorts(s, range);
  if (byPorts !== 'unknown') return decision(byPorts, 'heuristic');
  if (rank > EVIDENCE_RANK.none) return null;
  return decision('unknown', 'none');
}
