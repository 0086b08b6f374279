import { TCP_STATES, type Direction, type Endpoint, type Family, type Protocol, type SocketState } from '../../../domain/connection.js';
import { canonicalAddressText } from '../procfs/address.js';

/**
 * Pure parser of the eBPF helper's line format (bpf/FORMAT.md, version 1). One call per line; a line
 * that does not parse comes back as `malformed` with a reason, so the caller can count and skip it.
 */

export const EBPF_FORMAT_VERSION = 1;

export interface HeaderRecord {
  readonly kind: 'header';
  readonly version: number;
  /** CLOCK_REALTIME - CLOCK_BOOTTIME, ms (the helper prints ns). */
  readonly bootToEpochMs: number;
  readonly features: readonly string[];
}

export interface ConnRecord {
  readonly kind: 'conn';
  /** true for a final record (`C`), false for a live one (`U`). */
  readonly closed: boolean;
  /** Kernel socket cookie, decimal text (a u64 does not fit a double). */
  readonly cookie: string;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly netns: number;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** 0 when unknown. */
  readonly pid: number;
  /** Process start in clock ticks since boot (field 22 of /proc/PID/stat). */
  readonly startTicks: number;
  readonly comm: string;
  readonly direction: Direction;
  readonly state: SocketState;
  readonly established: boolean;
  readonly preexisting: boolean;
  /** CLOCK_BOOTTIME ns; 0 when unknown. */
  readonly openNs: number;
  /** CLOCK_BOOTTIME ns; 0 for live records. */
  readonly closeNs: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly retransmits: number;
  readonly rttUs: number;
  /** 0 when unknown. */
  readonly inode: number;
}

export interface StatsRecord {
  readonly kind: 'stats';
  readonly ringbufFull: number;
  readonly tcpTableFull: number;
  readonly udpTableFull: number;
  readonly udpNoPeer: number;
}

export interface EndRecord {
  readonly kind: 'end';
  readonly token: string;
  readonly nowNs: number;
  readonly bootToEpochMs: number;
}

export interface MalformedLine {
  readonly kind: 'malformed';
  readonly reason: string;
}

export type EbpfRecord = HeaderRecord | ConnRecord | StatsRecord | EndRecord | MalformedLine;

const CONN_FIELDS = 22;
const FLAG_ESTABLISHED = 1;
const FLAG_PREEXISTING = 2;
const STATES: ReadonlySet<string> = new Set(TCP_STATES);

function malformed(reason: string): MalformedLine {
  return { kind: 'malformed', reason };
}

/** A non-negative decimal integer that a double holds exactly, or null. */
function uint(text: string | undefined): number | null {
  if (text === undefined || text.length === 0 || text.length > 16 || !/^[0-9]+$/.test(text)) return null;
  return Number(text);
}

/** A decimal u64 of nanoseconds (may exceed 2^53), in ms. */
function nsToMs(text: string | undefined): number | null {
  if (text === undefined || !/^-?[0-9]{1,20}$/.test(text)) return null;
  return Number(BigInt(text) / 1_000_000n);
}

/** Undoes the helper's comm escaping (`\xHH` for bytes outside printable ASCII and for `\`). */
export function unescapeComm(text: string): string | null {
  if (text.indexOf('\\') < 0) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x5c) {
      bytes.push(c);
      continue;
    }
    const hex = text.slice(i + 1, i + 4);
    if (!/^x[0-9a-fA-F]{2}$/.test(hex)) return null;
    bytes.push(parseInt(hex.slice(1), 16));
    i += 3;
  }
  return Buffer.from(bytes).toString('utf8');
}

function endpoint(addr: string | undefined, port: string | undefined): Endpoint | null {
  const canonical = addr === undefined ? null : canonicalAddressText(addr);
  const p = uint(port);
  if (canonical === null || p === null || p > 65535) return null;
  return { address: canonical.address, port: p };
}

function direction(text: string | undefined): Direction | null {
  if (text === 'connect') return 'outgoing';
  if (text === 'accept') return 'incoming';
  if (text === '-') return 'unknown';
  return null;
}

