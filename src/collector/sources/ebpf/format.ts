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

/** A DNS answer a process received (`D`, only with --dns); the payload is parsed by the DNS source. */
export interface DnsRecord {
  readonly kind: 'dns';
  /** CLOCK_BOOTTIME ns. */
  readonly tsNs: number;
  readonly pid: number;
  readonly startTicks: number;
  readonly comm: string;
  readonly netns: number;
  readonly server: string;
  readonly serverPort: number;
  /** Bytes the syscall returned; `payload` holds at most the first 512. */
  readonly length: number;
  readonly payload: Uint8Array;
}

/** DNS answers not copied since the helper started (`DS`, only with --dns). */
export interface DnsStatsRecord {
  readonly kind: 'dns-stats';
  readonly dropped: number;
}

export interface MalformedLine {
  readonly kind: 'malformed';
  readonly reason: string;
}

export type EbpfRecord = HeaderRecord | ConnRecord | StatsRecord | EndRecord | DnsRecord | DnsStatsRecord | MalformedLine;

const CONN_FIELDS = 22;
const FLAG_ESTABLISHED = 1;
const FLAG_PREEXISTING = 2;
const STATES: ReadonlySet<string> = new Set(TCP_STATES);

function malformed(reason: string): MalformedLine {
  return { kind: 'malformed', reason };
}

/**
 * A non-negative decimal integer, or null. Above 2^53 (ns since boot after 104 days) the double rounds
 * to a few ns, which no consumer of ms times notices. A loop, not a regex: it runs 11 times a line.
 */
function uint(text: string | undefined): number | null {
  if (text === undefined || text.length === 0 || text.length > 20) return null;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  return value;
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

function direction(text: string): Direction | null {
  if (text === 'connect') return 'outgoing';
  if (text === 'accept') return 'incoming';
  if (text === '-') return 'unknown';
  return null;
}

/** Digits of line[start, end) as a number, or null (see `uint`). Reads in place: no substring. */
function uintAt(line: string, start: number, end: number): number | null {
  if (end <= start || end - start > 20) return null;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return null;
    value = value * 10 + d;
  }
  return value;
}

const ADDRESS_CACHE_MAX = 4096;

/**
 * A parser for one stream of lines. Same results as `parseLine`, but it finds field boundaries in a
 * reused buffer and reads numbers in place, and remembers canonical address texts (a host talks to few
 * addresses): a connection storm is 10,000 lines a second and the garbage they make is most of the cost.
 */
export class LineParser {
  private readonly starts = new Int32Array(CONN_FIELDS + 1);
  private readonly addresses = new Map<string, string | null>();

  parse(line: string): EbpfRecord {
    const kind = line.charCodeAt(0);
    if ((kind === 0x43 /* C */ || kind === 0x55 /* U */) && line.charCodeAt(1) === 9) return this.parseConn(line, kind === 0x43);
    if (kind === 0x44 /* D */ && line.charCodeAt(1) === 9) return parseDns(line.split('\t'), (text) => this.canonical(text));
    return parseOther(line);
  }

  private canonical(text: string): string | null {
    let c = this.addresses.get(text);
    if (c === undefined) {
      c = canonicalAddressText(text)?.address ?? null;
      if (this.addresses.size >= ADDRESS_CACHE_MAX) this.addresses.clear();
      this.addresses.set(text, c);
    }
    return c;
  }

