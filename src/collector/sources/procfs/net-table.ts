import type { Endpoint, Family, Protocol, SocketState } from '../../../domain/connection.js';
import { decodeProcHexAddress, formatAddress, readHex, type ByteOrder } from './address.js';

/**
 * Pure parser of /proc/<pid>/net/{tcp,tcp6,udp,udp6}. Works on raw bytes with a hand-written scanner
 * (no regex, no per-line string split) because a busy host has hundreds of thousands of lines per read.
 * Never throws: lines that do not parse are counted in `skipped` and left out.
 */

/** One row of a /proc net table, decoded. */
export interface NetTableEntry {
  readonly protocol: Protocol;
  readonly family: Family;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly state: SocketState;
  /** null for sockets without an inode (TIME_WAIT, NEW_SYN_RECV request sockets). */
  readonly inode: number | null;
  readonly uid: number;
  readonly txQueue: number;
  readonly rxQueue: number;
}

export interface NetTableParse {
  readonly entries: NetTableEntry[];
  /** Malformed or truncated lines (the header and empty lines are not counted). */
  readonly skipped: number;
}

export interface NetTableParseOptions {
  readonly protocol: Protocol;
  readonly family: Family;
  /** Byte order of the host that produced the text; little-endian unless told otherwise. */
  readonly byteOrder?: ByteOrder;
  /**
   * The entries of the previous parse of the same table. A line that decodes to the same values as the
   * previous entry of its inode yields that very entry again: on a steady host most lines do, and making
   * no new objects for them is most of what a parse would cost (the lines come in the same order from one
   * read to the next, so the match is found by walking along).
   */
  readonly previous?: readonly NetTableEntry[];
  /** Address texts to keep from one parse to the next (see createAddressCache). */
  readonly addresses?: AddressCache;
}

/** Canonical address texts by their /proc hex form; kept by a caller that parses the same table repeatedly. */
export interface AddressCache {
  readonly v4: Map<number, string>;
  readonly v6: Map<string, string>;
}

/** Most addresses one cache keeps: past it, it starts over (a host talks to few addresses at a time). */
const ADDRESS_CACHE_MAX = 4096;

export function createAddressCache(): AddressCache {
  return { v4: new Map(), v6: new Map() };
}

/** Kernel state numbers (include/net/tcp_states.h), index = code. UDP uses 1 (connected) and 7 (unconnected). */
const STATE_BY_CODE: readonly (SocketState | undefined)[] = [
  undefined, 'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV',
];

/** Socket state for a /proc state code, or null when the code is unknown. */
export function stateFromCode(code: number): SocketState | null {
  return STATE_BY_CODE[code] ?? null;
}

const SPACE = 32;
const TAB = 9;
const NEWLINE = 10;
const COLON = 58;
/** Fields we need: sl, local, remote, st, tx:rx, tr:when, retrnsmt, uid, timeout, inode. */
const FIELDS = 10;

