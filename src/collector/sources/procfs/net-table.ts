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
  // Per-call caches: the same few addresses recur on every line. IPv4 keys are the hex word's value.
  const v4Cache = new Map<number, string>();
  const v6Cache = new Map<string, string>();
  const starts = new Int32Array(FIELDS);
  const ends = new Int32Array(FIELDS);
  let skipped = 0;

  const decodeAddress = (start: number): string | null => {
    let key: number | string;
    let cached: string | undefined;
    if (family === 4) {
      key = readHex(buf, start, 8);
      if (key < 0) return null;
      cached = v4Cache.get(key);
    } else {
      key = buf.toString('latin1', start, start + addrLength);
      cached = v6Cache.get(key);
    }
    if (cached !== undefined) return cached;
    const bytes = decodeProcHexAddress(buf, start, addrLength, order);
    if (bytes === null) return null;
    const text = formatAddress(bytes);
    if (typeof key === 'number') v4Cache.set(key, text);
    else v6Cache.set(key, text);
    return text;
  };
  const decodeEndpoint = (field: number): Endpoint | null => {
    const s = starts[field] ?? 0;
    if ((ends[field] ?? 0) - s !== endpointLength || buf[s + addrLength] !== COLON) return null;
    const address = decodeAddress(s);
    const port = readHex(buf, s + addrLength + 1, 4);
    if (address === null || port < 0) return null;
    return { address, port };
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
    const local = decodeEndpoint(1);
    const remote = decodeEndpoint(2);
    const s3 = starts[3] ?? 0;
    const code = (ends[3] ?? 0) - s3 === 2 ? readHex(buf, s3, 2) : -1;
    const state = code < 0 ? null : stateFromCode(code);
    const s4 = starts[4] ?? 0;
    const queuesOk = (ends[4] ?? 0) - s4 === 17 && buf[s4 + 8] === COLON;
    const txQueue = queuesOk ? readHex(buf, s4, 8) : -1;
    const rxQueue = queuesOk ? readHex(buf, s4 + 9, 8) : -1;
    const uid = parseDecimal(buf, starts[7] ?? 0, ends[7] ?? 0);
    const inode = parseDecimal(buf, starts[9] ?? 0, ends[9] ?? 0);
    if (local === null || remote === null || state === null || txQueue < 0 || rxQueue < 0 || uid < 0 || inode < 0) {
      skipped++;
      continue;
    }
    entries.push({ protocol, family, local, remote, state, inode: inode === 0 ? null : inode, uid, txQueue, rxQueue });
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
