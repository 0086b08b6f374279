/**
 * Plain types shared by every layer: what a connection, a process, a NAT translation and a snapshot are.
 * No I/O here; the collector produces these, the store persists them, the API reads them back.
 */

export type Protocol = 'tcp' | 'udp';
export type Family = 4 | 6;
/** outgoing: this host connected (client side); incoming: this host accepted (server side). */
export type Direction = 'outgoing' | 'incoming' | 'unknown';
export type SourceName = 'ebpf' | 'procfs' | 'conntrack';

/** TCP states as the kernel names them in /proc/net/tcp (UDP sockets use ESTABLISHED/CLOSE too). */
export const TCP_STATES = [
  'ESTABLISHED', 'SYN_SENT', 'SYN_RECV', 'FIN_WAIT1', 'FIN_WAIT2', 'TIME_WAIT',
  'CLOSE', 'CLOSE_WAIT', 'LAST_ACK', 'LISTEN', 'CLOSING', 'NEW_SYN_RECV',
] as const;
export type SocketState = (typeof TCP_STATES)[number];

export interface Endpoint {
  /** Textual IP address, IPv6 in canonical compressed form, IPv4-mapped IPv6 unwrapped to IPv4. */
  readonly address: string;
  readonly port: number;
}

/**
 * A process is identified by (host, pid, startedAtMs): pid reuse is harmless because a reused pid
 * has another start time. startedAtMs is boot time + /proc/PID/stat starttime, in epoch ms.
 */
export interface ProcessKey {
  readonly pid: number;
  readonly startedAtMs: number;
}

export interface ProcessInfo extends ProcessKey {
  readonly name: string;
  readonly exe: string | null;
  readonly cmdline: string;
  readonly uid: number | null;
  readonly cgroup: string | null;
  readonly containerId: string | null;
}

/** One socket as one source saw it at one moment. Counters are cumulative for the socket's life. */
export interface SocketObservation {
  readonly source: SourceName;
  readonly netns: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly state: SocketState;
  readonly inode: number | null;
  readonly process: ProcessKey | null;
  readonly direction: Direction;
  readonly openedAtMs: number | null;
  readonly closedAtMs: number | null;
  readonly bytesSent: number | null;
  readonly bytesReceived: number | null;
  readonly retransmits: number | null;
  readonly rttUs: number | null;
}

/** One row of the connections hypertable: one connection (or elided group) on one host in one interval. */
export interface ConnectionRow {
  readonly netns: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly direction: Direction;
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly process: ProcessKey | null;
  readonly state: SocketState;
  readonly openedAtMs: number | null;
  readonly closedAtMs: number | null;
  /** Deltas within the interval, where the source knows them (0 otherwise). */
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly retransmits: number;
  readonly rttUs: number | null;
  readonly source: SourceName;
  /** How many connections this row stands for (elision groups many into one). */
  readonly count: number;
  /** How many of those were first seen in this interval (so sums over intervals count each once). */
  readonly newCount: number;
}

export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  readonly srcPort: number;
  readonly dstPort: number;
}

export type NatKind = 'DNAT' | 'SNAT' | 'BOTH';

/** A conntrack entry whose reply tuple is not the mirror of its original tuple. */
export interface NatTranslation {
  readonly netns: number;
  readonly protocol: Protocol;
  readonly conntrackId: number | null;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
  readonly kind: NatKind;
  readonly firstSeenMs: number;
  readonly lastSeenMs: number;
  /**
   * 1 in the first snapshot that reports this conntrack entry, 0 in the later ones: summed over a window it
   * counts distinct entries, as aggregates can (they cannot count distinct ids). Absent when unknown.
   */
  readonly newCount?: 0 | 1;
}

export interface ListeningSocket {
  readonly netns: number;
  readonly protocol: Protocol;
  readonly family: Family;
  readonly address: string;
  readonly port: number;
  readonly process: ProcessKey | null;
}
