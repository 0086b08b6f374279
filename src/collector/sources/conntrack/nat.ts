import type { ConntrackTuple, NatKind, NatTranslation, SocketObservation, SocketState } from '../../../domain/connection.js';
import type { ConntrackTcpState, Flow } from './types.js';

/**
 * A conntrack entry without NAT has a reply tuple that mirrors the original (reply.src = original.dst,
 * reply.dst = original.src, ports likewise). Destination NAT changes where the reply comes from;
 * source NAT changes where it goes to.
 */
export function natKindOf(original: ConntrackTuple, reply: ConntrackTuple): NatKind | null {
  const dnat = reply.src !== original.dst || reply.srcPort !== original.dstPort;
  const snat = reply.dst !== original.src || reply.dstPort !== original.srcPort;
  if (dnat && snat) return 'BOTH';
  if (dnat) return 'DNAT';
  if (snat) return 'SNAT';
  return null;
}

/** The flow as a domain NatTranslation, or null when it was not translated. */
export function flowToNat(flow: Flow, netns: number, firstSeenMs: number, lastSeenMs: number = firstSeenMs, newCount?: 0 | 1): NatTranslation | null {
  if (flow.kind === null) return null;
  return {
    ...(newCount === undefined ? {} : { newCount }),
    netns,
    protocol: flow.protocol,
    conntrackId: flow.id,
    original: flow.original,
    reply: flow.reply,
    kind: flow.kind,
    firstSeenMs,
    lastSeenMs,
  };
}

const SOCKET_STATE: Readonly<Record<ConntrackTcpState, SocketState>> = {
  NONE: 'SYN_SENT',
  SYN_SENT: 'SYN_SENT',
  SYN_SENT2: 'SYN_SENT',
  SYN_RECV: 'SYN_RECV',
  ESTABLISHED: 'ESTABLISHED',
  FIN_WAIT: 'FIN_WAIT1',
  CLOSE_WAIT: 'CLOSE_WAIT',
  LAST_ACK: 'LAST_ACK',
  TIME_WAIT: 'TIME_WAIT',
  CLOSE: 'CLOSE',
  LISTEN: 'LISTEN',
};

/**
 * The flow as a domain observation of source 'conntrack'. When the original source is this host's (or it is
 * not said), oriented by the ORIGINAL tuple (local = original source, bytesSent = original-direction bytes),
 * direction 'unknown' as the collector's contract expects (the direction rules read original tuples). When
 * only the reply's source is this host's (it accepted the flow behind a DNAT or REDIRECT), oriented as this
 * host's socket is: the reply tuple, direction 'incoming'; a row never claims the peer's address as its own.
 * A closed flow is CLOSE with closedAtMs set.
 */
export function flowToObservation(
  flow: Flow, netns: number, times: { readonly openedAtMs?: number | null; readonly closedAtMs?: number | null } = {},
  originalIsLocal = true,
): SocketObservation {
  const closedAtMs = times.closedAtMs ?? null;
  let state: SocketState;
  if (closedAtMs !== null) state = 'CLOSE';
  else if (flow.protocol === 'udp') state = 'ESTABLISHED';
  else state = flow.state === null ? 'ESTABLISHED' : SOCKET_STATE[flow.state];
  if (!originalIsLocal) {
    return {
      source: 'conntrack', netns, protocol: flow.protocol, family: flow.family,
      local: { address: flow.reply.src, port: flow.reply.srcPort },
      remote: { address: flow.reply.dst, port: flow.reply.dstPort },
      state, inode: null, process: null, direction: 'incoming',
      openedAtMs: times.openedAtMs ?? null, closedAtMs,
      bytesSent: flow.replyCounters?.bytes ?? null,
      bytesReceived: flow.originalCounters?.bytes ?? null,
      retransmits: null, rttUs: null,
    };
  }
  return {
    source: 'conntrack',
    netns,
    protocol: flow.protocol,
    family: flow.family,
    local: { address: flow.original.src, port: flow.original.srcPort },
    remote: { address: flow.original.dst, port: flow.original.dstPort },
    state,
    inode: null,
    process: null,
    direction: 'unknown',
    openedAtMs: times.openedAtMs ?? null,
    closedAtMs,
    bytesSent: flow.originalCounters?.bytes ?? null,
    bytesReceived: flow.replyCounters?.bytes ?? null,
    retransmits: null,
    rttUs: null,
  };
}
