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
  /**
   * With `previous`: the socket inodes that came (in no entry of the previous parse) and went (in no entry
   * of this one). Tiny on a steady host, and what keeps the owner index from looking at every socket.
   */
  readonly inodes?: InodeChanges;
}

/** Socket inodes new to a table and gone from it since the previous parse. */
export interface InodeChanges {
  readonly added: readonly number[];
  readonly removed: readonly number[];
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

/**
 * How far ahead of the walk along the previous parse a line's inode is looked for (sockets that went are
 * passed over), and how many passed-over or missed entries are tolerated before an index of the previous
 * parse is built instead (a reshuffled table).
 */
const LOOKAHEAD = 4096;
const MAX_STRAYS = 256;

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
  // Sized for as many lines as last time (and trimmed at the end): a list grown by pushes leaves copies.
  const entries = new Array<NetTableEntry>((options.previous?.length ?? 0) + 64);
  let kept = 0;
  // The same few addresses recur on every line. IPv4 keys are the hex word's value.
  const cache = options.addresses ?? createAddressCache();
  if (cache.v4.size > ADDRESS_CACHE_MAX) cache.v4.clear();
  if (cache.v6.size > ADDRESS_CACHE_MAX) cache.v6.clear();
  const previous = options.previous ?? [];
  const starts = new Int32Array(FIELDS);
  const ends = new Int32Array(FIELDS);
  let skipped = 0;
  const walk = new PreviousWalk(previous);
  const added: number[] = [];

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
    const prior = inode === 0 ? undefined : walk.find(inode);
    if (prior === undefined && inode !== 0) added.push(inode);
    if (prior !== undefined && prior.state === state && prior.local.port === localPort && prior.remote.port === remotePort
      && prior.local.address === localAddress && prior.remote.address === remoteAddress
      && prior.uid === uid && prior.txQueue === txQueue && prior.rxQueue === rxQueue) {
      entries[kept++] = prior;
      continue;
    }
    entries[kept++] = ({
      protocol, family, local: { address: localAddress, port: localPort }, remote: { address: remoteAddress, port: remotePort },
      state, inode: inode === 0 ? null : inode, uid, txQueue, rxQueue,
    });
  }
  entries.length = kept;
  return options.previous ? { entries, skipped, inodes: { added, removed: walk.leftOver() } } : { entries, skipped };
}

/**
 * The walk along the previous parse that finds a line's previous entry by its inode. Lines come in the
 * same order from one read to the next (hash-bucket order), so the next entry is nearly always the one;
 * sockets that went are passed over by looking a little ahead, lines that moved are found among those
 * passed over, and only a reshuffled table gets an index. Each previous entry is found at most once, so
 * what is left at the end is what went.
 */
class PreviousWalk {
  private cursor = 0;
  /** Previous entries passed over and not found since. */
  private strays: NetTableEntry[] = [];
  private misses = 0;
  private index: Map<number, NetTableEntry> | null = null;

  constructor(private readonly previous: readonly NetTableEntry[]) {}

  find(inode: number): NetTableEntry | undefined {
    if (this.index !== null) {
      const e = this.index.get(inode);
      if (e !== undefined) this.index.delete(inode);
      return e;
    }
    const previous = this.previous;
    // Entries without an inode (TIME_WAIT) are never found again: step over them.
    while (this.cursor < previous.length && (previous[this.cursor] as NetTableEntry).inode === null) this.cursor++;
    const limit = Math.min(previous.length, this.cursor + LOOKAHEAD);
    for (let j = this.cursor; j < limit; j++) {
      const e = previous[j] as NetTableEntry;
      if (e.inode !== inode) continue;
      for (let k = this.cursor; k < j; k++) if ((previous[k] as NetTableEntry).inode !== null) this.strays.push(previous[k] as NetTableEntry);
      this.cursor = j + 1;
      if (this.strays.length > MAX_STRAYS) this.buildIndex();
      return e;
    }
    for (let k = 0; k < this.strays.length; k++) {
      const e = this.strays[k] as NetTableEntry;
      if (e.inode !== inode) continue;
      this.strays[k] = this.strays[this.strays.length - 1] as NetTableEntry;
      this.strays.pop();
      return e;
    }
    // Not in the previous parse near here: a new socket, or a table in another order than last time.
    if (++this.misses > MAX_STRAYS) this.buildIndex();
    return undefined;
  }

  /** Inodes of the previous entries never found. */
  leftOver(): number[] {
    const out: number[] = [];
    if (this.index !== null) {
      this.index.forEach((_, inode) => out.push(inode));
      return out;
    }
    for (const e of this.strays) out.push(e.inode as number);
    for (let k = this.cursor; k < this.previous.length; k++) {
      const inode = (this.previous[k] as NetTableEntry).inode;
      if (inode !== null) out.push(inode);
    }
    return out;
  }

  private buildIndex(): void {
    const index = new Map<number, NetTableEntry>();
    for (const e of this.strays) index.set(e.inode as number, e);
    for (let k = this.cursor; k < this.previous.length; k++) {
      const e = this.previous[k] as NetTableEntry;
      if (e.inode !== null) index.set(e.inode, e);
    }
    this.strays = [];
    this.cursor = this.previous.length;
    this.index = index;
  }
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
