import { isIP } from 'node:net';
import { TCP_STATES, type ConnectionRow, type ListeningSocket, type NatTranslation, type ProcessInfo, type ProcessKey } from './connection.js';
import type { Snapshot } from './snapshot.js';

/**
 * Row validation before anything reaches the database: a bad row is named with its reason and left out,
 * the rest of the batch goes on. Pure functions; `null` means valid.
 */
const STATES = new Set<string>(TCP_STATES);
const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

function port(value: unknown, what: string): string | null {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535 ? null : `${what} must be an integer 0..65535 (got ${String(value)})`;
}

function address(value: unknown, what: string): string | null {
  return typeof value === 'string' && isIP(value) !== 0 ? null : `${what} is not an IP address (got ${JSON.stringify(value)})`;
}

function counter(value: unknown, what: string): string | null {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= MAX_COUNTER ? null : `${what} must be a non-negative integer (got ${String(value)})`;
}

function optionalTime(value: unknown, what: string): string | null {
  return value === null || (typeof value === 'number' && Number.isFinite(value)) ? null : `${what} must be a time in ms or null (got ${String(value)})`;
}

function processKey(value: ProcessKey | null): string | null {
  if (value === null) return null;
  if (!Number.isInteger(value.pid) || value.pid <= 0) return `process pid must be a positive integer (got ${String(value.pid)})`;
  return Number.isFinite(value.startedAtMs) ? null : `process start time must be finite (got ${String(value.startedAtMs)})`;
}

function protocol(value: unknown): string | null {
  return value === 'tcp' || value === 'udp' ? null : `protocol must be tcp or udp (got ${JSON.stringify(value)})`;
}

function netns(value: unknown): string | null {
  return Number.isInteger(value) && (value as number) >= 0 ? null : `netns must be a non-negative integer (got ${String(value)})`;
}

function first(...checks: Array<string | null>): string | null {
  for (const c of checks) if (c !== null) return c;
  return null;
}

export function validateConnection(row: ConnectionRow): string | null {
  return first(
    netns(row.netns),
    protocol(row.protocol),
    row.family === 4 || row.family === 6 ? null : `family must be 4 or 6 (got ${String(row.family)})`,
    ['outgoing', 'incoming', 'unknown'].includes(row.direction) ? null : `direction is invalid (got ${JSON.stringify(row.direction)})`,
    address(row.localAddress, 'local address'),
    port(row.localPort, 'local port'),
    address(row.remoteAddress, 'remote address'),
    port(row.remotePort, 'remote port'),
    processKey(row.process),
    STATES.has(row.state) ? null : `state is not a socket state (got ${JSON.stringify(row.state)})`,
    optionalTime(row.openedAtMs, 'opened time'),
    optionalTime(row.closedAtMs, 'closed time'),
    counter(row.bytesSent, 'bytes sent'),
    counter(row.bytesReceived, 'bytes received'),
    counter(row.retransmits, 'retransmits'),
    row.rttUs === null || counter(row.rttUs, 'rtt') === null ? null : `rtt must be a non-negative integer or null (got ${String(row.rttUs)})`,
    ['ebpf', 'procfs', 'conntrack'].includes(row.source) ? null : `source is invalid (got ${JSON.stringify(row.source)})`,
    Number.isInteger(row.count) && row.count >= 1 ? null : `count must be an integer >= 1 (got ${String(row.count)})`,
    Number.isInteger(row.newCount) && row.newCount >= 0 && row.newCount <= row.count ? null : `new count must be an integer in 0..count (got ${String(row.newCount)})`,
  );
}

export function validateNat(row: NatTranslation): string | null {
  return first(
    netns(row.netns),
    protocol(row.protocol),
    row.conntrackId === null || counter(row.conntrackId, 'conntrack id') === null ? null : 'conntrack id must be a non-negative integer or null',
    address(row.original.src, 'original source'), address(row.original.dst, 'original destination'),
    port(row.original.srcPort, 'original source port'), port(row.original.dstPort, 'original destination port'),
    address(row.reply.src, 'reply source'), address(row.reply.dst, 'reply destination'),
    port(row.reply.srcPort, 'reply source port'), port(row.reply.dstPort, 'reply destination port'),
    ['DNAT', 'SNAT', 'BOTH'].includes(row.kind) ? null : `kind is invalid (got ${JSON.stringify(row.kind)})`,
    optionalTime(row.firstSeenMs, 'first seen') ?? (row.firstSeenMs === null ? 'first seen is required' : null),
    optionalTime(row.lastSeenMs, 'last seen') ?? (row.lastSeenMs === null ? 'last seen is required' : null),
  );
}

export function validateListening(row: ListeningSocket): string | null {
  return first(netns(row.netns), protocol(row.protocol), row.family === 4 || row.family === 6 ? null : 'family must be 4 or 6',
    address(row.address, 'address'), port(row.port, 'port'), processKey(row.process));
}

export function validateProcess(row: ProcessInfo): string | null {
  return first(processKey(row), typeof row.name === 'string' ? null : 'process name must be a string',
    typeof row.cmdline === 'string' ? null : 'command line must be a string',
    row.uid === null || (Number.isInteger(row.uid) && row.uid >= 0) ? null : 'uid must be a non-negative integer or null');
}

/** Problems that make the whole snapshot unusable (its identity is broken). */
export function validateSnapshotIdentity(s: Pick<Snapshot, 'hostId' | 'timeMs' | 'intervalMs'>): string | null {
  if (typeof s.hostId !== 'string' || s.hostId.length === 0 || s.hostId.length > 253) return `host id must be 1..253 characters (got ${JSON.stringify(s.hostId)})`;
  if (!Number.isFinite(s.timeMs)) return `snapshot time must be finite (got ${String(s.timeMs)})`;
  if (!(Number.isFinite(s.intervalMs) && s.intervalMs > 0)) return `interval must be positive (got ${String(s.intervalMs)})`;
  return null;
}