function parseDecimal(buf: Uint8Array, start: number, end: number): number {
  if (end <= start || end - start > 15) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = (buf[i] ?? 0) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function toBytes(input: Uint8Array | string): Buffer {
  if (typeof input === 'string') return Buffer.from(input, 'latin1');
  return Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
}

/** Parses a whole net table file. `input` may be the raw bytes as read (preferred) or text. */
export function parseNetTable(input: Uint8Array | string, options: NetTableParseOptions): NetTableParse {
  const buf = toBytes(input);
  const { protocol, family } = options;
  const order = options.byteOrder ?? 'LE';
  const addrLength = family === 4 ? 8 : 32;
  const endpointLength = addrLength + 5;
  const entries: NetTableEntry[] = [];
  // The same few addresses recur on every line. IPv4 keys are the hex word's value.
  const cache = options.addresses ?? createAddressCache();
  if (cache.v4.size > ADDRESS_CACHE_MAX) cache.v4.clear();
  if (cache.v6.size > ADDRESS_CACHE_MAX) cache.v6.clear();
  const previous = options.previous ?? [];
  let cursor = 0;
  let previousIndex: Map<number, number> | null = null;
  const starts = new Int32Array(FIELDS);
  const ends = new Int32Array(FIELDS);
  let skipped = 0;

  const decodeAddress = (start: number): string | null => {
    let key: number | string;
    let cached: string | undefined;
    if (family === 4) {
      key = readHex(buf, start, 8);
      if (key < 0) return null;
      cached = cache.v4.get(key);
    } else {
      key = buf.toString('latin1', start, start + addrLength);
      cached = cache.v6.get(key);
    }
    if (cached !== undefined) return cached;
    const bytes = decodeProcHexAddress(buf, start, addrLength, order);
    if (bytes === null) return null;
    const text = formatAddress(bytes);
    if (typeof key === 'number') cache.v4.set(key, text);
    else cache.v6.set(key, text);
    return text;
  };
  const endpointOk = (field: number): boolean => {
    const s = starts[field] ?? 0;
    return (ends[field] ?? 0) - s === endpointLength && buf[s + addrLength] === COLON;
  };
  /** The previous entry of this inode, looked for first where the walk along the previous parse is. */
  const previousOf = (inode: number): NetTableEntry | undefined => {
    if (inode === 0) return undefined;
    const next = previous[cursor];
    if (next !== undefined && next.inode === inode) {
      cursor++;
      return next;
    }
    if (previousIndex === null) {
      previousIndex = new Map();
      for (let i = 0; i < previous.length; i++) {
        const e = previous[i] as NetTableEntry;
        if (e.inode !== null) previousIndex.set(e.inode, i);
      }
    }
    const at = previousIndex.get(inode);
    if (at === undefined) return undefined;
    cursor = at + 1;
    return previous[at];
  };

  let pos = 0;
  const length = buf.length;
  while (pos < length) {
    let lineEnd = buf.indexOf(NEWLINE, pos);
    if (lineEnd < 0) lineEnd = length;
    // Tokenise the first FIELDS whitespace-separated fields of the line.
    let count = 0;
    let i = pos;
    while (i < lineEnd && count < FIELDS) {
      while (i < lineEnd && (buf[i] === SPACE || buf[i] === TAB)) i++;
      if (i >= lineEnd) break;
      starts[count] = i;
      while (i < lineEnd && buf[i] !== SPACE && buf[i] !== TAB) i++;
      ends[count] = i;
      count++;
    }
    pos = lineEnd + 1;
    if (count === 0) continue;
    const s0 = starts[0] ?? 0;
    if ((ends[0] ?? 0) - s0 === 2 && buf[s0] === 0x73 && buf[s0 + 1] === 0x6c) continue; // the "sl local_address ..." header
    if (count < FIELDS || buf[(ends[0] ?? 1) - 1] !== COLON) { skipped++; continue; }
    const s1 = starts[1] ?? 0;
    const s2 = starts[2] ?? 0;
    const localAddress = endpointOk(1) ? decodeAddress(s1) : null;
    const remoteAddress = endpointOk(2) ? decodeAddress(s2) : null;
    const localPort = localAddress === null ? -1 : readHex(buf, s1 + addrLength + 1, 4);
    const remotePort = remoteAddress === null ? -1 : readHex(buf, s2 + addrLength + 1, 4);
    const s3 = starts[3] ?? 0;
    const code = (ends[3] ?? 0) - s3 === 2 ? readHex(buf, s3, 2) : -1;
    const state = code < 0 ? null : stateFromCode(code);
    const s4 = starts[4] ?? 0;
    const queuesOk = (ends[4] ?? 0) - s4 === 17 && buf[s4 + 8] === COLON;
    const txQueue = queuesOk ? readHex(buf, s4, 8) : -1;
    const rxQueue = queuesOk ? readHex(buf, s4 + 9, 8) : -1;
    const uid = parseDecimal(buf, starts[7] ?? 0, ends[7] ?? 0);
    const inode = parseDecimal(buf, starts[9] ?? 0, ends[9] ?? 0);
    if (localAddress === null || remoteAddress === null || localPort < 0 || remotePort < 0 || state === null
      || txQueue < 0 || rxQueue < 0 || uid < 0 || inode < 0) {
      skipped++;
      continue;
    }
    const prior = previousOf(inode);
    if (prior !== undefined && prior.state === state && prior.local.port === localPort && prior.remote.port === remotePort
      && prior.local.address === localAddress && prior.remote.address === remoteAddress
      && prior.uid === uid && prior.txQueue === txQueue && prior.rxQueue === rxQueue) {
      entries.push(prior);
      continue;
    }
    entries.push({
      protocol, family, local: { address: localAddress, port: localPort }, remote: { address: remoteAddress, port: remotePort },
      state, inode: inode === 0 ? null : inode, uid, txQueue, rxQueue,
    });
  }
  return { entries, skipped };
}

/**
 * A listening socket: TCP in LISTEN, or UDP bound to a port but not connected (state CLOSE with an
 * unspecified remote end). Unbound UDP sockets (local port 0) listen on nothing.
 */
export function isListeningEntry(entry: NetTableEntry): boolean {
  if (entry.protocol === 'tcp') return entry.state === 'LISTEN';
  return entry.state === 'CLOSE' && entry.remote.port === 0 && entry.local.port !== 0
    && (entry.remote.address === '0.0.0.0' || entry.remote.address === '::');
}

/** A socket with a peer: everything that is neither listening nor merely bound (remote port 0). */
export function isConnectedEntry(entry: NetTableEntry): boolean {
  return !isListeningEntry(entry) && entry.remote.port !== 0;
}
