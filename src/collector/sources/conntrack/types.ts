import type { ConntrackTuple, Family, NatKind, Protocol } from '../../../domain/connection.js';

/** Shapes of what the conntrack source reads: flows (table entries) and events (changes to them). */

export type ConntrackEventType = 'NEW' | 'UPDATE' | 'DESTROY';

/** TCP states as conntrack names them (not the socket states of /proc/net/tcp). */
export const CONNTRACK_TCP_STATES = [
  'NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT',
  'CLOSE', 'SYN_SENT2', 'LISTEN',
] as const;
export type ConntrackTcpState = (typeof CONNTRACK_TCP_STATES)[number];

/** Per-direction counters, present only when nf_conntrack_acct is on. */
export interface FlowCounters {
  readonly packets: number;
  readonly bytes: number;
}

/** One conntrack entry: both tuples, whether or not it was translated. */
export interface Flow {
  readonly family: Family;
  readonly protocol: Protocol;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
  /** TCP only; null for UDP and for events that carry no state (DESTROY). */
  readonly state: ConntrackTcpState | null;
  /** Conntrack's id= (absent from /proc/net/nf_conntrack). */
  readonly id: number | null;
  readonly mark: number | null;
  readonly zone: number | null;
  readonly assured: boolean;
  readonly unreplied: boolean;
  readonly timeoutSec: number | null;
  /** The translation the tuples reveal, null when reply is the mirror of original. */
  readonly kind: NatKind | null;
  readonly originalCounters: FlowCounters | null;
  readonly replyCounters: FlowCounters | null;
}

export interface ConntrackEvent {
  readonly type: ConntrackEventType;
  /** Epoch ms of the event as conntrack -o timestamp printed it, null without that option. */
  readonly timestampMs: number | null;
  readonly flow: Flow;
}

/** What one line turned out to be. */
export type ConntrackLine =
  | { readonly kind: 'flow'; readonly flow: Flow; readonly event: ConntrackEventType | null; readonly timestampMs: number | null }
  /** A well-formed entry of a protocol the collector does not track (icmp, sctp, gre, ...). */
  | { readonly kind: 'other-protocol'; readonly protocol: string }
  | { readonly kind: 'malformed'; readonly reason: string }
  | { readonly kind: 'empty' };

export interface ConntrackParse {
  readonly flows: Flow[];
  /** Lines that carried an event prefix ([NEW], [UPDATE], [DESTROY]). */
  readonly events: ConntrackEvent[];
  readonly malformed: number;
  readonly otherProtocol: number;
}