  private parseConn(line: string, closed: boolean): ConnRecord | MalformedLine {
    const st = this.starts;
    let n = 0;
    st[n++] = 0;
    for (let i = line.indexOf('\t'); i >= 0; i = line.indexOf('\t', i + 1)) {
      if (n >= CONN_FIELDS) return malformed(`expected ${CONN_FIELDS} fields, got more`);
      st[n++] = i + 1;
    }
    if (n !== CONN_FIELDS) return malformed(`expected ${CONN_FIELDS} fields, got ${n}`);
    st[CONN_FIELDS] = line.length + 1;
    const field = (k: number): string => line.slice(st[k] ?? 0, (st[k + 1] ?? 0) - 1);
    const num = (k: number): number | null => uintAt(line, st[k] ?? 0, (st[k + 1] ?? 0) - 1);

    const cookie = field(1);
    if (uintAt(cookie, 0, cookie.length) === null) return malformed('bad cookie');
    const proto = field(2);
    if (proto !== 'tcp' && proto !== 'udp') return malformed(`bad protocol ${proto}`);
    const fam = num(3);
    if (fam !== 4 && fam !== 6) return malformed(`bad family ${field(3)}`);
    const laddr = this.canonical(field(5));
    const raddr = this.canonical(field(7));
    const lport = num(6);
    const rport = num(8);
    if (laddr === null || raddr === null || lport === null || rport === null || lport > 65535 || rport > 65535) {
      return malformed('bad address or port');
    }
    const dir = direction(field(12));
    if (dir === null) return malformed(`bad direction ${field(12)}`);
    const state = field(13);
    if (!STATES.has(state)) return malformed(`bad state ${state}`);
    if (closed && state !== 'CLOSE') return malformed('closed record not in state CLOSE');
    const comm = unescapeComm(field(11));
    if (comm === null) return malformed('bad comm escape');
    const netns = num(4);
    const pid = num(9);
    const startTicks = num(10);
    const flags = num(14);
    const openNs = num(15);
    const closeNs = num(16);
    const bytesSent = num(17);
    const bytesReceived = num(18);
    const retransmits = num(19);
    const rttUs = num(20);
    const inode = num(21);
    if (netns === null || pid === null || startTicks === null || flags === null || openNs === null || closeNs === null
      || bytesSent === null || bytesReceived === null || retransmits === null || rttUs === null || inode === null) {
      return malformed('bad number');
    }
    return {
      kind: 'conn', closed, cookie, protocol: proto, family: fam, netns,
      local: { address: laddr, port: lport }, remote: { address: raddr, port: rport },
      pid, startTicks, comm: pid === 0 ? '' : comm, direction: dir, state: state as SocketState,
      established: (flags & FLAG_ESTABLISHED) !== 0, preexisting: (flags & FLAG_PREEXISTING) !== 0,
      openNs, closeNs, bytesSent, bytesReceived, retransmits, rttUs, inode,
    };
  }
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

function parseDns(f: readonly string[], canonical: (text: string) => string | null): DnsRecord | MalformedLine {
  if (f.length !== 10) return malformed('bad dns record');
  const tsNs = uint(f[1]);
  const pid = uint(f[2]);
  const startTicks = uint(f[3]);
  const comm = unescapeComm(f[4] ?? '');
  const netns = uint(f[5]);
  const server = canonical(f[6] ?? '');
  const serverPort = uint(f[7]);
  const length = uint(f[8]);
  const hex = f[9] ?? '';
  if (tsNs === null || pid === null || startTicks === null || netns === null || serverPort === null || length === null) return malformed('bad dns numbers');
  if (comm === null || server === null) return malformed('bad dns comm or server');
  if (hex !== '-' && (hex.length > 1024 || hex.length % 2 !== 0)) return malformed('bad dns payload');
  const payload: Uint8Array = hex === '-' ? new Uint8Array(0) : Buffer.from(hex, 'hex');
  // Buffer.from stops at the first byte that is not hex: a short result is a bad line.
  if (payload.length * 2 !== (hex === '-' ? 0 : hex.length)) return malformed('bad dns payload');
  return { kind: 'dns', tsNs, pid, startTicks, comm, netns, server, serverPort, length, payload };
}

function parseDnsStats(f: readonly string[]): DnsStatsRecord | MalformedLine {
  const dropped = f.length === 2 ? uint(f[1]) : null;
  return dropped === null ? malformed('bad dns stats record') : { kind: 'dns-stats', dropped };
}

/** Records other than connections: rare, so plainly split. */
function parseOther(line: string): EbpfRecord {
  const f = line.split('\t');
  switch (f[0]) {
    case 'C':
    case 'U':
      return malformed(`expected ${CONN_FIELDS} fields, got ${f.length}`);
    case 'S':
      return parseStats(f);
    case 'E':
      return parseEnd(f);
    case 'H':
      return parseHeader(f);
    case 'D':
      return parseDns(f, (text) => canonicalAddressText(text)?.address ?? null);
    case 'DS':
      return parseDnsStats(f);
    default:
      return malformed(`unknown record kind ${JSON.stringify(f[0]?.slice(0, 8) ?? '')}`);
  }
}

/** Parses one line (without its newline). */
export function parseLine(line: string): EbpfRecord {
  return new LineParser().parse(line);
}
