import type { Endpoint, ProcessInfo, ProcessKey, Protocol, SocketObservation } from '../../../domain/connection.js';
import { DEFAULT_CLK_TCK, startedAtMs } from '../process/parse.js';
import { flat } from '../../socket-key.js';
import type { ConnRecord } from './format.js';

/**
 * Turning the helper's records into domain values. Pure: the clocks come in as a parameter.
 * Times: the helper counts CLOCK_BOOTTIME ns; it also tells the realtime offset, which is exact, while
 * /proc/stat's btime is rounded to the second. Process start times deliberately use btime, because
 * the /proc scan keys processes with it and both sources must produce the same ProcessKey.
 */

export interface EbpfClock {
  /** /proc/stat btime, in epoch ms. */
  readonly bootTimeMs: number;
  /** CLOCK_REALTIME - CLOCK_BOOTTIME in ms, from the helper; null to use bootTimeMs. */
  readonly bootToEpochMs: number | null;
  readonly clkTck?: number;
}

function nsToEpochMs(ns: number, clock: EbpfClock): number | null {
  if (ns <= 0) return null;
  return (clock.bootToEpochMs ?? clock.bootTimeMs) + Math.floor(ns / 1e6);
}

export function recordProcessKey(rec: ConnRecord, clock: EbpfClock): ProcessKey | null {
  if (rec.pid === 0) return null;
  return { pid: rec.pid, startedAtMs: startedAtMs(clock.bootTimeMs, rec.startTicks, clock.clkTck ?? DEFAULT_CLK_TCK) };
}

/** What the helper knows about the owning process: pid, start and name; the rest is left to /proc. */
export function recordProcess(rec: ConnRecord, clock: EbpfClock): ProcessInfo | null {
  const key = recordProcessKey(rec, clock);
  if (key === null) return null;
  return { ...key, name: rec.comm, exe: null, cmdline: '', uid: null, cgroup: null, containerId: null };
}

export function recordToObservation(rec: ConnRecord, clock: EbpfClock, fallbackProcess: ProcessKey | null = null): SocketObservation {
  const tcp = rec.protocol === 'tcp';
  return {
    source: 'ebpf',
    netns: rec.netns,
    protocol: rec.protocol,
    family: rec.family,
    local: rec.local,
    remote: rec.remote,
    state: rec.closed ? 'CLOSE' : rec.state,
    inode: rec.inode === 0 ? null : rec.inode,
    process: recordProcessKey(rec, clock) ?? fallbackProcess,
    direction: rec.direction,
    openedAtMs: nsToEpochMs(rec.openNs, clock),
    closedAtMs: rec.closed ? nsToEpochMs(rec.closeNs, clock) : null,
    bytesSent: rec.bytesSent,
    bytesReceived: rec.bytesReceived,
    retransmits: tcp ? rec.retransmits : null,
    // srtt is 0 until the first RTT sample.
    rttUs: tcp && rec.rttUs > 0 ? rec.rttUs : null,
  };
}

/**
 * Identity of one connection (TCP: its socket cookie) or flow (UDP: socket x local address x peer x
 * opening: a socket bound to 0.0.0.0 has one flow per local address its datagrams used) across the
 * helper's records. A TCP socket reused after a failed connect keeps its cookie, but its close record
 * comes before the next attempt's records, so the key is never ambiguous at any moment.
 */
export function recordKey(rec: ConnRecord): string {
  return rec.protocol === 'tcp' ? rec.cookie : `udp/${rec.cookie}/${rec.openNs}/${rec.local.address}/${rec.remote.address}/${rec.remote.port}`;
}

/** The socket tuple, to match helper records with observations from a /proc scan. */
export function tupleKey(netns: number, protocol: Protocol, local: Endpoint, remote: Endpoint): string {
  // Flat: the seed tables keep one per pre-existing connection (a concatenation tree is ~300 bytes more).
  return flat(`${netns}|${protocol}|${local.address}|${local.port}|${remote.address}|${remote.port}`);
}