function parseConn(f: readonly string[]): ConnRecord | MalformedLine {
  if (f.length !== CONN_FIELDS) return malformed(`expected ${CONN_FIELDS} fields, got ${f.length}`);
  const [kind, cookie, proto, fam, netnsText, laddr, lport, raddr, rport, pidText, ticksText, commText, dirText,
    stateText, flagsText, openText, closeText, sentText, recvText, retransText, rttText, inodeText] = f;
  if (cookie === undefined || !/^[0-9]{1,20}$/.test(cookie)) return malformed('bad cookie');
  if (proto !== 'tcp' && proto !== 'udp') return malformed(`bad protocol ${String(proto)}`);
  if (fam !== '4' && fam !== '6') return malformed(`bad family ${String(fam)}`);
  const local = endpoint(laddr, lport);
  const remote = endpoint(raddr, rport);
  if (local === null || remote === null) return malformed('bad address or port');
  const dir = direction(dirText);
  if (dir === null) return malformed(`bad direction ${String(dirText)}`);
  if (stateText === undefined || !STATES.has(stateText)) return malformed(`bad state ${String(stateText)}`);
  const comm = commText === undefined ? null : unescapeComm(commText);
  if (comm === null) return malformed('bad comm escape');
  const nums = [netnsText, pidText, ticksText, flagsText, openText, closeText, sentText, recvText, retransText, rttText, inodeText]
    .map(uint);
  const [netns, pid, startTicks, flags, openNs, closeNs, bytesSent, bytesReceived, retransmits, rttUs, inode] = nums;
  if (netns === undefined || netns === null || pid === undefined || pid === null || startTicks === undefined || startTicks === null
    || flags === undefined || flags === null || openNs === undefined || openNs === null || closeNs === undefined || closeNs === null
    || bytesSent === undefined || bytesSent === null || bytesReceived === undefined || bytesReceived === null
    || retransmits === undefined || retransmits === null || rttUs === undefined || rttUs === null
    || inode === undefined || inode === null) {
    return malformed('bad number');
  }
  const closed = kind === 'C';
  if (closed && stateText !== 'CLOSE') return malformed('closed record not in state CLOSE');
  return {
    kind: 'conn', closed, cookie, protocol: proto, family: fam === '4' ? 4 : 6, netns, local, remote,
    pid, startTicks, comm: pid === 0 ? '' : comm, direction: dir, state: stateText as SocketState,
    established: (flags & FLAG_ESTABLISHED) !== 0, preexisting: (flags & FLAG_PREEXISTING) !== 0,
    openNs, closeNs, bytesSent, bytesReceived, retransmits, rttUs, inode,
  };
}

function parseHeader(f: readonly string[]): HeaderRecord | MalformedLine {
  if (f.length < 5 || f[1] !== 'conntrail-bpf') return malformed('bad header');
  const version = uint(f[2]);
  const bootToEpochMs = nsToMs(f[3]);
  if (version === null || bootToEpochMs === null) return malformed('bad header numbers');
  return { kind: 'header', version, bootToEpochMs, features: (f[4] ?? '').split(',').filter((s) => s.length > 0) };
}

function parseStats(f: readonly string[]): StatsRecord | MalformedLine {
  if (f.length !== 5) return malformed('bad stats record');
  const [ringbufFull, tcpTableFull, udpTableFull, udpNoPeer] = f.slice(1).map(uint);
  if (ringbufFull == null || tcpTableFull == null || udpTableFull == null || udpNoPeer == null) return malformed('bad stats numbers');
  return { kind: 'stats', ringbufFull, tcpTableFull, udpTableFull, udpNoPeer };
}

function parseEnd(f: readonly string[]): EndRecord | MalformedLine {
  if (f.length !== 4 || f[1] === undefined || f[1].length === 0) return malformed('bad end record');
  const nowMs = nsToMs(f[2]);
  const bootToEpochMs = nsToMs(f[3]);
  const nowNs = uint(f[2]);
  if (nowMs === null || bootToEpochMs === null || nowNs === null) return malformed('bad end numbers');
  return { kind: 'end', token: f[1], nowNs, bootToEpochMs };
}

/** Parses one line (without its newline). */
export function parseLine(line: string): EbpfRecord {
  const f = line.split('\t');
  switch (f[0]) {
    case 'C':
    case 'U':
      return parseConn(f);
    case 'S':
      return parseStats(f);
    case 'E':
      return parseEnd(f);
    case 'H':
      return parseHeader(f);
    default:
      return malformed(`unknown record kind ${JSON.stringify(f[0]?.slice(0, 8) ?? '')}`);
  }
}
